public import Foundation
public import PortPolicy

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
    public var author: ChangeAuthor
    /// The command that starts a confirmation watchdog; the token is appended. The program must
    /// call ``runWatchdog(token:)`` with it (``runWatchdogIfAsked(arguments:flag:)`` does that for
    /// a program started with ``watchdog(runningThisProgramWith:)``). nil: no watchdog, and a
    /// change with a confirmation deadline is refused (``ChangeError/noWatchdog``): portctl never
    /// starts a program its caller did not name.
    public var watchdogCommand: [String]?
    /// Whether this process may change nftables; by default, whether it has CAP_NET_ADMIN.
    public var privileged: Bool
    /// How long a change waits for the state folder's lock while another process holds it, in
    /// seconds; nil (the default, and the CLI's): until it is released.
    public var lockTimeout: Double?
    /// For tests: called at each step of a recorded change (after the entry is written, after
    /// the kernel took the batch); throwing there stands for the process being killed at that
    /// moment: nothing after it runs.
    var interruption: (@Sendable (HistoryEntry.Progress) throws -> Void)?

    /// Makes the pipeline: paths from `PORTCTL_POLICY` and `PORTCTL_STATE_DIR` unless given,
    /// the real kernel unless another firewall is given, no confirmation watchdog unless given.
    public init(paths: PortctlPaths? = nil, firewall: Firewall = Firewall(),
                environment: [String: String] = ProcessInfo.processInfo.environment,
                author: ChangeAuthor? = nil, watchdogCommand: [String]? = nil, privileged: Bool? = nil) {
        self.paths = paths ?? PortctlPaths.resolve(policyOption: nil, environment: environment)
        self.firewall = firewall
        self.environment = environment
        self.author = author ?? .current(environment: environment)
        self.watchdogCommand = watchdogCommand
        self.privileged = privileged ?? Privilege.hasNetAdmin
    }

    var store: PolicyStore { PolicyStore(paths: paths) }
    var state: StateStore { StateStore(directory: paths.stateDirectory) }

    // MARK: Reading

    /// The policy file's policy and bytes, or nil when there is none.
    public func loadPolicy() throws -> LoadedPolicy? {
        try store.loadWithBytes()
    }

    /// The policy file's policy and bytes; ``ChangeError/noPolicyFile(path:)`` when there is none.
    public func requirePolicy() throws -> LoadedPolicy {
        guard let loaded = try loadPolicy() else { throw ChangeError.noPolicyFile(path: paths.policyFile) }
        return loaded
    }

    /// The change history, oldest first. A state folder others could have written is refused, and
    /// so is one this user may not read (``ChangeError/stateFolderUnreadable(path:)``).
    public func history() throws -> [HistoryEntry] {
        try refuseUntrustedStateFolder()
        try refuseUnreadableStateFolder()
        return try state.history()
    }

    /// A text the history keeps by digest (a policy or a batch); nil when it is not kept.
    /// A damaged text throws ``StateDamage``.
    public func historyText(_ digest: String?) throws -> String? { try state.text(digest) }

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
    /// writes nothing. Blocks while another process holds the lock (see ``lockTimeout``).
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
        return try store.withLock(timeout: lockTimeout) {
            // A killed `trace` or `watch` left its table: the next command removes it.
            removeAbandonedTraces()
            return try body()
        }
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

    /// Makes `policy` the policy, as ``replacePolicy(with:source:options:)`` does with its text:
    /// the file is written in portctl's own format (`PolicyFile.encode(_:)`), so the policy is
    /// validated, planned, guarded, applied and recorded as one change. No edit reports to return.
    public func replacePolicy(_ policy: PortPolicy, options: ChangeOptions = ChangeOptions()) throws -> ChangeResult {
        try replacePolicy(with: PolicyFile.encode(policy), source: "the policy given to replacePolicy", options: options)
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
    public func plan() throws -> PolicyPlan {
        try withLock(privileged: "reading the kernel's table") {
            let loaded = try requirePolicy()
            let planned = try firewall.plan(loaded.policy, stateDirectory: paths.stateDirectory,
                                            previousTable: try previousTable(previousText: nil))
            return PolicyPlan(policy: loaded.policy, bytes: loaded.bytes, plan: planned.plan, liveDigest: planned.liveFingerprint)
        }
    }

    /// Plans, guards and (unless a dry run) applies `policy`, writes `fileText` when the policy
    /// changed, records the change, and arms the confirmation deadline. The caller holds the lock.
    ///
    /// `reviewed`: the batch of a saved plan; the change is refused (``SavedPlanProblem/expiredSince``)
    /// unless what is planned now is that batch but for the countdowns of timed rules. `planDigest`
    /// names the saved plan in the history.
    func commit(_ policy: PortPolicy, fileText: String?, previous: LoadedPolicy?, policyChanged: Bool,
                options: ChangeOptions, command: String, reviewed: (path: String, script: String, digest: String)? = nil) throws -> ChangeResult {
        let previousText = previous.map { String(decoding: $0.bytes, as: UTF8.self) }
        try requireWatchdog(options)
        var result = ChangeResult(policy: policy, policyChanged: policyChanged, plan: nil, liveDigest: "unknown",
                                  previousBytes: previous.map { Array($0.bytes) } ?? [])
        result.warnings += try guardLockout(policy, force: options.force, confirmSeconds: options.dryRun ? nil : options.confirmSeconds)
        // A dry run without the privilege cannot read the kernel: it has no plan.
        if options.dryRun && !privileged { return result }
        let planned = try firewall.plan(policy, stateDirectory: paths.stateDirectory, held: previous?.policy,
                                        previousTable: try previousTable(previousText: previousText, previousPolicy: previous?.policy),
                                        recordingCache: !options.dryRun)
        let plan = planned.plan
        if let reviewed, Self.withoutCountdowns(plan.script) != Self.withoutCountdowns(reviewed.script) {
            throw ChangeError.savedPlan(path: reviewed.path, problem: .expiredSince)
        }
        result.plan = plan
        result.liveDigest = planned.liveFingerprint
        if options.dryRun {
            result.warnings += publishedWarnings(policy)
            return result
        }
        if plan.isEmpty && !policyChanged {
            try firewall.apply(planned, stateDirectory: paths.stateDirectory)
            return result
        }
        // A new or rewritten table comes without the bans: they are state, put back from the state
        // folder, which must be readable before the rewrite drops the kernel's copy of them.
        let bans = plan.recreatesBanSets ? try BanStore(directory: paths.stateDirectory).load() : []
        // The history entry is written before the kernel is touched, and says how far the change
        // got: a kill at any moment leaves a trail that the next command settles (see
        // ``settleInterrupted()``), never a kernel change that the history does not know.
        let writesFile = policyChanged && fileText != nil
        var entry = try record(command: command, previousText: previousText, after: fileText, plan: plan,
                               pending: options.confirmSeconds != nil, beforePolicy: previous?.policy, afterPolicy: policy,
                               planDigest: reviewed?.digest)
        try sendRecorded(&entry, fileFollows: writesFile) {
            try firewall.apply(planned, stateDirectory: paths.stateDirectory)
        }
        if plan.recreatesBanSets { result.warnings += firewall.restoreBans(bans, table: policy.table).map(ChangeWarning.banNotRestored) }
        if policyChanged, let fileText {
            try interruption?(.kernelChanged)
            do {
                try store.save(text: fileText)
            } catch {
                markUnwritten(&entry)
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
                    if undo.recreatesBanSets { _ = firewall.restoreBans(bans, table: previous.policy.table) }
                } else {
                    try? firewall.remove(table: policy.table)
                }
                throw error
            }
            try completeRecorded(&entry)
        }
        result.applied = true
        result.entry = entry
        result.warnings += publishedWarnings(policy)
        if let seconds = options.confirmSeconds { result.confirmation = try armConfirmation(entry, seconds: seconds) }
        return result
    }

    // MARK: History

    /// Marks `entry` as put back at once because the policy file could not be written (the
    /// caller undoes what the kernel took, if anything).
    func markUnwritten(_ entry: inout HistoryEntry) {
        entry.progress = nil
        entry.confirmation = .undone("the policy file could not be written")
        try? state.save(entry)
    }

    /// The table the policy named before this change: the last recorded change's, else the file's.
    func previousTable(previousText: String?, previousPolicy: PortPolicy? = nil) throws -> String? {
        // The table in the kernel was made from the newest change's text, unless that change
        // wrote only the file (`import ufw`): then from what the change before it left.
        let text = try state.latestInForce(policyFile: paths.policyFile).flatMap { latest in
            try latest.kernelAfter.map { source in try source.policy.flatMap(state.text) } ?? state.text(latest.after)
        } ?? previousText
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
            let kept: String?
            do {
                kept = try state.text(digest)
            } catch {
                throw .invalidSource("@" + path, reason: "the history's copy of the addresses this file held then is damaged (\(error)); nothing was rolled back")
            }
            guard let text = kept else {
                throw .invalidSource("@" + path, reason: "the history lost the addresses this file held then (\(digest)); nothing was rolled back")
            }
            return try IPNetwork.parseList(text, name: path, allowEmpty: true)
        }
    }

    /// Records an applied change. `before` is the policy in force before: what the previous
    /// entry applied, else the file as it was; likewise for the address files' snapshots.
    /// `keepsTable`: the change writes only the policy file, so the entry records what the
    /// table stays made from (``HistoryEntry/kernelAfter``).
    func record(command: String, previousText: String?, after: String?, plan: Plan, pending: Bool,
                beforePolicy: PortPolicy?, afterPolicy: PortPolicy?, removesTable: Bool = false, keepsTable: Bool = false,
                planDigest: String? = nil) throws -> HistoryEntry {
        // The chain of befores and afters is per policy file (a state folder may serve several).
        let latest = try state.latestInForce(policyFile: paths.policyFile)
        // A change that writes only the file (`import ufw`, `keepsTable`) is undone by putting
        // back the file's own bytes, whatever the last change left in it (a hand edit since).
        let before: String? = if let latest, !keepsTable { latest.after } else { try previousText.map(state.store) }
        let beforeFiles = latest != nil && !keepsTable ? latest?.afterFiles : try snapshot(beforePolicy)
        // Without history, the file was never applied through portctl: unless portctl's table
        // is in the kernel, the change before this one is "no table", and a rollback removes it
        // instead of putting a draft the kernel never held in force.
        let tableWasOut: Bool? = if let latest { latest.tableRemovedAfter } else {
            try firewall.live(table: (beforePolicy ?? afterPolicy)?.table ?? PortPolicy.defaultTable) == nil
        }
        // What the table is made from now: what the newest change left in the kernel.
        let kernelAfter: HistoryEntry.TableSource? = !keepsTable ? nil
            : latest?.kernelAfter ?? HistoryEntry.TableSource(policy: tableWasOut == true ? nil : latest?.after ?? before,
                                                              files: latest != nil ? latest?.afterFiles : beforeFiles)
        return try appendHistory(command: command, before: before, after: try after.map(state.store), plan: plan, pending: pending,
                                 beforeFiles: beforeFiles, afterFiles: try snapshot(afterPolicy),
                                 tableRemovedBefore: tableWasOut, tableRemovedAfter: removesTable ? true : nil,
                                 kernelBefore: keepsTable ? kernelAfter : latest?.kernelAfter, kernelAfter: kernelAfter,
                                 planDigest: planDigest, writesFileOnly: keepsTable)
    }

    @discardableResult
    func appendHistory(command: String, before: String?, after: String?, plan: Plan, pending: Bool,
                       beforeFiles: [String: String]?, afterFiles: [String: String]?,
                       tableRemovedBefore: Bool? = nil, tableRemovedAfter: Bool? = nil,
                       kernelBefore: HistoryEntry.TableSource? = nil, kernelAfter: HistoryEntry.TableSource? = nil,
                       planDigest: String? = nil, writesFileOnly: Bool = false) throws -> HistoryEntry {
        var entry = HistoryEntry(
            sequence: 0, time: StateStore.now(), user: author.user, sshClient: author.sshClient, command: command,
            arguments: author.arguments, policyFile: paths.policyFile, before: before, after: after,
            changes: plan.changes.map(PlanDocument.Change.init), script: try state.store(plan.script),
            confirmation: pending ? .pending : nil)
        entry.progress = .recorded
        entry.plan = planDigest
        entry.beforeFiles = beforeFiles
        entry.afterFiles = afterFiles
        entry.tableRemovedBefore = tableRemovedBefore == true ? true : nil
        entry.tableRemovedAfter = tableRemovedAfter == true ? true : nil
        entry.kernelBefore = kernelBefore
        entry.kernelAfter = kernelAfter
        entry.writesFileOnly = writesFileOnly ? true : nil
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
