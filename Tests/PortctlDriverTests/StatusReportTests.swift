import Foundation
import PortPolicy
import PortctlDriver
import Testing

/// The status report (``ChangeControl/status(now:)``) refuses before it reads anything. (The fake
/// kernel has no JSON listing of a table: the report itself is proven by the kernel tests, and
/// `portctl status` before and after it moved into the library printed the same bytes.)
@Suite(.serialized)
struct StatusReportTests {
    let fake = FakeNftables()
    let scratch: Scratch

    init() throws {
        scratch = try Scratch()
    }

    @Test func theReportNeedsAPolicyFileAndThePrivilege() throws {
        let control = ChangeControl(paths: scratch.paths, firewall: Firewall(backend: fake), environment: [:], privileged: true)
        #expect {
            _ = try control.status()
        } throws: { error in
            (error as? ChangeError).map { if case .noPolicyFile = $0 { true } else { false } } ?? false
        }
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        let unprivileged = ChangeControl(paths: scratch.paths, firewall: Firewall(backend: fake), environment: [:], privileged: false)
        #expect {
            _ = try unprivileged.status()
        } throws: { error in
            (error as? ChangeError).map { if case .needsPrivilege = $0 { true } else { false } } ?? false
        }
    }
}
