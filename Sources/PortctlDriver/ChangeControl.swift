public import Foundation
public import PortPolicy

/// How a change is made: shown only, or applied, with or without the lockout guard and a
/// confirmation deadline.
public struct ChangeOptions: Sendable, Hashable {
    /// Plan only: write neither the policy file nor the kernel.
    public var dryRun: Bool
    /// Roll the change back unless ``ChangeControl/confirm()`` runs within this many seconds.
    public var confirmSeconds: Int?
    /// Skip the check against blocking the SSH connection the process runs in.
    public var force: Bool

    /// Makes options; by default the change is applied, guarded, with no deadline.
    public init(dryRun: Bool = false, confirmSeconds: Int? = nil, force: Bool = false) {
        self.dryRun = dryRun
        self.confirmSeconds = confirmSeconds
        self.force = force
    }
}

/// Who makes changes, for the history: the login, the SSH client, and the command line.
public struct Actor: Sendable, Hashable {
    /// The login name (or uid), with the sudo user when run through sudo.
    public var user: String
    /// The SSH client's address and port, when run over SSH.
    public var sshClient: String?
    /// The program and its arguments, as recorded in each history entry.
    public var arguments: [String]

    /// Makes an actor from parts.
    public init(user: String, sshClient: String?, arguments: [String]) {
        self.user = user
        self.sshClient = sshClient
        self.arguments = arguments
    }

    /// This process: its user, `SSH_CONNECTION`, and its command line without the program name.
    public static func current(environment: [String: String], arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Actor {
        let found = StateStore.actor(environment: environment)
        return Actor(user: found.user, sshClient: found.sshClient, arguments: arguments)
    }
}

/// Something the caller should tell whoever asked for the change; none of it stopped the change.
public enum ChangeWarning: Sendable, Hashable {
    /// An inbound allow now admits any source address.
    case openToAnySource(PortRule)
    /// Another table publishes this port by DNAT, and the policy lets nobody reach it: under
    /// `defaults.published: filter` its connections are dropped.
    case publishedPortDropped(PublishedPort)
    /// The SSH login is admitted, but only under a tight rate limit (the guard's sentence).
    case tightLimit(String)
    /// `SSH_CONNECTION` could not be read and the guard was skipped on request (`force`).
    case lockoutUnchecked(sshConnection: String)
    /// Outbound traffic does not go as the admin may think: an outbound allow under the outbound
    /// default accept changes nothing, or the outbound default drop stops DNS, NTP and updates
    /// (the sentence of `PortPolicy.outboundNotes(after:)`).
    case outbound(String)
    /// The confirmation watchdog of change `sequence` had died, so that change was rolled back
    /// before this one, as the watchdog would have done.
    case orphanRolledBack(RollbackResult)
}

/// What a change did, or with ``ChangeOptions/dryRun``, would do.
public struct ChangeResult: Sendable {
    /// The policy after the change.
    public var policy: PortPolicy
    /// The edits made to the policy (openings that had expired first), in order.
    public var policyChanges: [PolicyChange]
    /// Whether the policy file was (or would be) created: there was none.
    public var createdPolicyFile: Bool
    /// Whether the policy file's text changed (or would change).
    public var policyChanged: Bool
    /// The plan against the live table; nil for a dry run without the privilege to read it.
    public var plan: Plan?
    /// `PlanDocument/digest(_:)` of the live table when planned ("unknown" without a plan).
    public var liveDigest: String
    /// The policy file's bytes before the change (empty when there was none).
    public var previousBytes: [UInt8]
    /// Whether the kernel and file were changed (false for a dry run or when nothing differed).
    public var applied: Bool
    /// The history entry recorded for the change.
    public var entry: HistoryEntry?
    /// The confirmation deadline armed for it.
    public var confirmation: PendingConfirmation?
    /// What the caller should say besides the change itself.
    public var warnings: [ChangeWarning]

    /// Whether anything would change (a dry run's answer) or did.
    public var isPending: Bool { policyChanged || !(plan?.isEmpty ?? true) }

