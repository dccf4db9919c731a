import Foundation
import PortPolicy

extension ChangeControl {
    // MARK: Disabling

    /// Removes portctl's table (the policy file stays; applying it brings the table back), and
    /// records that like any change.
    public func disable(options: ChangeOptions = ChangeOptions()) throws -> ChangeResult {
        try withLock(privileged: "removing portctl's table", dryRun: options.dryRun) {
            // The file's text is what a rollback restores; its address files need not be readable
            // to remove the table.
            let bytes = try store.readData()
            let loaded = try? store.loadWithBytes()
            let table = bytes != nil ? try policyTable() : PortPolicy.defaultTable
            let exists = privileged ? try firewall.tableExists(table) : true
            let plan = Plan(table: table, changes: exists ? [.removeTable(table)] : [],
                            batch: exists ? .removing(table) : Batch(), replacesTable: exists)
            var result = ChangeResult(policy: loaded?.policy ?? PortPolicy(), policyChanged: false, plan: plan,
                                      liveDigest: "unknown", previousBytes: bytes.map { Array($0) } ?? [])
            if options.dryRun { return result }
            // Running traces' tables too: after disable nothing of portctl's is in the kernel.
            if !exists {
                if privileged { _ = try? firewall.removeTraceTables() }
                return result
            }
            try requireWatchdog(options)
            _ = try? firewall.removeTraceTables()
            // Removing the table drops the kernel's copy of the bans: with the state folder's
            // copy damaged, nothing could put them back.
            _ = try BanStore(directory: paths.stateDirectory).load()
            if let orphan = try refuseWhileConfirmationPending() { result.warnings.append(.orphanRolledBack(orphan)) }
            let text = bytes.map { String(decoding: $0, as: UTF8.self) }
            var entry = try record(command: "disable", previousText: text, after: text, plan: plan, pending: options.confirmSeconds != nil,
                                   beforePolicy: loaded?.policy, afterPolicy: loaded?.policy, removesTable: true)
            try sendRecorded(&entry, fileFollows: false) { try firewall.remove(table: table) }
            result.applied = true
            result.entry = entry
            if let seconds = options.confirmSeconds { result.confirmation = try armConfirmation(entry, seconds: seconds) }
            return result
        }
    }

    // MARK: Confirming and rolling back

    /// Keeps the change applied with a confirmation deadline. Returns its sequence number, or
    /// nil when no change was waiting.
    public func confirm() throws -> Int? {
        try withLock(privileged: "confirming a change") {
            try settleInterrupted()
            guard let pending = try state.pending() else {
                if let latest = try state.latestInForce(), latest.isAutomaticRollback {
                    throw ChangeError.confirmedTooLate(sequence: latest.sequence, rolledBackAt: latest.time)
                }
                return nil
            }
            try state.setPending(nil)
            if var entry = try state.history().last(where: { $0.sequence == pending.sequence }) {
                entry.confirmation = .confirmed
                try state.save(entry)
            }
            return pending.sequence
        }
    }

    /// Restores the policy and ruleset in force before the newest history entry, and records
    /// that as `command`.
    public func rollBack(command: String = "rollback", force: Bool = false) throws -> RollbackResult {
        try withLock(privileged: "rolling back") { try rollBackHoldingLock(command: command, force: force) }
    }

    func rollBackHoldingLock(command: String, force: Bool) throws -> RollbackResult {
        try requirePrivilege("rolling back")
        // A change that awaited a watchdog it never got is rolled back by settling: that was
        // the rollback asked for.
        if let settled = try settleInterrupted() { return settled }
        guard var latest = try state.latestInForce() else { throw ChangeError.nothingToRollBack(stateDirectory: paths.stateDirectory) }
        // One state folder may serve several policy files: a change is undone only through its
        // own, or this file would get another's rules (or be deleted).
        if latest.policyFile != paths.policyFile {
            throw ChangeError.otherPolicyFile(sequence: latest.sequence, entryFile: latest.policyFile, policyFile: paths.policyFile)
        }
        if !force { try refuseUnlessFileIsAsLeft(by: latest) }
        let (table, unrestored) = latest.writesFileOnly == true
            ? try restoreFileHoldingLock(latest: latest, command: command)
            : try restoreHoldingLock(latest: latest, text: latest.before, files: latest.beforeFiles,
                                     tableRemoved: latest.tableRemovedBefore, kernel: latest.kernelBefore,
                                     sequence: latest.sequence, command: command, force: force)
        if latest.confirmation == .pending {
            latest.confirmation = .rolledBack
            try state.save(latest)
        }
        try state.setPending(nil)
        var result = RollbackResult(undone: latest, table: table, removedPolicy: latest.before == nil)
        result.unrestoredBans = unrestored
        return result
    }

