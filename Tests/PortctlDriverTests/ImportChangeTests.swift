import Foundation
import PortPolicy
import PortctlDriver
import Testing

/// An import (``ChangeControl/importPolicy(_:command:replace:options:)``, `portctl import ufw`)
/// is a recorded change that writes only the policy file, against the fake kernel.
@Suite(.serialized)
struct ImportChangeTests {
    let fake = FakeNftables()
    let scratch: Scratch

    init() throws {
        scratch = try Scratch()
    }

    func control(watchdog: [String]? = ChangeControlTests.dyingWatchdog, privileged: Bool = true) -> ChangeControl {
        ChangeControl(paths: scratch.paths, firewall: Firewall(backend: fake), environment: [:],
                      author: ChangeAuthor(user: "tester", sshClient: nil, arguments: ["import", "ufw"]),
                      watchdogCommand: watchdog, privileged: privileged)
    }

    /// What ufw's rules became: 26/tcp from 203.0.113.0/24, in a table of the translation's own.
    static func imported() throws -> PortPolicy {
        var policy = PortPolicy()
        policy.table = "from_ufw"
        _ = try policy.open(ChangeControlTests.relays("203.0.113.0/24"))
        return policy
    }

    var table: Table? { get throws { try fake.readTable(PortPolicy.defaultTable) } }

    @Test func anImportIsRecordedLeavesTheKernelAndRollsBackToThePreviousFile() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        let kernel = try table
        let before = try #require(scratch.policyText)