    /// A result before anything was applied: no edits, entry, confirmation or warnings yet.
    init(policy: PortPolicy, policyChanged: Bool, plan: Plan?, liveDigest: String, previousBytes: [UInt8]) {
        self.policy = policy
        self.policyChanges = []
        self.createdPolicyFile = false
        self.policyChanged = policyChanged
        self.plan = plan
        self.liveDigest = liveDigest
        self.previousBytes = previousBytes
        self.applied = false
        self.entry = nil
        self.confirmation = nil
        self.warnings = []
    }
}

/// What a rollback did.
public struct RollbackResult: Sendable, Hashable {
    /// The change undone.
    public var undone: HistoryEntry
    /// The table put back or removed.
    public var table: String
    /// Whether the undone change had created the policy: the table and file were removed.
    public var removedPolicy: Bool
}

/// portctl's change pipeline, for the CLI and for any Swift tool that embeds portctl: load the
/// policy, edit it, plan against the live table, guard the SSH connection, apply in one atomic
/// batch, write the file, record the history, arm a confirmation deadline, roll back, confirm,
/// apply a reviewed plan unless it went stale, disable. Every change runs under the state
/// folder's lock. Nothing here prints.
public struct ChangeControl: Sendable {
    /// The policy file and state folder.
    public var paths: PortctlPaths
    /// The kernel (or a fake one).
    public var firewall: Firewall
    /// The environment read for `SSH_CONNECTION` (the lockout guard and first-run SSH port).
    public var environment: [String: String]
    /// Who the history names.
    public var actor: Actor
    /// The command that starts a confirmation watchdog; the token is appended. The process must
    /// call ``runWatchdog(token:)`` with it. By default: this executable with `watchdog --token`.
    public var watchdogCommand: [String]
    /// Whether this process may change nftables; by default, whether it has CAP_NET_ADMIN.
    public var privileged: Bool

    /// Makes the pipeline: paths from `PORTCTL_POLICY` and `PORTCTL_STATE_DIR` unless given,
    /// the real kernel unless another firewall is given.
    public init(paths: PortctlPaths? = nil, firewall: Firewall = Firewall(),
                environment: [String: String] = ProcessInfo.processInfo.environment,
                actor: Actor? = nil, watchdogCommand: [String]? = nil, privileged: Bool? = nil) {
        self.paths = paths ?? PortctlPaths.resolve(policyOption: nil, environment: environment)
        self.firewall = firewall
        self.environment = environment
        self.actor = actor ?? .current(environment: environment)
        self.watchdogCommand = watchdogCommand ?? [DetachedProcess.currentExecutable, "watchdog", "--token"]
        self.privileged = privileged ?? Privilege.hasNetAdmin
    }

    var store: PolicyStore { PolicyStore(paths: paths) }
    var state: StateStore { StateStore(directory: paths.stateDirectory) }

    // MARK: Reading

    /// The policy file's policy and bytes, or nil when there is none.
    public func loadPolicy() throws -> (policy: PortPolicy, bytes: Data)? {
        try store.loadWithBytes()
    }

    /// The policy file's policy and bytes; ``ChangeError/noPolicyFile(path:)`` when there is none.
    public func requirePolicy() throws -> (policy: PortPolicy, bytes: Data) {
        guard let loaded = try loadPolicy() else { throw ChangeError.noPolicyFile(path: paths.policyFile) }
        return loaded
    }

    /// The change history, oldest first. A state folder others could have written is refused.
    public func history() throws -> [HistoryEntry] {
        try refuseUntrustedStateFolder()
        return try state.history()
    }

    /// A text the history keeps by digest (a policy or a batch).
    public func historyText(_ digest: String?) -> String? { state.text(digest) }

    /// Refuses a state folder that users other than root could have written (it, a folder
    /// above it, or a link on the way), for readers that do not take the lock.
    public func refuseUntrustedStateFolder() throws {
        var info = stat()
        if lstat(paths.stateDirectory, &info) == 0, !TrustedFiles.isTrustedStateDirectory(paths.stateDirectory) {
            throw ChangeError.untrustedStateFolder(path: paths.stateDirectory)
        }
    }

    /// Runs `body` holding the state folder's lock, after checking the privilege `doing` needs.
    /// A dry run without the privilege runs without the lock: it cannot read the kernel, and it
    /// writes nothing.
    public func withLock<T>(privileged doing: String, dryRun: Bool = false, _ body: () throws -> T) throws -> T {
        if dryRun {
            // A dry run writes nothing: no state folder, no lock file (it changes nothing another
            // command could see half done). A state folder that exists must still be trusted.
            if privileged && FileManager.default.fileExists(atPath: paths.stateDirectory) {
                try TrustedFiles.checkStateDirectory(paths.stateDirectory)
            }
            return try body()
        }
        try requirePrivilege(doing)
        return try store.withLock(body)
    }

    /// Fails with ``ChangeError/needsPrivilege(doing:)`` unless the process may change nftables.
    public func requirePrivilege(_ doing: String) throws(ChangeError) {
        if !privileged { throw .needsPrivilege(doing: doing) }
    }

    // MARK: Changing the policy

