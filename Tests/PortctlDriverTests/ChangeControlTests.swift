import Foundation
import PortPolicy
import PortctlDriver
import Testing

/// A folder of its own per test, holding the policy file and the state folder, removed after.
final class Scratch {
    let root: String
    var paths: PortctlPaths { PortctlPaths(policyFile: root + "/etc/policy.yaml", stateDirectory: root + "/state") }

    init() throws {
        var template = Array("/tmp/portctl-driver-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp failed") }
        root = String(cString: made)
        for folder in [root + "/etc", root + "/state"] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        }
    }

    deinit {
        chmod(root + "/etc", 0o700)
        try? FileManager.default.removeItem(atPath: root)
    }

    var policyText: String? { try? String(contentsOfFile: paths.policyFile, encoding: .utf8) }
}

/// The change pipeline (``ChangeControl``) against the fake kernel: no root, no namespace.
@Suite(.serialized)
struct ChangeControlTests {
    let fake = FakeNftables()
    let scratch: Scratch

    init() throws {
        scratch = try Scratch()
    }

    /// A watchdog that reports its start (on descriptor 3) and lives on, as portctl's does.
    /// (The shell stays, so its arguments keep the token; its sleep ends with it.)
    static let livingWatchdog = ["/bin/sh", "-c", "printf x >&3; trap 'kill $!' TERM; sleep 30 & wait", "watchdog"]
    /// One that reports its start and then dies.
    static let dyingWatchdog = ["/bin/sh", "-c", "printf x >&3", "watchdog"]

    func control(environment: [String: String] = [:], watchdog: [String]? = ChangeControlTests.dyingWatchdog) -> ChangeControl {
        ChangeControl(paths: scratch.paths, firewall: Firewall(backend: fake), environment: environment,
                      author: ChangeAuthor(user: "tester", sshClient: nil, arguments: ["provision"]),
                      watchdogCommand: watchdog, privileged: true)
    }

    static func relays(_ text: String = "198.51.100.0/24") throws -> PortRequest {
        PortRequest(spec: PortSpec(ports: [try PortRange(26)], proto: .tcp), sources: [try IPNetwork(parsing: text)], id: "smtp-alt")
    }

    /// An address file holding 198.51.100.0/24, and a request to open 26 to it (`--from @FILE`).
    func relaysFromFile() throws -> (file: String, request: PortRequest) {
        let file = scratch.root + "/etc/relays.txt"
        try "198.51.100.0/24\n".write(toFile: file, atomically: true, encoding: .utf8)
        var request = PortRequest(spec: PortSpec(ports: [try PortRange(26)], proto: .tcp), id: "smtp-alt")
        request.sourceFiles = [SourceFile(path: file, networks: try PolicyStore.readSourceFile(file))]
        return (file, request)
    }

    /// The elements of the kernel's (the fake's) IPv4 set for rule `id`.
    func kernelSources(_ id: String = "smtp-alt") throws -> [String] {
        try fake.readTable(PortPolicy.defaultTable)?.set(Renderer.setName(id, .ipv4))?.elements.map(\.description) ?? []
    }

    @Test func openWritesFileKernelAndHistoryAndRollbackUndoesIt() throws {
        let control = control()
        let result = try control.change("open") { try [$0.open(Self.relays())] }
        #expect(result.applied && result.createdPolicyFile)
        #expect(try kernelSources() == ["198.51.100.0/24"])
        #expect(scratch.policyText?.contains("198.51.100.0/24") == true)
        let history = try control.history()
        #expect(history.map(\.command) == ["open"] && history[0].user == "tester" && history[0].arguments == ["provision"])

        _ = try control.change("open") { try [$0.open(Self.relays("203.0.113.0/24"))] }
        #expect(try kernelSources() == ["198.51.100.0/24", "203.0.113.0/24"])

        let undone = try control.rollBack()
        #expect(undone.undone.sequence == 2 && !undone.removedPolicy)
        #expect(try kernelSources() == ["198.51.100.0/24"])
        #expect(scratch.policyText?.contains("203.0.113.0/24") == false)

        // A rollback is a change too: rolling back again redoes the change undone.
        _ = try control.rollBack()
        #expect(try kernelSources() == ["198.51.100.0/24", "203.0.113.0/24"])
    }

