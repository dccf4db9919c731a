import Foundation
import PortPolicy
@testable import PortctlDriver
import Testing

/// The history never hides, renumbers or invents a change: damaged records stop the commands
/// that write history or roll back, numbers only grow, a change is undone only through its own
/// policy file, nothing read from the state folder can trap or be used as a path, and a change
/// killed half-way leaves a trail that the next command settles truthfully.
@Suite(.serialized)
struct HistoryTruthTests {
    let fake = FakeNftables()
    let scratch: Scratch

    init() throws {
        scratch = try Scratch()
    }

    var history: String { scratch.paths.stateDirectory + "/history" }

    func control(policyFile: String? = nil) -> ChangeControl {
        var paths = scratch.paths
        if let policyFile { paths.policyFile = policyFile }
        return ChangeControl(paths: paths, firewall: Firewall(backend: fake), environment: [:],
                             author: ChangeAuthor(user: "tester", sshClient: nil, arguments: ["test"]),
                             watchdogCommand: ["/bin/true"], privileged: true)
    }

    func open(_ control: ChangeControl, _ source: String) throws {
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays(source))] }
    }

    func kernelSources() throws -> [String] {
        try fake.readTable(PortPolicy.defaultTable)?.set(Renderer.setName("smtp-alt", .ipv4))?.elements.map(\.description) ?? []
    }

    func entryPath(_ sequence: Int) -> String { history + "/" + String(format: "%08d.json", sequence) }

    @Test func aDamagedEntryStopsEveryWriterAndNumbersOnlyGrow() throws {
        let control = control()
        for source in ["198.51.100.0/25", "198.51.100.128/25", "203.0.113.0/24"] { try open(control, source) }
        let policy = scratch.policyText
        let kernel = try fake.readTable(PortPolicy.defaultTable)
        // Entry #2 truncated, as a full disk or a crash might leave it.
        let damaged = try Data(contentsOf: URL(fileURLWithPath: entryPath(2)))
        try damaged.prefix(40).write(to: URL(fileURLWithPath: entryPath(2)))

        let attempts: [() throws -> Void] = [{ try open(control, "203.0.113.7") }, { _ = try control.rollBack() }, { _ = try control.history() }]
        for attempt in attempts {
            let error = #expect(throws: StateDamage.self) { try attempt() }
            #expect(error?.path == entryPath(2))
        }
        #expect(scratch.policyText == policy)
        #expect(try fake.readTable(PortPolicy.defaultTable) == kernel)

        // The admin moves the damaged entry and the newest one aside: the next change is #4, not
        // a number given before.
        unlink(entryPath(2))
        unlink(entryPath(3))
        try open(control, "203.0.113.7")
        #expect(try control.history().map(\.sequence) == [1, 4])
    }

    @Test func aChangeIsRolledBackOnlyThroughItsOwnPolicyFile() throws {
        let first = control()
        try open(first, "198.51.100.0/24")
        let other = scratch.root + "/etc/other.yaml"
        let otherText = try String(contentsOfFile: scratch.paths.policyFile, encoding: .utf8)
            .replacingOccurrences(of: "198.51.100.0/24", with: "203.0.113.0/24")
        try otherText.write(toFile: other, atomically: true, encoding: .utf8)
        let error = #expect(throws: ChangeError.self) { _ = try control(policyFile: other).rollBack() }
        guard case let .otherPolicyFile(sequence, entryFile, policyFile) = error else {
            Issue.record("expected otherPolicyFile, got \(String(describing: error))")
            return
        }
        #expect(sequence == 1 && entryFile == scratch.paths.policyFile && policyFile == other)
        #expect(try String(contentsOfFile: other, encoding: .utf8) == otherText)
        #expect(try kernelSources() == ["198.51.100.0/24"])
    }

    @Test func outOfRangeNumbersAreDamageNotTraps() throws {
        let control = control()
        try open(control, "198.51.100.0/24")
        let entry = try String(contentsOfFile: entryPath(1), encoding: .utf8)
        // A sequence of Int.max in a file named for it, and one whose name and text disagree.
        try entry.replacingOccurrences(of: "\"sequence\" : 1", with: "\"sequence\" : 9223372036854775807")
            .write(toFile: history + "/9223372036854775807.json", atomically: true, encoding: .utf8)
        #expect(throws: StateDamage.self) { try open(control, "203.0.113.0/24") }
        unlink(history + "/9223372036854775807.json")
        try entry.replacingOccurrences(of: "\"sequence\" : 1", with: "\"sequence\" : 9223372036854775807")
            .write(toFile: entryPath(2), atomically: true, encoding: .utf8)
        #expect(throws: StateDamage.self) { try open(control, "203.0.113.0/24") }
        unlink(entryPath(2))
        // A deadline no Int can hold.
        let pending = #"{"token": "t", "sequence": 1, "deadline": 1e300, "watchdog": 12345}"#
        try pending.write(toFile: scratch.paths.stateDirectory + "/pending-confirm.json", atomically: true, encoding: .utf8)
        let damage = #expect(throws: StateDamage.self) { try open(control, "203.0.113.0/24") }
        #expect(damage?.path.hasSuffix("pending-confirm.json") == true)
        #expect(throws: StateDamage.self) { _ = try control.confirm() }
        // A sequence counter beyond range.
        unlink(scratch.paths.stateDirectory + "/pending-confirm.json")
        try "99999999999999999999\n".write(toFile: history + "/last-sequence", atomically: true, encoding: .utf8)
        #expect(throws: StateDamage.self) { try open(control, "203.0.113.0/24") }
        #expect(try kernelSources() == ["198.51.100.0/24"])
    }

    @Test func storedTextsAreNamedByDigestsAndCheckedAgainstThem() throws {
        let control = control()
        try open(control, "198.51.100.0/24")
        let secret = scratch.root + "/secret"
        try "root's secret\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let entry = try String(contentsOfFile: entryPath(1), encoding: .utf8)
        let script = try #require(try control.history().first?.script)
        // A digest that walks out of the blob folder is never used as a path.
        try entry.replacingOccurrences(of: script, with: "sha256:../../../secret").write(toFile: entryPath(1), atomically: true, encoding: .utf8)
        #expect(throws: StateDamage.self) { _ = try control.history() }
        #expect(throws: StateDamage.self) { _ = try control.historyText("sha256:../../../secret") }
        // A blob edited after it was stored does not pass for the text it was.
        try entry.write(toFile: entryPath(1), atomically: true, encoding: .utf8)
        let blob = history + "/blobs/" + script.dropFirst("sha256:".count)
        try "delete table inet victim\n".write(toFile: blob, atomically: true, encoding: .utf8)
        #expect(throws: StateDamage.self) { _ = try control.historyText(script) }
    }

    @Test func aRollbackNeverSilentlyDiscardsWhatTheHistoryDoesNotKnow() throws {
        let control = control()
        try open(control, "198.51.100.0/24")
        try open(control, "203.0.113.0/24")
        // A hand edit after the last change: a rollback would throw it away.
        let edited = try #require(scratch.policyText) + "# a hand edit\n"
        try edited.write(toFile: scratch.paths.policyFile, atomically: true, encoding: .utf8)
        let error = #expect(throws: ChangeError.self) { _ = try control.rollBack() }
        guard case .policyFileNotAsLeft(2, _)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(scratch.policyText == edited)
        // The record of the newest change moved aside: the file is #2's, the history ends at #1.
        try #require(try control.historyText(try control.history()[1].after))
            .write(toFile: scratch.paths.policyFile, atomically: true, encoding: .utf8)
        unlink(entryPath(2))
        #expect(throws: ChangeError.self) { _ = try control.rollBack() }
        #expect(try kernelSources() == ["198.51.100.0/24", "203.0.113.0/24"])
        // Forced, it goes back to what #1 replaced: nothing.
        _ = try control.rollBack(force: true)
        #expect(try fake.readTable(PortPolicy.defaultTable) == nil)
    }

    @Test func relativePolicyPathsAreKeptAbsolute() {
        let paths = PortctlPaths(policyFile: "rel.yaml", stateDirectory: "./state//x/")
        let here = FileManager.default.currentDirectoryPath
        #expect(paths.policyFile == here + "/rel.yaml" && paths.stateDirectory == here + "/state/x")
        #expect(PortctlPaths.absolute("/a/./b//c") == "/a/b/c" && PortctlPaths.absolute("/a/../b") == "/a/../b")
    }

    struct Killed: Error {}

    @Test func aChangeKilledAfterTheKernelLeavesATrailThatIsSettled() throws {
        try open(control(), "198.51.100.0/24")
        let policy = scratch.policyText
        var dying = control()
        dying.interruption = { step in if step == .kernelChanged { throw Killed() } }
        #expect(throws: Killed.self) { try open(dying, "203.0.113.0/24") }
        // The kernel took the change and the file did not: the history says so, it does not hide it.
        #expect(try kernelSources() == ["198.51.100.0/24", "203.0.113.0/24"])
        #expect(scratch.policyText == policy)
        let trail = try #require(try control().history().last)
        #expect(trail.sequence == 2 && trail.progress == .kernelChanged)

        // The next change settles it as interrupted, and puts the kernel back to the file: the
        // policy did not change, the kernel did (#3).
        try open(control(), "198.51.100.0/24")
        let settled = try control().history()
        #expect(settled.map(\.sequence) == [1, 2, 3])
        #expect(settled[1].progress == nil && settled[1].confirmation?.description.hasPrefix("interrupted: killed after the kernel took the batch") == true)
        #expect(try kernelSources() == ["198.51.100.0/24"])
        // Not in force: what #4 replaced, and a rollback brings back, is #1's policy.
        try open(control(), "192.0.2.0/24")
        _ = try control().rollBack()
        #expect(try kernelSources() == ["198.51.100.0/24"])
    }

    @Test func aChangeKilledBeforeTheKernelIsSettledAsInterrupted() throws {
        try open(control(), "198.51.100.0/24")
        var dying = control()
        dying.interruption = { step in if step == .recorded { throw Killed() } }
        #expect(throws: Killed.self) { try open(dying, "203.0.113.0/24") }
        #expect(try kernelSources() == ["198.51.100.0/24"])
        #expect(try control().history().last?.progress == .recorded)
        _ = try control().rollBack()
        let entries = try control().history()
        #expect(entries[1].confirmation?.description.hasPrefix("interrupted: killed before or while the batch was sent") == true)
        #expect(entries.last?.command == "rollback")
        #expect(try fake.readTable(PortPolicy.defaultTable) == nil, "the rollback undid change #1, the one in force")
    }

    @Test func aKilledChangeWhoseFileWasWrittenIsComplete() throws {
        try open(control(), "198.51.100.0/24")
        // Killed after the file write, before the entry was marked complete: the same state a
        // kill between the two leaves.
        var dying = control()
        dying.interruption = { step in if step == .kernelChanged { throw Killed() } }
        #expect(throws: Killed.self) { try open(dying, "203.0.113.0/24") }
        let entry = try #require(try control().history().last)
        let after = try #require(try control().historyText(entry.after))
        try after.write(toFile: scratch.paths.policyFile, atomically: true, encoding: .utf8)
        _ = try control().rollBack()
        let entries = try control().history()
        #expect(entries[1].confirmation == nil && entries[1].progress == nil)
        #expect(try kernelSources() == ["198.51.100.0/24"], "the rollback undid change #2: it had taken hold")
    }
}

/// The confirmation state is an enum in Swift and the same text in the history files as before.
@Test func confirmationStatesReadAndWriteTheHistorysText() throws {
    let texts = ["pending", "confirmed", "rolled back", "undone: the policy file could not be written",
                 "interrupted: killed before or while the batch was sent", "something a later version writes"]
    let states: [ConfirmationState] = [.pending, .confirmed, .rolledBack, .undone("the policy file could not be written"),
                                       .interrupted("killed before or while the batch was sent"), .other("something a later version writes")]
    for (text, state) in zip(texts, states) {
        #expect(ConfirmationState(text: text) == state)
        let json = try JSONEncoder().encode([state])
        #expect(String(decoding: json, as: UTF8.self) == "[\"\(text)\"]")
        #expect(try JSONDecoder().decode([ConfirmationState].self, from: json) == [state])
    }
}