    /// Reads the policy (a first-run policy allowing SSH when there is no file), removes expired
    /// openings, applies `edit`, validates, and commits the result: plans it against the kernel,
    /// and unless ``ChangeOptions/dryRun`` applies it, writes the file and records the change as
    /// `command`.
    public func change(_ command: String, options: ChangeOptions = ChangeOptions(),
                       edit: (inout PortPolicy) throws -> [PolicyChange]) throws -> ChangeResult {
        try withLock(privileged: "changing the firewall", dryRun: options.dryRun) {
            // Before reading the policy: an orphaned --confirm change is rolled back first.
            let orphan = options.dryRun ? nil : try refuseWhileConfirmationPending()
            let loaded = try store.loadWithBytes()
            var policy = loaded?.policy ?? PortPolicy.firstRun(sshPort: sshServerPort)
            let expired = policy.removeExpired(at: Date())
            let before = policy
            let changes = expired.map { PolicyChange.removed($0) } + (try edit(&policy))
            try policy.validate()
            let previousText = loaded.map { String(decoding: $0.bytes, as: UTF8.self) }
            let changed = policy != before || loaded == nil || !expired.isEmpty
            var result = try commit(policy, fileText: changed ? PolicyFile.encode(policy) : previousText, previous: loaded,
                                    policyChanged: changed, options: options, command: command)
            result.policyChanges = changes
            result.createdPolicyFile = loaded == nil
            result.warnings = (orphan.map { [.orphanRolledBack($0)] } ?? []) + Self.anySourceWarnings(changes)
                + policy.outboundNotes(after: changes).map(ChangeWarning.outbound) + result.warnings
            return result
        }
    }

    /// Makes the kernel match the policy file as it stands.
    public func applyPolicyFile(options: ChangeOptions = ChangeOptions()) throws -> ChangeResult {
        try withLock(privileged: "applying the policy", dryRun: options.dryRun) {
            let orphan = options.dryRun ? nil : try refuseWhileConfirmationPending()
            let loaded = try requirePolicy()
            let text = String(decoding: loaded.bytes, as: UTF8.self)
            var result = try commit(loaded.policy, fileText: text, previous: loaded, policyChanged: false,
                                    options: options, command: "apply")
            if let orphan { result.warnings.insert(.orphanRolledBack(orphan), at: 0) }
            return result
        }
    }

    /// Reads a candidate policy for ``replacePolicy(with:source:options:)``: standard input (`-`)
    /// as it comes; a file only if root could trust it as the policy file it is to become (root's,
    /// in root's folders: no one else's link to a secret), and only UTF-8 text.
    public static func readCandidatePolicy(_ path: String) throws -> String {
        let data: Data?
        if path == "-" {
            data = try TrustedFiles.readInput(path, limit: PolicyStore.maximumFileSize)
        } else {
            data = try TrustedFiles.read(path, what: "new policy file", maximumSize: PolicyStore.maximumFileSize)
        }
        guard let data else { throw SystemError("cannot read new policy file \(path): no such file") }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PolicyFileError(path: path, error: .invalidDocument("the file is not UTF-8 text (is it a binary file?)"))
        }
        return text
    }

    /// Makes `text` the policy: validates it, plans it against the kernel, guards the SSH
    /// session, applies it, and only then writes it over the policy file byte for byte, as one
    /// recorded change (a rollback restores the file and table before it, or removes both when
    /// there was no policy). `source` names where the text came from, in errors.
    public func replacePolicy(with text: String, source: String, options: ChangeOptions = ChangeOptions()) throws -> ChangeResult {
        let policy: PortPolicy
        do {
            policy = try PolicyStore.decode(text)
        } catch {
            throw PolicyFileError(path: source, error: error)
        }
        return try withLock(privileged: "applying the policy", dryRun: options.dryRun) {
            let orphan = options.dryRun ? nil : try refuseWhileConfirmationPending()
            let loaded = try store.loadWithBytes()
            // Bytes, not strings: Swift's String equality calls "é" and "e\u{301}" the same.
            let changed = loaded.map { Array($0.bytes) != Array(text.utf8) } ?? true
            var result = try commit(policy, fileText: text, previous: loaded, policyChanged: changed,
                                    options: options, command: "apply")
            result.createdPolicyFile = loaded == nil
            if let orphan { result.warnings.insert(.orphanRolledBack(orphan), at: 0) }
            return result
        }
    }

    /// Plans the policy file against the kernel without changing anything (`portctl plan`).
    public func plan() throws -> (policy: PortPolicy, bytes: Data, plan: Plan, liveDigest: String) {
        try withLock(privileged: "reading the kernel's table") {
            let loaded = try requirePolicy()
            let planned = try firewall.plan(loaded.policy, stateDirectory: paths.stateDirectory,
                                            previousTable: previousTable(previousText: nil))
            return (loaded.policy, loaded.bytes, planned.plan, planned.liveFingerprint)
        }
    }

