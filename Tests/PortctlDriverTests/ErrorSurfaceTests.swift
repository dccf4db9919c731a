import Foundation
import PortPolicy
import PortctlDriver
import Testing

/// An embedder catches one protocol: every error the pipeline throws says what went wrong in one
/// line (never a raw enum dump) and which kind of failure it is.
@Suite(.serialized)
struct ErrorSurfaceTests {
    let fake = FakeNftables()
    let scratch: Scratch

    init() throws {
        scratch = try Scratch()
    }

    func control(environment: [String: String] = [:], privileged: Bool = true) -> ChangeControl {
        ChangeControl(paths: scratch.paths, firewall: Firewall(backend: fake), environment: environment,
                      author: ChangeAuthor(user: "tester", sshClient: nil, arguments: []), watchdogCommand: nil, privileged: privileged)
    }

    /// The error `body` throws, as an embedder catches it.
    func caught(_ body: () throws -> Void) -> (any PortctlError)? {
        do {
            try body()
            return nil
        } catch let error as any PortctlError {
            return error
        } catch {
            Issue.record("not a PortctlError: \(type(of: error)) \(error)")
            return nil
        }
    }

    @Test func everyFailureHasOneLineAndACategory() throws {
        let open = { (control: ChangeControl, options: ChangeOptions) in
            _ = try control.change("open", options: options) { try [$0.open(ChangeControlTests.relays())] }
        }
        let lockout = caught { try open(control(environment: ["SSH_CONNECTION": "203.0.113.9 50000 198.51.100.1 22"]), ChangeOptions()) }
        // The first run allows SSH: remove it to provoke the guard.
        try open(control(), ChangeOptions())
        let guarded = caught {
            _ = try control(environment: ["SSH_CONNECTION": "203.0.113.9 50000 198.51.100.1 22"]).change("remove") { try [$0.remove(id: "ssh")] }
        }
        let cases: [((any PortctlError)?, ErrorCategory, String)] = [
            (caught { try open(control(privileged: false), ChangeOptions()) }, .needsPrivilege, "needs root or CAP_NET_ADMIN"),
            (caught { try open(control(), ChangeOptions(confirmSeconds: 60)) }, .runtime, "needs a watchdog"),
            (guarded, .runtime, "refusing: this change would block new SSH logins from 203.0.113.9"),
            (caught { _ = try IPNetwork(parsing: "198.51.100.0/33") }, .usage, "198.51.100.0/33"),
            (caught { _ = try control().rollBack(to: 99) }, .usage, "no history entry #99"),
        ]
        #expect(lockout == nil, "the first run allows SSH")
        for (error, category, words) in cases {
            let error = try #require(error)
            #expect(error.category == category && error.description.contains(words), "\(error)")
            #expect(!error.description.contains("\n") && !error.description.contains("PortPolicy."), "\(error)")
        }
        #expect(ErrorCategory.needsPrivilege.exitCode == 77 && ErrorCategory.usage.exitCode == 64
                && ErrorCategory.invalidData.exitCode == 65 && ErrorCategory.runtime.exitCode == 1)
    }

    @Test func theLockWaitsAsLongAsTheCallerSays() throws {
        try FileManager.default.createDirectory(atPath: scratch.paths.stateDirectory, withIntermediateDirectories: true)
        // Another holder of the lock: an open descriptor of this process (flock locks belong to
        // the open file, so this one blocks the control's own).
        let held = open(scratch.paths.stateDirectory + "/lock", O_RDWR | O_CREAT, 0o600)
        defer { close(held) }
        #expect(flock(held, LOCK_EX) == 0)
        var control = control()
        control.lockTimeout = 0.2
        let started = Date()
        let error = caught { _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] } }
        #expect(error?.description.contains("another portctl holds the lock") == true && error?.category == .runtime, "\(String(describing: error))")
        #expect(Date().timeIntervalSince(started) < 30, "it gave up instead of waiting for ever")
        #expect(try fake.readTable(PortPolicy.defaultTable) == nil)
        flock(held, LOCK_UN)
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
    }

    @Test func warningsReadAsSentences() throws {
        let result = try control().change("open") { try [$0.open(PortRequest(spec: PortSpec(ports: [try PortRange(8080)], proto: .tcp)))] }
        let warning = try #require(result.warnings.first)
        #expect(warning.description == "8080/tcp is open to ANY source address, IPv4 and IPv6; use --from to restrict it")
    }
}