    /// Puts the policy file and portctl's table back as they were right after change `sequence`
    /// (from ``history()``), as one new recorded change that can itself be rolled back (a table
    /// renamed since is renamed back). Refused when that change was made through another policy
    /// file or never took hold, while a change awaits confirmation, and (unless `force`) when the
    /// policy file is not what the newest change left. Needs CAP_NET_ADMIN; blocks on the policy lock.
    public func rollBack(to sequence: Int, force: Bool = false) throws -> RollbackResult {
        try withLock(privileged: "rolling back") {
            _ = try refuseWhileConfirmationPending()
            return try rollBackHoldingLock(to: sequence, force: force)
        }
    }

    func rollBackHoldingLock(to sequence: Int, force: Bool) throws -> RollbackResult {
        let entries = try state.history()
        guard let target = entries.first(where: { $0.sequence == sequence }) else {
            throw ChangeError.noSuchChange(sequence: sequence, kept: entries.map(\.sequence))
        }
        if target.policyFile != paths.policyFile {
            throw ChangeError.otherPolicyFile(sequence: sequence, entryFile: target.policyFile, policyFile: paths.policyFile)
        }
        if target.neverHeld { throw ChangeError.neverInForce(sequence: sequence, state: target.confirmation?.description ?? "") }
        guard let latest = try state.latestInForce(policyFile: paths.policyFile) else {
            throw ChangeError.nothingToRollBack(stateDirectory: paths.stateDirectory)
        }
        if !force { try refuseUnlessFileIsAsLeft(by: latest) }
        let (table, unrestored) = try restoreHoldingLock(latest: latest, text: target.after, files: target.afterFiles,
                                                         tableRemoved: target.tableRemovedAfter, kernel: target.kernelAfter,
                                                         sequence: sequence, command: "rollback --to \(sequence)", force: force)
        var result = RollbackResult(undone: latest, table: table, removedPolicy: target.after == nil, restoredTo: sequence)
        result.unrestoredBans = unrestored
        return result
    }