    /// Plans, guards and (unless a dry run) applies `policy`, writes `fileText` when the policy
    /// changed, records the change, and arms the confirmation deadline. The caller holds the lock.
    func commit(_ policy: PortPolicy, fileText: String?, previous: (policy: PortPolicy, bytes: Data)?, policyChanged: Bool,
                options: ChangeOptions, command: String) throws -> ChangeResult {
        let previousText = previous.map { String(decoding: $0.bytes, as: UTF8.self) }
        var result = ChangeResult(policy: policy, policyChanged: policyChanged, plan: nil, liveDigest: "unknown",
                                  previousBytes: previous.map { Array($0.bytes) } ?? [])
        result.warnings += try guardLockout(policy, force: options.force, confirmSeconds: options.dryRun ? nil : options.confirmSeconds)
        // A dry run without the privilege cannot read the kernel: it has no plan.
        if options.dryRun && !privileged { return result }
        let planned = try firewall.plan(policy, stateDirectory: paths.stateDirectory, held: previous?.policy,
                                        previousTable: previousTable(previousText: previousText, previousPolicy: previous?.policy),
                                        recordingCache: !options.dryRun)
        let plan = planned.plan
        result.plan = plan
        result.liveDigest = planned.liveFingerprint
        if options.dryRun {
            result.warnings += publishedWarnings(policy)
            return result
        }
        try firewall.apply(planned, stateDirectory: paths.stateDirectory)
        // A new or rewritten table comes without the bans: they are state, put back from the state folder.
        if plan.recreatesBanSets { firewall.restoreBans(table: policy.table, stateDirectory: paths.stateDirectory) }
        if plan.isEmpty && !policyChanged { return result }
        // The history entry is written before the policy file is renamed: a kill between the two
        // leaves a trail of what the kernel holds (plan then shows the file behind), never a change
        // that the history does not know.
        var entry = try record(command: command, previousText: previousText, after: fileText, plan: plan,
                               pending: options.confirmSeconds != nil, beforePolicy: previous?.policy, afterPolicy: policy)
        if policyChanged, let fileText {
            do {
                try store.save(text: fileText)
            } catch {
                entry.confirmation = "undone: the policy file could not be written"
                try? state.save(entry)
                // Keep kernel and file in step: put the previous ruleset back.
                var undo = Plan(table: policy.table, changes: [], batch: Batch(), replacesTable: false)
                if let previous {
                    // Back to the previous table, under the previous name (a change may have renamed
                    // it); the new name's table goes only if this change created it.
                    undo = Planner.plan(previous.policy, live: (try? firewall.live(table: previous.policy.table)) ?? nil)
                    if previous.policy.table != policy.table, plan.changes.contains(.createTable) {
                        undo.batch.operations.insert(.deleteTable(policy.table), at: 0)
                    }
                    try? firewall.apply(undo)
                    if undo.recreatesBanSets { firewall.restoreBans(table: previous.policy.table, stateDirectory: paths.stateDirectory) }
                } else {
                    try? firewall.remove(table: policy.table)
                    undo.batch = .removing(policy.table)
                }
                _ = undo
                throw error
            }
        }
        result.applied = true
        result.entry = entry
        result.warnings += publishedWarnings(policy)
        if let seconds = options.confirmSeconds { result.confirmation = try armConfirmation(entry, seconds: seconds) }
        return result
    }

    // MARK: Saved plans

