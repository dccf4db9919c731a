import Foundation
import PortPolicy
import PortctlDriver
import Testing

/// `portctl apply --boot` (``ChangeControl/applyPolicyFileAtBoot()``) against the fake kernel: a
/// policy file that cannot be applied at boot leaves the last applied policy (or the first-run
/// policy) in force, and still fails. A "boot" is the fake kernel losing portctl's table.
@Suite(.serialized)
struct BootApplyTests {
    let fake = FakeNftables()
    let scratch: Scratch
    static let broken = "version: 1\nrules:\n  - id: smtp-alt\n    ports: 70000\n"

    init() throws {
        scratch = try Scratch()
    }

    func control(privileged: Bool = true, watchdog: [String]? = ChangeControlTests.dyingWatchdog) -> ChangeControl {
        ChangeControl(paths: scratch.paths, firewall: Firewall(backend: fake), environment: [:],
                      author: ChangeAuthor(user: "tester", sshClient: nil, arguments: ["boot"]),
                      watchdogCommand: watchdog, privileged: privileged)
    }

    func kernelSources() throws -> [String] {
        try kernel()?.set(Renderer.setName("smtp-alt", .ipv4))?.elements.map(\.description) ?? []
    }

    func breakTheFile() throws {
        try Self.broken.write(toFile: scratch.paths.policyFile, atomically: true, encoding: .utf8)
    }

    func reboot() throws {
        try Firewall(backend: fake).remove(table: PortPolicy.defaultTable)
        #expect(try fake.readTable(PortPolicy.defaultTable) == nil)
    }

    func kernel() throws -> Table? { try fake.readTable(PortPolicy.defaultTable) }

    func bootError(_ control: ChangeControl) throws -> BootApplyError {
        do {
            _ = try control.applyPolicyFileAtBoot()
        } catch let error as BootApplyError {
            return error
        }
        throw SystemError("applyPolicyFileAtBoot did not fail")
    }