    /// Makes the policy file `text` (a history digest; nil: no file) and the table what it
    /// renders with the address files' snapshot `files` (or no table, when `tableRemoved`), as
    /// one recorded change after `latest`; with `kernel`, the table is made from that instead
    /// (the file and the table were apart: see ``HistoryEntry/kernelAfter``). Returns the table,
    /// and the bans the kernel refused to take back when the table was rewritten. The caller
    /// holds the lock.
    func restoreHoldingLock(latest: HistoryEntry, text digest: String?, files: [String: String]?, tableRemoved: Bool?,
                            kernel: HistoryEntry.TableSource? = nil,
                            sequence: Int, command: String, force: Bool) throws -> (table: String, unrestored: [UnrestoredBan]) {
        let targetText = try state.text(digest)
        let kernelText = kernel != nil ? try state.text(kernel?.policy) : targetText
        if (digest != nil && targetText == nil) || (kernel?.policy != nil && kernelText == nil) {
            throw ChangeError.missingHistory(sequence: sequence, stateDirectory: paths.stateDirectory)
        }
        let table = (try state.text(latest.kernelAfter?.policy ?? latest.after) ?? kernelText ?? targetText).flatMap(Self.tableName)
            ?? PortPolicy.defaultTable
        let live = try firewall.live(table: table)
        var plan = Plan(table: table, changes: [], batch: Batch(), replacesTable: false)
        // Work out the whole change first; then record it, then change the kernel and the file.
        var send: () throws -> Void
        var restoresBansIn: String?
        // No table: there was no policy then, or portctl's table was out of the kernel (disabled,
        // or never made while the file held a policy).
        let removesTable = kernel.map { $0.policy == nil } ?? (targetText == nil || tableRemoved == true)
        if !removesTable, let text = kernelText {
            // The address files as they were when that policy was in force: the kernel gets
            // back the addresses it had, whatever the files hold now.
            let restored = try PolicyFile.decode(text, readSourceFile: snapshotReader(kernel != nil ? kernel?.files : files))
            _ = try guardLockout(restored, force: force)
            if restored.table == table {
                plan = Planner.plan(restored, live: live)
            } else {
                // The change renamed the table: the old name comes back, the new one goes.
                plan = Planner.plan(restored, live: try firewall.live(table: restored.table))
                if live != nil {
                    plan.batch.operations.insert(.deleteTable(table), at: 0)
                    plan.changes.insert(.removeTable(table), at: 0)
                }
            }
            let undo = plan
            send = { try firewall.apply(undo) }
            if plan.recreatesBanSets { restoresBansIn = restored.table }
        } else {
            plan.batch = .removing(table)
            if live != nil {
                plan.changes = [kernel == nil && targetText == nil
                                ? .drift("table inet \(table) removed: there was no policy before change #\(sequence)") : .removeTable(table)]
            }
            send = { try firewall.remove(table: table) }
        }
        // The bans are read before the rewrite drops the kernel's copy of them: damaged ban state
        // stops the rollback here, with nothing changed.
        let bans = restoresBansIn != nil ? try BanStore(directory: paths.stateDirectory).load() : []
        var entry = try appendHistory(command: command, before: latest.after, after: digest, plan: plan, pending: false,
                                      beforeFiles: latest.afterFiles, afterFiles: files,
                                      tableRemovedBefore: latest.tableRemovedAfter, tableRemovedAfter: tableRemoved,
                                      kernelBefore: latest.kernelAfter, kernelAfter: kernel)
        try sendRecorded(&entry, fileFollows: true, send)
        let unrestored = restoresBansIn.map { firewall.restoreBans(bans, table: $0) } ?? []
        try putPolicyFileBack(targetText, completing: &entry)
        return (table, unrestored)
    }

    /// Undoes `latest`, a change that wrote only the policy file (``HistoryEntry/writesFileOnly``):
    /// the file goes back to its bytes before it (or away, when there was none) and the kernel
    /// is not touched, so a draft or an unapplied edit never reaches it and a broken file
    /// restored stays a file. Recorded as one change that itself wrote only the file.
    func restoreFileHoldingLock(latest: HistoryEntry, command: String) throws -> (table: String, unrestored: [UnrestoredBan]) {
        let targetText = try state.text(latest.before)
        if latest.before != nil && targetText == nil {
            throw ChangeError.missingHistory(sequence: latest.sequence, stateDirectory: paths.stateDirectory)
        }
        let table = (try state.text(latest.kernelAfter?.policy ?? latest.after)).flatMap(Self.tableName) ?? PortPolicy.defaultTable
        var entry = try appendHistory(command: command, before: latest.after, after: latest.before,
                                      plan: Plan(table: table, changes: [], batch: Batch(), replacesTable: false), pending: false,
                                      beforeFiles: latest.afterFiles, afterFiles: latest.beforeFiles,
                                      tableRemovedBefore: latest.tableRemovedAfter, tableRemovedAfter: latest.tableRemovedAfter,
                                      kernelBefore: latest.kernelAfter, kernelAfter: latest.kernelAfter, writesFileOnly: true)
        try sendRecorded(&entry, fileFollows: true) {}
        try putPolicyFileBack(targetText, completing: &entry)
        return (table, [])
    }