    /// Applies a plan saved by `portctl plan -o` exactly as reviewed, unless the policy file or
    /// the table changed since, or its batch is not what portctl plans for them (an edited plan).
    /// With ``ChangeOptions/dryRun`` only the checks run.
    public func applySavedPlan(at path: String, options: ChangeOptions = ChangeOptions()) throws -> (document: PlanDocument, plan: Plan, result: ChangeResult) {
        try withLock(privileged: "applying the policy", dryRun: options.dryRun) {
            let orphan = options.dryRun ? nil : try refuseWhileConfirmationPending()
            func refuse(_ problem: SavedPlanProblem) -> ChangeError { .savedPlan(path: path, problem: problem) }
            // A saved plan is trusted like the policy file: root's, in folders only root can write.
            guard let data = try TrustedFiles.read(path, what: "plan file", maximumSize: 4 * PolicyStore.maximumFileSize) else {
                throw refuse(.missing)
            }
            let document: PlanDocument
            do {
                document = try PlanDocument.decode(data)
            } catch {
                throw refuse(.unreadable(String(describing: error)))
            }
            if !document.isIntact { throw refuse(.edited) }
            let (policy, bytes) = try requirePolicy()
            if PlanDocument.digest(bytes) != document.policyDigest { throw refuse(.policyChanged(policyFile: paths.policyFile)) }
            if policy.table != document.table { throw refuse(.otherTable(planned: document.table, policy: policy.table)) }
            let live = try firewall.live(table: policy.table)
            if PlanDocument.digest(live) != document.liveDigest { throw refuse(.tableChanged(table: document.table)) }
            // The script runs only if it is exactly what the planner makes for this policy against
            // this table: a saved plan cannot carry anything else into the kernel.
            let previous = previousTable(previousText: nil)
            var reviewed = Planner.plan(policy, live: live, now: Date(timeIntervalSince1970: document.plannedAt))
            firewall.removePreviousTable(previous, in: &reviewed)
            if reviewed.script != document.script { throw refuse(.notPortctls(readsAddressFiles: policy.rules.contains(where: \.readsFiles))) }
            // Time moved on since the review: what is sent is the same plan made now, so that
            // --for timeouts count from now and an opening that expired meanwhile stays closed.
            // It must be the reviewed batch but for those countdowns; otherwise the plan is stale.
            var plan = Planner.plan(policy, live: live)
            firewall.removePreviousTable(previous, in: &plan)
            if Self.withoutCountdowns(plan.script) != Self.withoutCountdowns(document.script) { throw refuse(.expiredSince) }
            var result = ChangeResult(policy: policy, policyChanged: false, plan: plan, liveDigest: document.liveDigest,
                                      previousBytes: Array(bytes))
            result.warnings = orphan.map { [.orphanRolledBack($0)] } ?? []
            result.warnings += try guardLockout(policy, force: options.force, confirmSeconds: options.confirmSeconds)
            if options.dryRun || plan.isEmpty { return (document, plan, result) }
            try firewall.run(plan.batch)
            if plan.recreatesBanSets { firewall.restoreBans(table: policy.table, stateDirectory: paths.stateDirectory) }
            let text = String(decoding: bytes, as: UTF8.self)
            let entry = try record(command: "apply-plan", previousText: text, after: text, plan: plan, pending: options.confirmSeconds != nil,
                                   beforePolicy: policy, afterPolicy: policy)
            result.applied = true
            result.entry = entry
            if let seconds = options.confirmSeconds { result.confirmation = try armConfirmation(entry, seconds: seconds) }
            return (document, plan, result)
        }
    }