        let result = try control.importPolicy(try Self.imported(), command: "import ufw", replace: true)
        #expect(result.written && result.policyChanged && result.policy.table == PortPolicy.defaultTable,
                "the policy keeps the table the policy file named")
        #expect(scratch.policyText == result.text && result.text.contains("203.0.113.0/24"))
        #expect(try String(contentsOfFile: scratch.paths.policyFile + ".before-import", encoding: .utf8) == before)
        #expect(result.previousCopy == scratch.paths.policyFile + ".before-import")
        #expect(try table == kernel, "an import writes the file only")
        let entry = try #require(try control.history().last)
        #expect(entry.command == "import ufw" && entry.changes.isEmpty && entry.summary == "import ufw: no kernel change")
        #expect(entry.sequence == result.entry?.sequence)

        let undone = try control.rollBack()
        #expect(undone.undone.sequence == entry.sequence)
        #expect(scratch.policyText == before)
        #expect(try table == kernel)
    }

    @Test func rollingBackTheApplyAfterAnImportPutsBackTheTableBeforeIt() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        let previous = try control.requirePolicy().policy
        /// Whether the kernel holds the policy the import replaced (rebuilt rules may come back in
        /// another order of counters: the planner says whether anything differs).
        func holdsPrevious() throws -> Bool { Planner.plan(previous, live: try table).changes.isEmpty }
        let imported = try control.importPolicy(try Self.imported(), replace: true)
        _ = try control.applyPolicyFile()
        #expect(try table?.set(Renderer.setName("smtp-alt", .ipv4))?.elements.map(\.description) == ["203.0.113.0/24"])

        // The apply is undone: the table goes back to what it held before it (the policy the
        // import replaced), the file stays the import's.
        _ = try control.rollBack()
        #expect(try holdsPrevious())
        #expect(scratch.policyText == imported.text)
        // rollback --to the import: its file, and the table it left alone.
        _ = try control.rollBack(to: try #require(imported.entry?.sequence))
        #expect(try holdsPrevious() && scratch.policyText == imported.text)
    }

    @Test func onAFreshHostRollbackRemovesTheImportedFile() throws {
        let control = control()
        let imported = try control.importPolicy(try Self.imported(), replace: false)
        #expect(imported.written && imported.previousCopy == nil && imported.policy.table == "from_ufw")
        let undone = try control.rollBack()
        #expect(undone.removedPolicy && undone.undone.sequence == imported.entry?.sequence)
        #expect(try scratch.policyText == nil && fake.readTable("from_ufw") == nil)
    }

    @Test func onAFreshHostTheFirstApplysDeadlineRemovesTheTableAndKeepsTheImport() throws {
        let control = control()
        let imported = try control.importPolicy(try Self.imported(), replace: false)
        #expect(try fake.readTable("from_ufw") == nil)
        let applied = try control.applyPolicyFile(options: ChangeOptions(confirmSeconds: 1))
        #expect(try fake.readTable("from_ufw") != nil)
        try control.runWatchdog(token: try #require(applied.confirmation).token)
        #expect(try fake.readTable("from_ufw") == nil, "nobody confirmed: the kernel is as it was before the apply")
        #expect(scratch.policyText == imported.text)
    }

    @Test func anUnconfirmedImportPutsThePreviousFileBack() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        let before = scratch.policyText
        let result = try control.importPolicy(try Self.imported(), replace: true, options: ChangeOptions(confirmSeconds: 1))
        let pending = try #require(result.confirmation)
        #expect(try control.history().last?.confirmation == .pending)
        try control.runWatchdog(token: pending.token)
        #expect(scratch.policyText == before)
        #expect(try control.history().last?.isAutomaticRollback == true)
    }

    @Test func refusalsAndDryRunsChangeNothing() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        let before = scratch.policyText
        let count = try control.history().count
        #expect(throws: ChangeError.self) { _ = try control.importPolicy(try Self.imported(), replace: false) }
        do {
            _ = try control.importPolicy(try Self.imported(), replace: false)
        } catch let error as ChangeError {
            #expect(error.description.hasPrefix("refusing to replace \(scratch.paths.policyFile), which holds a policy already"))
            #expect(error.category == .runtime)
        }
        let dry = try self.control(privileged: false).importPolicy(try Self.imported(), replace: true, options: ChangeOptions(dryRun: true))
        #expect(dry.policyChanged && !dry.written && dry.previousBytes != nil)
        #expect(throws: ChangeError.self) { _ = try self.control(privileged: false).importPolicy(try Self.imported(), replace: true) }
        #expect(throws: ChangeError.self) {
            _ = try self.control(watchdog: nil).importPolicy(try Self.imported(), replace: true, options: ChangeOptions(confirmSeconds: 60))
        }
        #expect(scratch.policyText == before && !FileManager.default.fileExists(atPath: scratch.paths.policyFile + ".before-import"))
        #expect(try control.history().count == count)

        // The same text again: nothing written, nothing recorded.
        let first = try control.importPolicy(try Self.imported(), replace: true)
        let again = try control.importPolicy(try Self.imported(), replace: true)
        #expect(first.written && !again.written && !again.policyChanged && again.entry == nil)
        #expect(try control.history().count == count + 1)
    }

    // From the hostile review of the recorded import.

    @Test func rollingBackAnImportPutsBackTheFileAsItWasEvenAfterAHandEdit() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        let edited = try #require(scratch.policyText) + "  - id: handmade\n    ports: [9999]\n"
        try edited.write(toFile: scratch.paths.policyFile, atomically: true, encoding: .utf8)
        _ = try control.importPolicy(try Self.imported(), command: "import ufw", replace: true)
        _ = try control.rollBack()
        #expect(scratch.policyText == edited, "the hand edit comes back with the file")
    }

    @Test func theApplyAfterAnImportRemovesTheTableUnderItsOldName() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        // The file renamed its table by hand; the kernel still holds `inet portctl`.
        var renamed = try control.requirePolicy().policy
        renamed.table = "other"
        try PolicyFile.encode(renamed).write(toFile: scratch.paths.policyFile, atomically: true, encoding: .utf8)
        _ = try control.importPolicy(try Self.imported(), command: "import ufw", replace: true)
        _ = try control.applyPolicyFile()
        #expect(try fake.readTable("other") != nil)
        #expect(try fake.readTable(PortPolicy.defaultTable) == nil, "the table under the name the kernel had is gone")
    }

    @Test func aDraftNeverAppliedIsNeverPutInForceByARollback() throws {
        let control = control()
        // A policy file written by hand and never applied; no portctl table in the kernel.
        var draft = PortPolicy()
        _ = try draft.open(ChangeControlTests.relays("192.0.2.0/24"))
        try PolicyFile.encode(draft).write(toFile: scratch.paths.policyFile, atomically: true, encoding: .utf8)
        _ = try control.importPolicy(try Self.imported(), command: "import ufw", replace: true)
        _ = try control.applyPolicyFile()
        #expect(try table != nil)
        _ = try control.rollBack()
        #expect(try table == nil, "before the apply there was no table: the rollback removes it, never the draft")

        // The same without an import: the first change over a draft, rolled back.
        let other = try Scratch()
        let plain = ChangeControl(paths: other.paths, firewall: Firewall(backend: FakeNftables()), environment: [:],
                                  author: ChangeAuthor(user: "tester", sshClient: nil, arguments: ["open"]),
                                  watchdogCommand: ChangeControlTests.dyingWatchdog, privileged: true)
        try PolicyFile.encode(draft).write(toFile: other.paths.policyFile, atomically: true, encoding: .utf8)
        _ = try plain.change("open") { try [$0.open(ChangeControlTests.relays())] }
        _ = try plain.rollBack()
        #expect(try plain.firewall.live(table: PortPolicy.defaultTable) == nil)
    }

    // From the second hostile review: an import and its rollback never touch the kernel.

    @Test func rollingBackAnImportNeverPutsAnUnappliedEditInForce() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        let kernel = try table
        var edited = try control.requirePolicy().policy
        _ = try edited.open(ChangeControlTests.relays("192.0.2.0/24"))
        try PolicyFile.encode(edited).write(toFile: scratch.paths.policyFile, atomically: true, encoding: .utf8)
        _ = try control.importPolicy(try Self.imported(), command: "import ufw", replace: true)
        _ = try control.rollBack()
        #expect(try table == kernel, "the hand edit was never applied: it stays out of the kernel")
        #expect(scratch.policyText == PolicyFile.encode(edited))
    }

    @Test func rollingBackAnImportIntoAnotherPolicyFileLeavesTheTable() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        let kernel = try #require(try table)
        let draft = PortctlPaths(policyFile: scratch.root + "/etc/draft.yaml", stateDirectory: scratch.paths.stateDirectory)
        let drafting = ChangeControl(paths: draft, firewall: Firewall(backend: fake), environment: [:],
                                     author: ChangeAuthor(user: "tester", sshClient: nil, arguments: ["import"]),
                                     watchdogCommand: ChangeControlTests.dyingWatchdog, privileged: true)
        // The draft names production's table, as a translation into the default table does.
        var imported = try Self.imported()
        imported.table = PortPolicy.defaultTable
        _ = try drafting.importPolicy(imported, command: "import ufw", replace: true)
        _ = try drafting.rollBack()
        #expect(try table == kernel, "production's table stays")
        #expect(!FileManager.default.fileExists(atPath: draft.policyFile))
    }

    @Test func anImportOverABrokenFileCanBeRolledBack() throws {
        let control = control()
        _ = try control.change("open") { try [$0.open(ChangeControlTests.relays())] }
        let kernel = try table
        let broken = "version: 1\nrules:\n  - id: smtp-alt\n    ports: 70000\n"
        try broken.write(toFile: scratch.paths.policyFile, atomically: true, encoding: .utf8)
        _ = try control.importPolicy(try Self.imported(), command: "import ufw", replace: true)
        _ = try control.rollBack()
        #expect(try scratch.policyText == broken && table == kernel)
    }
}