    @Test func rollingBackTheFirstChangeRemovesTableAndFile() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(Self.relays())] }
        let undone = try control.rollBack()
        #expect(undone.removedPolicy)
        #expect(try fake.readTable(PortPolicy.defaultTable) == nil)
        #expect(scratch.policyText == nil)
    }

    @Test func dryRunChangesNothing() throws {
        let control = control()
        let result = try control.change("open", options: ChangeOptions(dryRun: true)) { try [$0.open(Self.relays())] }
        #expect(result.isPending && !result.applied)
        #expect(result.plan?.script.contains("198.51.100.0/24") == true)
        #expect(try fake.readTable(PortPolicy.defaultTable) == nil)
        #expect(scratch.policyText == nil)
        #expect(try control.history().isEmpty)
    }

    @Test func aFileThatCannotBeWrittenPutsTheKernelBack() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(Self.relays())] }
        let before = try fake.readTable(PortPolicy.defaultTable)
        let text = scratch.policyText
        // After the policy is read, its folder becomes writable by others: the write is refused
        // after the kernel has taken the change, which must then be undone.
        #expect(throws: (any Error).self) {
            _ = try control.change("open") { policy in
                chmod(scratch.root + "/etc", 0o777)
                return try [policy.open(Self.relays("203.0.113.0/24"))]
            }
        }
        #expect(try fake.readTable(PortPolicy.defaultTable) == before)
        #expect(scratch.policyText == text)
        let history = try control.history()
        #expect(history.last?.confirmation == .undone("the policy file could not be written"))
        chmod(scratch.root + "/etc", 0o700)
        _ = try control.rollBack()
        #expect(try fake.readTable(PortPolicy.defaultTable) == nil && scratch.policyText == nil,
                "a rollback undoes the change in force (the first open), never the one that was undone")
    }

    @Test func aPendingConfirmationBlocksChangesUntilConfirmed() throws {
        let control = control(watchdog: Self.livingWatchdog)
        let result = try control.change("open", options: ChangeOptions(confirmSeconds: 60)) { try [$0.open(Self.relays())] }
        let pending = try #require(result.confirmation)
        defer { if let pid = pending.watchdog { kill(pid, SIGTERM) } }
        #expect(throws: ChangeError.self) { _ = try control.change("open") { try [$0.open(Self.relays("203.0.113.0/24"))] } }
        #expect(try control.confirm() == pending.sequence)
        #expect(try control.history().last?.confirmation == .confirmed)
        _ = try control.change("open") { try [$0.open(Self.relays("203.0.113.0/24"))] }
        #expect(try kernelSources() == ["198.51.100.0/24", "203.0.113.0/24"])
    }

    @Test func theWatchdogRollsBackAtTheDeadline() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(Self.relays())] }
        let result = try control.change("open", options: ChangeOptions(confirmSeconds: 1)) { try [$0.open(Self.relays("203.0.113.0/24"))] }
        let pending = try #require(result.confirmation)
        try control.runWatchdog(token: pending.token)
        #expect(try kernelSources() == ["198.51.100.0/24"])
        #expect(try control.history().last?.command == "auto-rollback")
        #expect(throws: ChangeError.self) { _ = try control.confirm() }
    }

    @Test func aDeadWatchdogsChangeIsRolledBackBeforeTheNextChange() throws {
        let control = control(watchdog: Self.dyingWatchdog)
        _ = try control.change("open") { try [$0.open(Self.relays())] }
        let armed = try control.change("open", options: ChangeOptions(confirmSeconds: 300)) { try [$0.open(Self.relays("203.0.113.0/24"))] }
        // Wait for the watchdog to be gone (it is this process's child), not for a time.
        var status: Int32 = 0
        #expect(waitpid(try #require(armed.confirmation?.watchdog), &status, 0) > 0)
        let next = try control.change("open") { try [$0.open(Self.relays("198.51.100.7"))] }
        #expect(next.warnings.contains { if case .orphanRolledBack = $0 { true } else { false } })
        #expect(try kernelSources() == ["198.51.100.0/24"], "198.51.100.7 is inside the /24; 203.0.113.0/24 was rolled back")
    }

    @Test func aDeadlineNeedsAWatchdogThatStarts() throws {
        _ = try control().change("open") { try [$0.open(Self.relays())] }
        let kernel = try fake.readTable(PortPolicy.defaultTable), file = scratch.policyText
        // No watchdog named: refused before anything changes.
        #expect(throws: ChangeError.self) {
            _ = try control(watchdog: nil).change("open", options: ChangeOptions(confirmSeconds: 60)) { try [$0.open(Self.relays("203.0.113.0/24"))] }
        }
        #expect(try fake.readTable(PortPolicy.defaultTable) == kernel && scratch.policyText == file)
        // A program that is no watchdog (it never reports its start): the change is undone at once.
        let error = #expect(throws: ChangeError.self) {
            _ = try control(watchdog: ["/bin/true"]).change("open", options: ChangeOptions(confirmSeconds: 60)) { try [$0.open(Self.relays("203.0.113.0/24"))] }
        }
        guard case .watchdogFailed = error else { Issue.record("expected watchdogFailed, got \(String(describing: error))"); return }
        #expect(try kernelSources() == ["198.51.100.0/24"] && scratch.policyText == file)
        #expect(try control().history().last?.command == "auto-rollback")
    }

    @Test func theWatchdogInheritsNoDescriptorAndTheCallersAreLeftAlone() throws {
        let held = open(scratch.root + "/etc", O_RDONLY)
        defer { close(held) }
        let flags = fcntl(held, F_GETFD)
        let listing = scratch.root + "/fds"
        let watchdog = ["/bin/sh", "-c", "ls /proc/$$/fd > \(listing); printf x >&3; trap 'kill $!' TERM; sleep 30 & wait", "watchdog"]
        let result = try control(watchdog: watchdog).change("open", options: ChangeOptions(confirmSeconds: 60)) { try [$0.open(Self.relays())] }
        let pid = try #require(result.confirmation?.watchdog)
        defer { kill(pid, SIGTERM); var status: Int32 = 0; waitpid(pid, &status, 0) }
        #expect(fcntl(held, F_GETFD) == flags, "the caller's descriptor flags are untouched")
        let inherited = try String(contentsOfFile: listing, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(!inherited.contains(held) && inherited.allSatisfy { $0 <= 3 || $0 == 10 }, "\(inherited)")
        #expect(try control().confirm() != nil)
    }

    @Test func theLockoutGuardRefusesAndChangesNothing() throws {
        let control = control(environment: ["SSH_CONNECTION": "203.0.113.9 50000 198.51.100.1 22"])
        _ = try control.change("open") { try [$0.open(Self.relays())] }
        let before = (try fake.readTable(PortPolicy.defaultTable), scratch.policyText)
        #expect(throws: ChangeError.self) { _ = try control.change("remove") { try [$0.remove(id: "ssh")] } }
        #expect(try fake.readTable(PortPolicy.defaultTable) == before.0 && scratch.policyText == before.1)
        _ = try control.change("remove", options: ChangeOptions(force: true)) { try [$0.remove(id: "ssh")] }
    }

    @Test func savedPlansApplyAsReviewedAndRefuseWhenStale() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(Self.relays())] }
        var policy = try control.requirePolicy().policy
        _ = try policy.open(Self.relays("203.0.113.0/24"))
        try PolicyStore(paths: scratch.paths).save(policy)

        func save() throws -> String {
            let planned = try control.plan()
            let document = PlanDocument(plan: planned.plan, policy: planned.policy, policyFile: scratch.paths.policyFile,
                                        policyBytes: Array(planned.bytes), liveDigest: planned.liveDigest)
            let path = scratch.root + "/etc/plan.json"
            try TrustedFiles.write(document.encoded(), to: path, what: "plan file")
            return path
        }
        func problem(_ path: String) -> SavedPlanProblem? {
            do {
                _ = try control.applySavedPlan(at: path)
                return nil
            } catch let ChangeError.savedPlan(_, problem) {
                return problem
            } catch {
                return .unreadable("\(error)")
            }
        }

        // The table changes behind the plan's back.
        var path = try save()
        fake.tamper(PortPolicy.defaultTable) { $0.counters.append("extra") }
        #expect(problem(path) == .tableChanged(table: PortPolicy.defaultTable))
        // The saved batch is edited.
        path = try save()
        let edited = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "203.0.113.0/24", with: "0.0.0.0/0")
        try TrustedFiles.write(edited, to: path, what: "plan file")
        #expect(problem(path) == .edited)
        // The policy file changes.
        path = try save()
        try PolicyStore(paths: scratch.paths).save(text: try #require(scratch.policyText) + "\n")
        #expect(problem(path) == .policyChanged(policyFile: scratch.paths.policyFile))
        // A current plan applies, and is recorded.
        path = try save()
        #expect(problem(path) == nil)
        #expect(try kernelSources() == ["198.51.100.0/24", "203.0.113.0/24"])
        #expect(try control.history().last?.command == "apply-plan")
    }

    @Test func disableRemovesTheTableAndRollbackBringsItBack() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(Self.relays())] }
        let result = try control.disable()
        #expect(result.applied)
        #expect(try fake.readTable(PortPolicy.defaultTable) == nil)
        _ = try control.rollBack()
        #expect(try kernelSources() == ["198.51.100.0/24"])
    }

    @Test func aNewPolicyIsAppliedThenWrittenByteForByteAndRollsBack() throws {
        let control = control()
        let text = "# relays, as reviewed\n" + PolicyFile.encode(PortPolicy(rules: [
            PortRule(id: "smtp-alt", ports: [try PortRange(26)], sources: [try IPNetwork(parsing: "198.51.100.0/24")]),
        ]))
        let dry = try control.replacePolicy(with: text, source: "candidate", options: ChangeOptions(dryRun: true))
        #expect(try dry.isPending && scratch.policyText == nil && fake.readTable(PortPolicy.defaultTable) == nil)
        let result = try control.replacePolicy(with: text, source: "candidate")
        #expect(result.applied && result.createdPolicyFile)
        #expect(scratch.policyText == text)
        #expect(try kernelSources() == ["198.51.100.0/24"])
        #expect(!(try control.replacePolicy(with: text, source: "candidate")).isPending, "the same text again changes nothing")

        #expect(throws: PolicyFileError.self) { _ = try control.replacePolicy(with: "rules: [oops", source: "candidate") }
        #expect(scratch.policyText == text)

        // The first replace created the policy: rolling it back removes file and table.
        _ = try control.rollBack()
        #expect(scratch.policyText == nil)
        #expect(try fake.readTable(PortPolicy.defaultTable) == nil)
    }

    @Test func aPolicyValueBecomesThePolicyAsOneRecordedChange() throws {
        let control = control()
        var policy = PortPolicy(rules: [PortRule(id: "smtp-alt", ports: [try PortRange(26)], sources: [try IPNetwork(parsing: "198.51.100.0/24")])])
        let result = try control.replacePolicy(policy)
        #expect(result.applied && result.entry != nil)
        #expect(try kernelSources() == ["198.51.100.0/24"])
        #expect(try control.requirePolicy().policy == policy)
        policy.rules[0].sources = [try IPNetwork(parsing: "203.0.113.0/24")]
        _ = try control.replacePolicy(policy)
        #expect(try kernelSources() == ["203.0.113.0/24"])
        _ = try control.rollBack()
        #expect(try kernelSources() == ["198.51.100.0/24"])
    }

    @Test func aRenameWhoseFileWriteFailsPutsTheOldTableBack() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(Self.relays())] }
        let before = try fake.readTable(PortPolicy.defaultTable)
        #expect(throws: (any Error).self) {
            _ = try control.change("open") { policy in
                chmod(scratch.root + "/etc", 0o777)
                policy.table = "renamed"
                return try [policy.open(Self.relays("203.0.113.0/24"))]
            }
        }
        #expect(try fake.readTable(PortPolicy.defaultTable) == before)
        #expect(try fake.readTable("renamed") == nil)
    }

    @Test func aRollbackUndoesATableRename() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(Self.relays())] }
        _ = try control.change("rename") { policy in
            policy.table = "renamed"
            return [.unchanged("renamed")]
        }
        #expect(try fake.readTable(PortPolicy.defaultTable) == nil && fake.readTable("renamed") != nil)
        _ = try control.rollBack()
        #expect(try fake.readTable("renamed") == nil)
        #expect(try kernelSources() == ["198.51.100.0/24"])
    }

    @Test func fileSnapshotsOutliveTheHistoryLimit() throws {
        let control = control()
        let (file, request) = try relaysFromFile()
        _ = try control.change("open") { [try $0.open(request)] }
        for round in 0..<(StateStore.historyLimit + 2) {
            try "198.51.100.\(round % 2 * 128)/25\n".write(toFile: file, atomically: true, encoding: .utf8)
            _ = try control.applyPolicyFile()
        }
        let held = try kernelSources()
        try "203.0.113.0/24\n".write(toFile: file, atomically: true, encoding: .utf8)
        _ = try control.applyPolicyFile()
        try "203.0.113.0/24 typo\n".write(toFile: file, atomically: true, encoding: .utf8)
        _ = try control.rollBack()
        #expect(try kernelSources() == held)
    }

    @Test func rollbackRestoresTheAddressesAFileHeldThen() throws {
        let control = control()
        let (file, request) = try relaysFromFile()
        _ = try control.change("open") { [try $0.open(request)] }
        #expect(try kernelSources() == ["198.51.100.0/24"])

        try "203.0.113.0/24\n".write(toFile: file, atomically: true, encoding: .utf8)
        _ = try control.applyPolicyFile()
        #expect(try kernelSources() == ["203.0.113.0/24"])
        // The file is now broken, and the rollback must not need it: the history kept its addresses.
        try "203.0.113.0/24 typo\n".write(toFile: file, atomically: true, encoding: .utf8)
        _ = try control.rollBack()
        #expect(try kernelSources() == ["198.51.100.0/24"])
    }

    @Test func rollingBackTheApplyAfterADisableDisablesAgain() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(Self.relays())] }
        _ = try control.disable()
        _ = try control.applyPolicyFile()
        #expect(try kernelSources() == ["198.51.100.0/24"])
        _ = try control.rollBack()
        #expect(try fake.readTable(PortPolicy.defaultTable) == nil, "the table was out before the apply: it goes again")
        #expect(scratch.policyText != nil)
        _ = try control.rollBack()
        #expect(try kernelSources() == ["198.51.100.0/24"], "and rolling that back applies it again")
    }

    @Test func withoutPrivilegeNothingIsTouched() throws {
        var control = control()
        control.privileged = false
        #expect(throws: ChangeError.self) { _ = try control.change("open") { try [$0.open(Self.relays())] } }
        #expect(scratch.policyText == nil)
        #expect(!FileManager.default.fileExists(atPath: scratch.paths.stateDirectory + "/lock"))
    }
}