    @Test func aGoodFileIsAppliedAsApplyDoes() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        try reboot()
        let result = try control.applyPolicyFileAtBoot()
        #expect(result.applied)
        #expect(try kernel()?.set(Renderer.setName("smtp-alt", .ipv4))?.elements.map(\.description) == ["198.51.100.0/24"])
    }

    @Test func aBrokenFileAtBootPutsTheLastAppliedPolicyInForceAndFails() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        let applied = try #require(try kernel())
        try reboot()
        try Self.broken.write(toFile: scratch.paths.policyFile, atomically: true, encoding: .utf8)

        let error = try bootError(control)
        #expect(error.fallback == .lastApplied(sequence: 1, time: try control.history()[0].time))
        #expect(error.category == .invalidData, "exit 65, as apply with this file")
        #expect(error.description.contains("invalid port \"70000\"") && error.description.contains("in force instead is the policy of change #1"),
                "\(error)")
        #expect(try kernel() == applied)
        #expect(scratch.policyText == Self.broken, "the file stays as the admin left it")
        #expect(try control.history().count == 1, "the fallback is not a change")
    }

    @Test func aDisableIsPassedOver() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        let applied = try #require(try kernel())
        // `systemctl stop portctl` (the unit's ExecStop) or `portctl disable`: recorded as a change.
        _ = try control.disable()
        #expect(try control.history().last?.tableRemovedAfter == true)
        try Self.broken.write(toFile: scratch.paths.policyFile, atomically: true, encoding: .utf8)
        let error = try bootError(control)
        #expect(error.fallback == .lastApplied(sequence: 1, time: try control.history()[0].time), "\(error)")
        #expect(try kernel() == applied)
    }

    @Test func withoutAnAppliedChangeTheFirstRunPolicyIsInForce() throws {
        let control = control()
        try Self.broken.write(toFile: scratch.paths.policyFile, atomically: true, encoding: .utf8)
        let error = try bootError(control)
        #expect(error.fallback == .firstRun(sshPorts: "22/tcp", because: "the state folder records no policy applied"), "\(error)")
        #expect(error.description.contains("in force instead is the first-run policy (inbound drop, SSH 22/tcp allowed from anywhere)"), "\(error)")
        #expect(Planner.plan(PortPolicy.firstRun(), live: try kernel()).isEmpty, "inbound drop, SSH allowed")
        #expect(try control.history().isEmpty)
    }

    @Test func withoutPrivilegeNothingIsTried() throws {
        try Self.broken.write(toFile: scratch.paths.policyFile, atomically: true, encoding: .utf8)
        #expect(throws: ChangeError.self) { try control(privileged: false).applyPolicyFileAtBoot() }
        #expect(try kernel() == nil)
    }

    // From the hostile review of apply --boot: what "the last applied" is.

    @Test func aRollbackDecidesWhatIsInForceNotTheChangeItUndid() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        _ = try control.disable()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays("203.0.113.0/24"))] }
        // Back to #2's state: table removed, the file #1's.
        _ = try control.rollBack()
        #expect(try control.history().last?.tableRemovedAfter == true)
        try breakTheFile()
        let error = try bootError(control)
        #expect(error.fallback == .lastApplied(sequence: 4, time: try control.history()[3].time), "\(error)")
        #expect(try kernelSources() == ["198.51.100.0/24"], "the rolled-back sources stay out")
    }

    @Test func aChangeRolledBackAtItsDeadlineIsNeverPutBack() throws {
        let control = control()
        let result = try control.change("open", options: ChangeOptions(confirmSeconds: 1)) { try [$0.open(ChangeControlTests.relays())] }
        try control.runWatchdog(token: try #require(result.confirmation).token)
        #expect(try kernel() == nil && scratch.policyText == nil)
        try breakTheFile()
        let error = try bootError(control)
        #expect(error.fallback == .firstRun(sshPorts: "22/tcp", because: "change #2, the last in force, left no policy"), "\(error)")
        #expect(try kernelSources().isEmpty, "the unconfirmed opening is not in force")
    }

    @Test func aChangeStillAwaitingConfirmationIsNeverPutInForce() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        _ = try control.change("open", options: ChangeOptions(confirmSeconds: 300)) { try [$0.open(ChangeControlTests.relays("203.0.113.0/24"))] }
        // The machine went off with the window open and its record damaged: the rollback that
        // would settle it cannot run, so the file (which holds the unconfirmed change) is not
        // applied either.
        try reboot()
        try Data("{\"token\":".utf8).write(to: URL(fileURLWithPath: scratch.paths.stateDirectory + "/pending-confirm.json"))
        let error = try bootError(control)
        #expect(error.fallback == .lastApplied(sequence: 1, time: try control.history()[0].time), "\(error)")
        #expect(try kernelSources() == ["198.51.100.0/24"])
    }

    @Test func bansThatCannotBePutBackAreNamedNotDroppedSilently() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        _ = try control.ban([try IPNetwork(parsing: "203.0.113.9")], expires: nil, comment: nil)
        try reboot()
        try breakTheFile()
        let log = URL(fileURLWithPath: scratch.paths.stateDirectory + "/bans.log")
        let handle = try FileHandle(forWritingTo: log)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"torn".utf8))
        try handle.close()
        let error = try bootError(control)
        #expect(error.fallback == .lastApplied(sequence: 1, time: try control.history()[0].time), "\(error)")
        #expect(error.bansNotRestored != nil && error.description.contains("the bans were not put back"), "\(error)")
        #expect(try kernelSources() == ["198.51.100.0/24"], "the table goes in all the same")
    }

    @Test func aGoodFileWithADamagedHistoryIsPutInForceUnrecorded() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays("203.0.113.0/24"))] }
        try reboot()
        try Data("{\"seq".utf8).write(to: URL(fileURLWithPath: scratch.paths.stateDirectory + "/history/00000001.json"))
        let error = try bootError(control)
        guard case .policyFileUnrecorded? = error.fallback else {
            Issue.record("expected the file's own policy: \(error)")
            return
        }
        #expect(error.description.contains("is in force but was not recorded at boot"), "\(error)")
        #expect(try kernelSources() == ["198.51.100.0/24", "203.0.113.0/24"], "the admin's file, not the first-run policy")

        // With a confirmation window open at power-off, the file may hold the unconfirmed change:
        // then the first-run policy, never the file.
        try reboot()
        try Data("{}".utf8).write(to: URL(fileURLWithPath: scratch.paths.stateDirectory + "/pending-confirm.json"))
        let pending = try bootError(control)
        guard case .firstRun? = pending.fallback else {
            Issue.record("expected the first-run policy: \(pending)")
            return
        }
        #expect(try kernelSources().isEmpty)
    }

    @Test func anImportAfterADisableIsPassedOverToo() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        let applied = try #require(try kernel())
        _ = try control.disable()
        _ = try control.importPolicy(try ImportChangeTests.imported(), command: "import ufw", replace: true)
        try breakTheFile()
        let error = try bootError(control)
        #expect(error.fallback == .lastApplied(sequence: 1, time: try control.history()[0].time), "\(error)")
        #expect(try kernel() == applied)
    }

    @Test func aWindowWhoseTableWasFlushedGetsTheLastChangeInForceBack() throws {
        let control = control(watchdog: ChangeControlTests.livingWatchdog)
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        let result = try control.change("open", options: ChangeOptions(confirmSeconds: 600)) { try [$0.open(ChangeControlTests.relays("203.0.113.0/24"))] }
        let pending = try #require(result.confirmation)
        defer { if let pid = pending.watchdog { kill(pid, SIGTERM) } }
        // With the table in force, a restart changes nothing.
        #expect(throws: ChangeError.self) { try control.applyPolicyFileAtBoot() }
        try reboot()
        let error = try bootError(control)
        #expect(error.fallback == .lastApplied(sequence: 1, time: try control.history()[0].time), "\(error)")
        #expect(try kernelSources() == ["198.51.100.0/24"])
    }
}