    /// A batch with its timeout and expiry figures blanked, to compare batches made at
    /// different moments.
    static func withoutCountdowns(_ script: String) -> String {
        script.replacingOccurrences(of: #"(timeout|expires) [0-9dhms]+"#, with: "$1 _", options: .regularExpression)
    }

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
            if options.dryRun || !exists { return result }
            if let orphan = try refuseWhileConfirmationPending() { result.warnings.append(.orphanRolledBack(orphan)) }
            try firewall.remove(table: table)
            let text = bytes.map { String(decoding: $0, as: UTF8.self) }
            let entry = try record(command: "disable", previousText: text, after: text, plan: plan, pending: options.confirmSeconds != nil,
                                   beforePolicy: loaded?.policy, afterPolicy: loaded?.policy, removesTable: true)
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
            guard let pending = state.pending() else {
                if let latest = try state.latestInForce(), latest.command == "auto-rollback" {
                    throw ChangeError.confirmedTooLate(sequence: latest.sequence, rolledBackAt: latest.time)
                }
                return nil
            }
            try state.setPending(nil)
            if var entry = try state.history().last(where: { $0.sequence == pending.sequence }) {
                entry.confirmation = "confirmed"
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
        guard var latest = try state.latestInForce() else { throw ChangeError.nothingToRollBack(stateDirectory: paths.stateDirectory) }
        let beforeText = state.text(latest.before)
        if latest.before != nil && beforeText == nil {
            throw ChangeError.missingHistory(sequence: latest.sequence, stateDirectory: paths.stateDirectory)
        }
        let table = (state.text(latest.after) ?? beforeText).flatMap(Self.tableName) ?? PortPolicy.defaultTable
        let live = try firewall.live(table: table)
        var plan = Plan(table: table, changes: [], batch: Batch(), replacesTable: false)
        if let text = beforeText, latest.tableRemovedBefore == true {
            // Before the change, portctl's table was out of the kernel (disabled): so it goes again.
            try firewall.remove(table: table)
            plan.batch = .removing(table)
            if live != nil { plan.changes = [.removeTable(table)] }
            try store.save(text: text)
        } else if let text = beforeText {
            // The address files as they were when that policy was in force: the kernel gets
            // back the addresses it had, whatever the files hold now.
            let previous = try PolicyFile.decode(text, readSourceFile: snapshotReader(latest.beforeFiles))
            _ = try guardLockout(previous, force: force)
            if previous.table == table {
                plan = Planner.plan(previous, live: live)
            } else {
                // The change renamed the table: the old name comes back, the new one goes.
                plan = Planner.plan(previous, live: try firewall.live(table: previous.table))
                if live != nil {
                    plan.batch.operations.insert(.deleteTable(table), at: 0)
                    plan.changes.insert(.removeTable(table), at: 0)
                }
            }
            try firewall.apply(plan)
            if plan.recreatesBanSets { firewall.restoreBans(table: previous.table, stateDirectory: paths.stateDirectory) }
            try store.save(text: text)
        } else {
            // The change being undone created the policy: before it there was no portctl table.
            try firewall.remove(table: table)
            plan.batch = .removing(table)
            if live != nil { plan.changes = [.drift("table inet \(table) removed: there was no policy before change #\(latest.sequence)")] }
            try? FileManager.default.removeItem(atPath: paths.policyFile)
        }
        if latest.confirmation == "pending" {
            latest.confirmation = "rolled back"
            try state.save(latest)
        }
        try state.setPending(nil)
        try appendHistory(command: command, before: latest.after, after: latest.before, plan: plan, pending: false,
                          beforeFiles: latest.afterFiles, afterFiles: latest.beforeFiles,
                          tableRemovedBefore: latest.tableRemovedAfter, tableRemovedAfter: latest.tableRemovedBefore)
        return RollbackResult(undone: latest, table: table, removedPolicy: latest.before == nil)
    }

    /// Refuses a new change while an earlier one waits for confirmation. When the watchdog that
    /// would roll that change back is gone, nothing else would ever undo it: it is rolled back
    /// now, as the watchdog would have, and the result returned. The caller holds the lock.
    func refuseWhileConfirmationPending() throws -> RollbackResult? {
        guard let pending = state.pending() else { return nil }
        let orphaned = pending.watchdog.map { !DetachedProcess.isRunning($0, withArgument: pending.token) }
            ?? (Date().timeIntervalSince1970 > pending.deadline + 5)
        if orphaned { return try rollBackHoldingLock(command: "auto-rollback", force: true) }
        throw ChangeError.awaitingConfirmation(sequence: pending.sequence,
                                               secondsLeft: max(0, Int(pending.deadline - Date().timeIntervalSince1970)))
    }

    /// Starts the watchdog that rolls `entry` back unless ``confirm()`` runs in time. It runs in
    /// its own session, so closing the terminal or the SSH connection does not stop it.
    func armConfirmation(_ entry: HistoryEntry, seconds: Int) throws -> PendingConfirmation {
        let token = UUID().uuidString
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        var pending = PendingConfirmation(token: token, sequence: entry.sequence, deadline: deadline.timeIntervalSince1970, watchdog: nil)
        try state.setPending(pending)
        var environment = environment
        environment["PORTCTL_STATE_DIR"] = paths.stateDirectory
        environment["PORTCTL_POLICY"] = paths.policyFile
        do {
            pending.watchdog = try DetachedProcess.spawn(watchdogCommand + [token], environment: environment)
            try state.setPending(pending)
        } catch {
            try? state.setPending(nil)
            throw error
        }
        return pending
    }

    /// The watchdog's body: waits until the deadline of the confirmation `token`, then rolls
    /// the change back unless it was confirmed or replaced meanwhile.
    public func runWatchdog(token: String) throws {
        while let pending = state.pending(), pending.token == token {
            if Date().timeIntervalSince1970 >= pending.deadline {
                try store.withLock {
                    // Re-check under the lock: a confirm may have just won.
                    guard state.pending()?.token == token else { return }
                    _ = try rollBackHoldingLock(command: "auto-rollback", force: true)
                }
                return
            }
            usleep(200_000)
        }
    }

    // MARK: History

    /// The table the policy named before this change: the last recorded change's, else the file's.
    func previousTable(previousText: String?, previousPolicy: PortPolicy? = nil) -> String? {
        let text = (try? state.latestInForce()).flatMap { $0 }.flatMap { state.text($0.after) } ?? previousText
        // Usually the last change left the file as it is: its table is known without decoding
        // the text again (a 100,000-source policy takes 50 ms to decode).
        if let previousPolicy, let text, text == previousText { return previousPolicy.table }
        return text.flatMap(Self.tableName)
    }

    /// The table a policy text names, read without its address files (they do not name it).
    public static func tableName(_ text: String) -> String? {
        (try? PolicyFile.decode(text) { _ throws(PolicyError) in [] })?.table
    }

    /// The table the policy file names, even when an address file it reads is broken: bans,
    /// unbans and `disable` need no more than that.
    func policyTable() throws -> String {
        guard let data = try store.readData() else { throw ChangeError.noPolicyFile(path: paths.policyFile) }
        if let table = Self.tableName(String(decoding: data, as: UTF8.self)) { return table }
        return try requirePolicy().policy.table
    }

    /// Keeps the addresses each address file of `policy` gave, in the history's text store.
    func snapshot(_ policy: PortPolicy?) throws -> [String: String]? {
        guard let policy else { return nil }
        var files: [String: String] = [:]
        for rule in policy.rules {
            for file in rule.sourceFiles {
                guard let networks = file.networks else { continue }
                files[file.path] = try state.store(networks.map(\.description).joined(separator: "\n") + "\n")
            }
        }
        return files.isEmpty ? nil : files
    }

    /// Reads address files from a history snapshot, and files the snapshot lacks from disk.
    func snapshotReader(_ files: [String: String]?) -> (String) throws(PolicyError) -> [IPNetwork] {
        let state = state
        return { path throws(PolicyError) in
            guard let digest = files?[path] else { return try PolicyStore.readSourceFile(path) }
            guard let text = state.text(digest) else {
                throw .invalidSource("@" + path, reason: "the history lost the addresses this file held then (\(digest)); nothing was rolled back")
            }
            return try IPNetwork.parseList(text, name: path, allowEmpty: true)
        }
    }

    /// Records an applied change. `before` is the policy in force before: what the previous
    /// entry applied, else the file as it was; likewise for the address files' snapshots.
    func record(command: String, previousText: String?, after: String?, plan: Plan, pending: Bool,
                beforePolicy: PortPolicy?, afterPolicy: PortPolicy?, removesTable: Bool = false) throws -> HistoryEntry {
        let latest = try state.latestInForce()
        let before: String? = if let latest { latest.after } else { try previousText.map(state.store) }
        let beforeFiles = latest != nil ? latest?.afterFiles : try snapshot(beforePolicy)
        return try appendHistory(command: command, before: before, after: try after.map(state.store), plan: plan, pending: pending,
                                 beforeFiles: beforeFiles, afterFiles: try snapshot(afterPolicy),
                                 tableRemovedBefore: latest?.tableRemovedAfter, tableRemovedAfter: removesTable ? true : nil)
    }

    @discardableResult
    func appendHistory(command: String, before: String?, after: String?, plan: Plan, pending: Bool,
                       beforeFiles: [String: String]?, afterFiles: [String: String]?,
                       tableRemovedBefore: Bool? = nil, tableRemovedAfter: Bool? = nil) throws -> HistoryEntry {
        var entry = HistoryEntry(
            sequence: 0, time: StateStore.now(), user: actor.user, sshClient: actor.sshClient, command: command,
            arguments: actor.arguments, policyFile: paths.policyFile, before: before, after: after,
            changes: plan.changes.map(PlanDocument.Change.init), script: try state.store(plan.script),
            confirmation: pending ? "pending" : nil)
        entry.beforeFiles = beforeFiles
        entry.afterFiles = afterFiles
        entry.tableRemovedBefore = tableRemovedBefore == true ? true : nil
        entry.tableRemovedAfter = tableRemovedAfter == true ? true : nil
        return try state.record(entry)
    }

    // MARK: Guards and warnings

    /// The server port of the SSH connection the process runs over.
    var sshServerPort: UInt16? { environment["SSH_CONNECTION"].flatMap(SSHConnection.init(environmentValue:))?.port }

    /// Refuses a policy that would block a new SSH login over the connection the process runs
    /// in, now or when a time-boxed allow expires (unless it outlives `confirmSeconds`). With
    /// `force` nothing is refused. Returns the warnings to pass on.
    public func guardLockout(_ policy: PortPolicy, force: Bool, confirmSeconds: Int? = nil) throws -> [ChangeWarning] {
        guard let value = environment["SSH_CONNECTION"] else { return [] }
        guard let connection = SSHConnection(environmentValue: value) else {
            if force { return [.lockoutUnchecked(sshConnection: value)] }
            throw ChangeError.unreadableSSHConnection(value: value)
        }
        if force { return [] }
        // The interface holding the server address is taken as the one the login arrives on; an
        // address on lo (a service address) says nothing about that, so no interface is assumed
        // and rules limited to an interface do not count.
        let interface = LocalInterfaces.name(holding: connection.server).flatMap { $0 == "lo" ? nil : $0 }
        let now = Date()
        let deadline = confirmSeconds.map { now.addingTimeInterval(TimeInterval($0)) }
        if let decision = LockoutGuard.blockingDecision(policy, connection: connection, interface: interface, now: now, deadline: deadline) {
            throw ChangeError.wouldLockOut(decision: decision, connection: connection,
                                           expiring: LockoutGuard.expiringAllow(policy, connection: connection, interface: interface, now: now))
        }
        return LockoutGuard.tightLimit(policy, connection: connection, interface: interface, now: now, deadline: deadline)
            .map { [.tightLimit($0)] } ?? []
    }

    /// Ports other tables publish by DNAT that the policy lets nobody reach. Nothing when the
    /// ruleset cannot be read.
    public func publishedWarnings(_ policy: PortPolicy) -> [ChangeWarning] {
        guard privileged, let published = try? firewall.publishedPorts(excluding: policy.table) else { return [] }
        return ExposureAudit.dropped(policy, published: published).map(ChangeWarning.publishedPortDropped)
    }

    /// Warnings for edits that leave inbound traffic open to any address.
    static func anySourceWarnings(_ changes: [PolicyChange]) -> [ChangeWarning] {
        changes.compactMap { change in
            switch change {
            // Coverage is computed: 0.0.0.0/0 and ::/0 (or networks adding up to a family) are
            // "any source" as much as no `from` at all.
            case let .added(rule) where rule.admitsAnySource && rule.action == .allow && rule.direction == .in:
                .openToAnySource(rule)
            case let .widened(rule, added) where rule.direction == .in && rule.action == .allow
                && (added.isEmpty ? rule.admitsAnySource : rule.wholeFamilies.contains { family in added.contains { $0.family == family } }):
                .openToAnySource(rule)
            default:
                nil
            }
        }
    }
}

/// What a ban did, or with ``ChangeOptions/dryRun``, would do.
public struct BanResult: Sendable {
    /// The bans added (or that would be).
    public var banned: [Ban]
    /// Sources left alone because a ban covers them already, with the covering ban's network.
    public var alreadyBanned: [(network: IPNetwork, by: String)]
    /// The batch that adds them.
    public var batch: Batch
}

extension ChangeControl {
    /// Bans sources on every port, before any allow, until `expires` (or until unbanned). Bans
    /// are state, kept in the state folder and put back whenever the table is rewritten.
    /// Refuses to ban the SSH client the process runs for unless `options.force`.
    public func ban(_ networks: [IPNetwork], expires: Date?, comment: String?, options: ChangeOptions = ChangeOptions()) throws -> BanResult {
        try withLock(privileged: "banning", dryRun: options.dryRun) {
            let table = try policyTable()
            if !options.force, let client = environment["SSH_CONNECTION"].flatMap(SSHConnection.init(environmentValue:))?.client,
               let own = networks.first(where: { $0.contains(client) }) {
                throw ChangeError.wouldBanOwnClient(network: own, client: client)
            }
            let store = BanStore(directory: paths.stateDirectory)
            // Single addresses go into a plain set: banning one again only renews it, so the
            // list is read only when networks are banned (their sets must not overlap).
            let merged = IPNetwork.merged(networks)
            let anyNetwork = merged.contains { $0.prefixLength < $0.family.bitWidth }
            let existing = privileged && anyNetwork ? store.load() : []
            var result = BanResult(banned: [], alreadyBanned: [], batch: Batch())
            for network in merged {
                if let covering = existing.first(where: { ($0.parsed.map { $0.contains(network.address) && $0.prefixLength <= network.prefixLength }) ?? false }) {
                    result.alreadyBanned.append((network, covering.network))
                    continue
                }
                if network.prefixLength < network.family.bitWidth,
                   let overlap = existing.first(where: { ($0.parsed.map { $0.prefixLength < $0.family.bitWidth && network.contains($0.address) }) ?? false }) {
                    throw ChangeError.banCoversBan(network: network, banned: overlap.network)
                }
                result.banned.append(Ban(network: network, expires: expires, comment: comment))
            }
            result.batch = Firewall.banBatch(result.banned, table: table)
            if options.dryRun || result.banned.isEmpty { return result }
            do {
                try firewall.addBans(result.banned, table: table)
            } catch let error as NftablesError where error.kind == .notFound {
                throw ChangeError.noBanSets(table: table)
            }
            try store.append(result.banned)
            return result
        }
    }