    /// The last step of a rollback, after the kernel's: the policy file becomes `text` (or goes,
    /// when there was none), and `entry` is complete.
    private func putPolicyFileBack(_ text: String?, completing entry: inout HistoryEntry) throws {
        try interruption?(.kernelChanged)
        if let text {
            try store.save(text: text)
        } else {
            try? FileManager.default.removeItem(atPath: paths.policyFile)
        }
        try completeRecorded(&entry)
    }

    /// Refuses a rollback that would silently discard what the history does not know: the
    /// policy file is not what `latest` left (edited by hand, or the records of later changes
    /// were moved aside).
    func refuseUnlessFileIsAsLeft(by latest: HistoryEntry) throws {
        if try !policyFileHolds(latest.after) {
            throw ChangeError.policyFileNotAsLeft(sequence: latest.sequence, policyFile: paths.policyFile)
        }
    }

    /// Whether the policy file holds the text a history entry names by digest (nil: no file).
    func policyFileHolds(_ digest: String?) throws -> Bool {
        let bytes = try store.readData()
        guard let digest else { return bytes == nil }
        return bytes.map { PlanDocument.digest(Array($0)) == digest } ?? false
    }

    /// Records nothing; runs after `entry` was recorded (progress `recorded`): sends the kernel
    /// change, discarding the entry when the kernel refused it (nothing changed), and marks how
    /// far the change got: `kernelChanged` when a policy file write follows, else complete.
    func sendRecorded(_ entry: inout HistoryEntry, fileFollows: Bool, _ send: () throws -> Void) throws {
        try interruption?(.recorded)
        do {
            try send()
        } catch {
            state.discard(entry)
            throw error
        }
        if fileFollows {
            entry.progress = .kernelChanged
            try state.save(entry)
        } else {
            try interruption?(.kernelChanged)
            try completeRecorded(&entry)
        }
    }

    /// Marks a recorded change complete.
    func completeRecorded(_ entry: inout HistoryEntry) throws {
        entry.progress = nil
        try state.save(entry)
    }

    /// Settles a change whose process was killed before it was complete (its entry still says
    /// how far it got): complete when the policy file holds what it wrote; otherwise marked
    /// `interrupted`, saying what the kernel and the file may hold, and passed over as never in
    /// force. A completed change that awaited confirmation but never got its watchdog is
    /// rolled back, as the watchdog would have done; that rollback is returned. The caller
    /// holds the lock.
    @discardableResult
    func settleInterrupted() throws -> RollbackResult? {
        guard var entry = try state.latest(), let progress = entry.progress else { return nil }
        entry.progress = nil
        switch progress {
        case .kernelChanged where try policyFileHolds(entry.after):
            break
        case .kernelChanged:
            entry.confirmation = .interrupted("killed after the kernel took the batch and before the policy file was written; the kernel holds this change, the file the one before ('portctl plan' shows the difference; 'portctl apply' puts the kernel back to the file)")
        case .recorded:
            entry.confirmation = .interrupted("killed before or while the batch was sent; the kernel may hold it, the policy file does not ('portctl plan' shows any difference; 'portctl apply' puts the kernel back to the file)")
        }
        try state.save(entry)
        if entry.confirmation == .pending, try state.pending() == nil {
            return try rollBackHoldingLock(command: HistoryEntry.automaticRollback, force: true)
        }
        return nil
    }

    /// Refuses a new change while an earlier one waits for confirmation. When the watchdog that
    /// would roll that change back is gone, nothing else would ever undo it: it is rolled back
    /// now, as the watchdog would have, and the result returned. The caller holds the lock.
    func refuseWhileConfirmationPending() throws -> RollbackResult? {
        if let settled = try settleInterrupted() { return settled }
        guard let pending = try state.pending() else { return nil }
        let orphaned = pending.watchdog.map { !DetachedProcess.isRunning($0, withArgument: pending.token) }
            ?? (Date().timeIntervalSince1970 > pending.deadline + 5)
        if orphaned { return try rollBackHoldingLock(command: HistoryEntry.automaticRollback, force: true) }
        throw ChangeError.awaitingConfirmation(sequence: pending.sequence,
                                               secondsLeft: max(0, Int(pending.deadline - Date().timeIntervalSince1970)))
    }