    /// The bans in force, from the state folder, each with the packets it dropped when the
    /// kernel can be read.
    public func bans() throws -> [Ban] {
        try refuseUntrustedStateFolder()
        var bans = BanStore(directory: paths.stateDirectory).load()
        guard privileged, !bans.isEmpty else { return bans }
        let hits = firewall.banHits(table: (try? policyTable()) ?? PortPolicy.defaultTable)
        for index in bans.indices { bans[index].hits = bans[index].parsed.flatMap { hits[$0] } }
        return bans
    }

    /// Lifts bans. Returns the sources unbanned and those that were not banned (the kernel
    /// may have let them go already: that is no error).
    public func unban(_ networks: [IPNetwork]) throws -> (lifted: [IPNetwork], notBanned: [IPNetwork]) {
        try withLock(privileged: "lifting bans") {
            let table = try policyTable()
            let store = BanStore(directory: paths.stateDirectory)
            var bans = store.load()
            let listed = Set(bans.compactMap(\.parsed))
            let lifted = networks.filter(listed.contains)
            try firewall.removeBans(lifted, table: table)
            bans.removeAll { ban in ban.parsed.map { lifted.contains($0) } ?? false }
            try store.save(bans)
            return (lifted, networks.filter { !listed.contains($0) })
        }
    }
}