    /// Starts the watchdog that rolls `entry` back unless ``confirm()`` runs in time. It runs in
    /// its own session, so closing the terminal or the SSH connection does not stop it.
    func armConfirmation(_ entry: HistoryEntry, seconds: Int) throws -> PendingConfirmation {
        guard let watchdogCommand, !watchdogCommand.isEmpty else { throw ChangeError.noWatchdog }
        let token = UUID().uuidString
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        var pending = PendingConfirmation(token: token, sequence: entry.sequence, deadline: deadline.timeIntervalSince1970, watchdog: nil)
        try state.setPending(pending)
        var environment = environment
        environment["PORTCTL_STATE_DIR"] = paths.stateDirectory
        environment["PORTCTL_POLICY"] = paths.policyFile
        // The watchdog says it is running by writing to this descriptor (see runWatchdog): one
        // that fails to start, or is not a portctl watchdog at all, is known at once.
        environment[Self.readyDescriptorVariable] = String(DetachedProcess.readyDescriptor)
        do {
            pending.watchdog = try DetachedProcess.spawnAndAwaitReady(watchdogCommand + [token], environment: environment)
        } catch {
            // No watchdog, no deadline: the change is undone now rather than left unguarded.
            let rolledBack = (try? rollBackHoldingLock(command: HistoryEntry.automaticRollback, force: true)) != nil
            throw ChangeError.watchdogFailed(command: watchdogCommand, reason: "\(error)", rolledBack: rolledBack)
        }
        try state.setPending(pending)
        return pending
    }

    /// The environment variable naming the descriptor a watchdog reports its start on.
    static let readyDescriptorVariable = "PORTCTL_WATCHDOG_READY_FD"

    /// Fails with ``ChangeError/noWatchdog`` when a change asks for a confirmation deadline and
    /// no watchdog command was given.
    func requireWatchdog(_ options: ChangeOptions) throws(ChangeError) {
        if options.confirmSeconds != nil && !options.dryRun && (watchdogCommand?.isEmpty ?? true) { throw .noWatchdog }
    }

    /// The watchdog's body: reports that it runs, waits until the deadline of the confirmation
    /// `token`, then rolls the change back unless it was confirmed or replaced meanwhile. Blocks
    /// until then (polling the state folder); takes the policy lock to roll back.
    public func runWatchdog(token: String) throws {
        if let descriptor = environment[Self.readyDescriptorVariable].flatMap(Int32.init), descriptor > 2 {
            DetachedProcess.reportReady(descriptor)
        }
        while let pending = try state.pending(), pending.token == token {
            if Date().timeIntervalSince1970 >= pending.deadline {
                try store.withLock {
                    // Re-check under the lock: a confirm may have just won.
                    guard try state.pending()?.token == token else { return }
                    _ = try rollBackHoldingLock(command: HistoryEntry.automaticRollback, force: true)
                }
                return
            }
            usleep(200_000)
        }
    }

    /// The watchdog command for a program that handles `flag` with
    /// ``runWatchdogIfAsked(arguments:flag:)``: this executable, then `flag` (the token follows).
    public static func watchdog(runningThisProgramWith flag: String) -> [String] {
        [DetachedProcess.currentExecutable, flag]
    }

    /// For a program whose ``watchdogCommand`` is ``watchdog(runningThisProgramWith:)``: when
    /// `arguments` (the program's own, its name first) are `PROGRAM FLAG TOKEN`, runs the
    /// watchdog for TOKEN, with the paths from the environment the change passed on, ignoring
    /// SIGHUP, and returns true once it is done (the program should then exit); false otherwise,
    /// at once. Blocks until the deadline.
    public static func runWatchdogIfAsked(arguments: [String] = CommandLine.arguments, flag: String) throws -> Bool {
        guard arguments.count == 3, arguments[1] == flag else { return false }
        signal(SIGHUP, SIG_IGN)
        try ChangeControl(watchdogCommand: nil).runWatchdog(token: arguments[2])
        return true
    }
}
