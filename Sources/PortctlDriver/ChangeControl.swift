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
    /// `SSH_CONNECTION` could not be read and the guard was skipped on request (`force`), or
    /// (in a plan) could not be checked.
    case lockoutUnchecked(sshConnection: String)
    /// In a plan: applying it would block new SSH logins over the connection the process runs in
    /// (the guard's sentence); apply will refuse it unless forced.
    case lockoutRisk(String)
    /// Outbound traffic does not go as the admin may think: an outbound allow under the outbound
    /// default accept changes nothing, or the outbound default drop stops DNS, NTP and updates
    /// (the sentence of `PortPolicy.outboundNotes(after:)`).
    case outbound(String)
    /// The confirmation watchdog of change `sequence` had died, so that change was rolled back
    /// before this one, as the watchdog would have done.
    case orphanRolledBack(RollbackResult)
    /// The table was rewritten and the kernel refused to take this ban back (it stays in the
    /// state folder; the other bans were put back).
    case banNotRestored(UnrestoredBan)
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

/// Where a plan reads portctl's table from.
public enum LiveSource: Sendable {
    /// The kernel (needs CAP_NET_ADMIN).
    case kernel
    /// A saved listing (`nft -j list table inet portctl`, or `portctl status --save-listing`),
    /// already read; nil when the table did not exist.
    case listing(Table?)
}

/// A proposal's plan (``ChangeControl/planProposal(_:source:against:)``).
public struct ProposalPlan: Sendable {
    /// The saved-plan document (`plan --new -o FILE`).
    public var document: PlanDocument
    /// The plan against the live table.
    public var plan: Plan
    /// The policy file's policy now, or nil when there is none.
    public var current: PortPolicy?
    /// The proposed policy.
    public var proposal: PortPolicy
    /// What a reviewer should know: lockout risk, ports published by others left filtered.
    public var warnings: [ChangeWarning]

    /// What differs between the policy now and the proposal, rule by rule.
    public var diff: PolicyDiff { PolicyDiff.between(current, proposal) }
}

/// What a rollback did.
public struct RollbackResult: Sendable, Hashable {
    /// The change undone.
    public var undone: HistoryEntry
    /// The table put back or removed.
    public var table: String
    /// Whether the undone change had created the policy (or, with `restoredTo`, there was no
    /// policy right after that change): the table and file were removed.
    public var removedPolicy: Bool
    /// For `rollback --to N`: N, the change whose result was put back (``undone`` is then the
    /// newest change, which the restore replaced).
    public var restoredTo: Int?
    /// Bans the kernel refused to take back into the restored table.
    public var unrestoredBans: [UnrestoredBan] = []

    /// Makes a result.
    public init(undone: HistoryEntry, table: String, removedPolicy: Bool, restoredTo: Int? = nil) {
        self.undone = undone
        self.table = table
        self.removedPolicy = removedPolicy
        self.restoredTo = restoredTo
    }
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
    /// The command that starts a confirmation watchdog; the token is appended. The program must
    /// call ``runWatchdog(token:)`` with it (``runWatchdogIfAsked(arguments:flag:)`` does that for
    /// a program started with ``watchdog(runningThisProgramWith:)``). nil: no watchdog, and a
    /// change with a confirmation deadline is refused (``ChangeError/noWatchdog``): portctl never
    /// starts a program its caller did not name.
    public var watchdogCommand: [String]?
    /// Whether this process may change nftables; by default, whether it has CAP_NET_ADMIN.
    public var privileged: Bool
    /// For tests: called at each step of a recorded change (after the entry is written, after
    /// the kernel took the batch); throwing there stands for the process being killed at that
    /// moment: nothing after it runs.
    var interruption: (@Sendable (HistoryEntry.Progress) throws -> Void)?

    /// Makes the pipeline: paths from `PORTCTL_POLICY` and `PORTCTL_STATE_DIR` unless given,
    /// the real kernel unless another firewall is given, no confirmation watchdog unless given.
    public init(paths: PortctlPaths? = nil, firewall: Firewall = Firewall(),
                environment: [String: String] = ProcessInfo.processInfo.environment,
                actor: Actor? = nil, watchdogCommand: [String]? = nil, privileged: Bool? = nil) {
        self.paths = paths ?? PortctlPaths.resolve(policyOption: nil, environment: environment)
        self.firewall = firewall
        self.environment = environment
        self.actor = actor ?? .current(environment: environment)
        self.watchdogCommand = watchdogCommand
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
                                            previousTable: try previousTable(previousText: nil))
            return (loaded.policy, loaded.bytes, planned.plan, planned.liveFingerprint)
        }
    }

    /// Plans, guards and (unless a dry run) applies `policy`, writes `fileText` when the policy
    /// changed, records the change, and arms the confirmation deadline. The caller holds the lock.
    ///
    /// `reviewed`: the batch of a saved plan; the change is refused (``SavedPlanProblem/expiredSince``)
    /// unless what is planned now is that batch but for the countdowns of timed rules. `planDigest`
    /// names the saved plan in the history.
    func commit(_ policy: PortPolicy, fileText: String?, previous: (policy: PortPolicy, bytes: Data)?, policyChanged: Bool,
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
                entry.progress = nil
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
                    if undo.recreatesBanSets { _ = firewall.restoreBans(bans, table: previous.policy.table) }
                } else {
                    try? firewall.remove(table: policy.table)
                    undo.batch = .removing(policy.table)
                }
                _ = undo
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

    // MARK: Saved plans

    /// Plans making `text` (a proposed policy, read from `source`) the policy, without changing
    /// anything: the plan `apply --new` would make, with its saved-plan document. Against the
    /// kernel (``LiveSource/kernel``, needs CAP_NET_ADMIN; blocks on the policy lock) or a saved
    /// listing (``LiveSource/listing(_:)``: no privilege, no lock, nothing of the machine read but
    /// the policy file and the proposal's address files). The lockout check's refusal becomes a
    /// warning: the reviewer must see it.
    public func planProposal(_ text: String, source: String, against liveSource: LiveSource = .kernel) throws -> ProposalPlan {
        let proposal: PortPolicy
        do {
            proposal = try PolicyStore.decode(text)
        } catch {
            throw PolicyFileError(path: source, error: error)
        }
        try proposal.validate()
        func make() throws -> ProposalPlan {
            let loaded = try store.loadWithBytes()
            var warnings: [ChangeWarning] = []
            do {
                warnings += try guardLockout(proposal, force: false)
            } catch let ChangeError.wouldLockOut(decision, connection, expiring) {
                warnings.append(.lockoutRisk(LockoutGuard.refusal(decision, connection: connection, expiring: expiring)))
            } catch ChangeError.unreadableSSHConnection(let value) {
                warnings.append(.lockoutUnchecked(sshConnection: value))
            }
            let live: Table?
            var plan: Plan
            switch liveSource {
            case .kernel:
                live = try firewall.live(table: proposal.table)
                plan = Planner.plan(proposal, live: live)
                firewall.removePreviousTable(try previousTable(previousText: loaded.map { String(decoding: $0.bytes, as: UTF8.self) },
                                                               previousPolicy: loaded?.policy), in: &plan)
                warnings += publishedWarnings(proposal)
            case let .listing(listed):
                live = listed
                plan = Planner.plan(proposal, live: live)
            }
            let document = PlanDocument(plan: plan, proposal: proposal, text: text, source: source, policyFile: paths.policyFile,
                                        currentBytes: loaded.map { Array($0.bytes) }, liveDigest: PlanDocument.digest(live))
            return ProposalPlan(document: document, plan: plan, current: loaded?.policy, proposal: proposal, warnings: warnings)
        }
        if case .listing = liveSource { return try make() }
        return try withLock(privileged: "reading the kernel's table (use --live FILE to plan against a saved listing)") { try make() }
    }

    /// Applies a plan saved by `portctl plan -o` (the policy file as it stood) or `plan --new -o`
    /// (a proposal) exactly as reviewed: refused, with nothing changed, unless the document is
    /// intact (and its digest is `expectDigest`, when given), production's policy file, portctl's
    /// table and every address file the planned policy reads are as they were when it was made,
    /// and its batch is exactly what portctl plans for them. What is sent is derived only from
    /// the document's fields (the proposal's text comes from the document, never from where it
    /// was read). A proposal is written over the policy file byte for byte, in the same recorded
    /// change. With ``ChangeOptions/dryRun`` only the checks run. Blocks on the policy lock.
    public func applySavedPlan(at path: String, expectDigest: String? = nil,
                               options: ChangeOptions = ChangeOptions()) throws -> (document: PlanDocument, plan: Plan, result: ChangeResult) {
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
            if let expectDigest, document.digest != expectDigest {
                throw refuse(.notApproved(approved: expectDigest, found: document.digest))
            }
            let loaded = try store.loadWithBytes()
            if !document.isProposal && document.policyFile != paths.policyFile {
                throw refuse(.madeForOtherPolicyFile(planned: document.policyFile, policyFile: paths.policyFile))
            }
            if loaded == nil && !document.isProposal { throw ChangeError.noPolicyFile(path: paths.policyFile) }
            let currentDigest = loaded.map { PlanDocument.digest($0.bytes) } ?? "none"
            if currentDigest != document.policyDigest { throw refuse(.policyChanged(policyFile: paths.policyFile)) }
            guard let text = document.newPolicy ?? loaded.map({ String(decoding: $0.bytes, as: UTF8.self) }) else {
                throw ChangeError.noPolicyFile(path: paths.policyFile)
            }
            // The policy comes from the document's text, its address files read now: each must
            // give what it gave when the plan was made.
            let policy: PortPolicy
            do throws(PolicyError) {
                policy = try PolicyStore.decode(text)
            } catch {
                throw PolicyFileError(path: document.isProposal ? path : paths.policyFile, error: error)
            }
            let files = PlanDocument.addressFiles(policy) ?? [:]
            if let planned = document.addressFiles {
                // A file the plan's policy does not read at all: the plan was edited.
                if Set(planned.keys) != Set(files.keys) { throw refuse(.notPortctls(readsAddressFiles: false)) }
                for (file, digest) in planned.sorted(by: { $0.key < $1.key }) where files[file] != digest {
                    throw refuse(.addressFileChanged(path: file))
                }
            }
            if policy.table != document.table { throw refuse(.otherTable(planned: document.table, policy: policy.table)) }
            let live = try firewall.live(table: policy.table)
            if PlanDocument.digest(live) != document.liveDigest { throw refuse(.tableChanged(table: document.table)) }
            // The script runs only if it is exactly what the planner makes for this policy against
            // this table: a saved plan cannot carry anything else into the kernel.
            let previous = try previousTable(previousText: loaded.map { String(decoding: $0.bytes, as: UTF8.self) }, previousPolicy: loaded?.policy)
            var reviewed = Planner.plan(policy, live: live, now: Date(timeIntervalSince1970: document.plannedAt))
            firewall.removePreviousTable(previous, in: &reviewed)
            if reviewed.script != document.script {
                throw refuse(.notPortctls(readsAddressFiles: policy.rules.contains(where: \.readsFiles) && document.addressFiles == nil))
            }
            // What readers of the plan show (its policy and changes: explain, jq, a review) must
            // be what is applied, or a reviewer could be shown one change while another is sent.
            if PolicyFile.encode(document.policy) != PolicyFile.encode(policy)
                || document.changes != reviewed.changes.map(PlanDocument.Change.init) {
                throw refuse(.notPortctls(readsAddressFiles: false))
            }
            // Time moved on since the review: what is sent is the same plan made now, so that
            // --for timeouts count from now and an opening that expired meanwhile stays closed.
            // It must be the reviewed batch but for those countdowns; otherwise the plan is stale.
            let changed = document.isProposal && loaded.map { Array($0.bytes) != Array(text.utf8) } ?? true
            var result = try commit(policy, fileText: text, previous: loaded, policyChanged: document.isProposal && changed,
                                    options: options, command: "apply-plan", reviewed: (path, document.script, document.digest))
            result.createdPolicyFile = loaded == nil
            if let orphan { result.warnings.insert(.orphanRolledBack(orphan), at: 0) }
            return (document, result.plan ?? reviewed, result)
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
            try requireWatchdog(options)
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
        let (table, unrestored) = try restoreHoldingLock(latest: latest, text: latest.before, files: latest.beforeFiles,
                                                         tableRemoved: latest.tableRemovedBefore, sequence: latest.sequence,
                                                         command: command, force: force)
        if latest.confirmation == "pending" {
            latest.confirmation = "rolled back"
            try state.save(latest)
        }
        try state.setPending(nil)
        var result = RollbackResult(undone: latest, table: table, removedPolicy: latest.before == nil)
        result.unrestoredBans = unrestored
        return result
    }

    /// Puts the policy file and portctl's table back as they were right after change `sequence`
    /// (from ``history()``), as one new recorded change that can itself be rolled back. Refused
    /// when that change was made through another policy file, never took hold, or left a table
    /// of another name than the policy names now. Needs CAP_NET_ADMIN; blocks on the policy lock.
    public func rollBack(to sequence: Int, force: Bool = false) throws -> RollbackResult {
        try withLock(privileged: "rolling back") {
            try requirePrivilege("rolling back")
            try settleInterrupted()
            guard let pending = try state.pending() else {
                return try rollBackHoldingLock(to: sequence, force: force)
            }
            throw ChangeError.awaitingConfirmation(sequence: pending.sequence,
                                                   secondsLeft: max(0, Int(pending.deadline - Date().timeIntervalSince1970)))
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
        if target.neverHeld { throw ChangeError.neverInForce(sequence: sequence, state: target.confirmation ?? "") }
        guard let latest = try state.latestInForce(policyFile: paths.policyFile) else {
            throw ChangeError.nothingToRollBack(stateDirectory: paths.stateDirectory)
        }
        if !force { try refuseUnlessFileIsAsLeft(by: latest) }
        let (table, unrestored) = try restoreHoldingLock(latest: latest, text: target.after, files: target.afterFiles,
                                                         tableRemoved: target.tableRemovedAfter, sequence: sequence,
                                                         command: "rollback --to \(sequence)", force: force)
        var result = RollbackResult(undone: latest, table: table, removedPolicy: target.after == nil, restoredTo: sequence)
        result.unrestoredBans = unrestored
        return result
    }

    /// Makes the policy file `text` (a history digest; nil: no file) and the table what it
    /// renders with the address files' snapshot `files` (or no table, when `tableRemoved`), as
    /// one recorded change after `latest`. Returns the table, and the bans the kernel refused to
    /// take back when the table was rewritten. The caller holds the lock.
    func restoreHoldingLock(latest: HistoryEntry, text digest: String?, files: [String: String]?, tableRemoved: Bool?,
                            sequence: Int, command: String, force: Bool) throws -> (table: String, unrestored: [UnrestoredBan]) {
        let targetText = try state.text(digest)
        if digest != nil && targetText == nil {
            throw ChangeError.missingHistory(sequence: sequence, stateDirectory: paths.stateDirectory)
        }
        let table = (try state.text(latest.after) ?? targetText).flatMap(Self.tableName) ?? PortPolicy.defaultTable
        let live = try firewall.live(table: table)
        var plan = Plan(table: table, changes: [], batch: Batch(), replacesTable: false)
        // Work out the whole change first; then record it, then change the kernel and the file.
        var send: () throws -> Void
        var restoresBansIn: String?
        if targetText != nil, tableRemoved == true {
            // Then, portctl's table was out of the kernel (disabled): so it goes again.
            plan.batch = .removing(table)
            if live != nil { plan.changes = [.removeTable(table)] }
            send = { try firewall.remove(table: table) }
        } else if let text = targetText {
            // The address files as they were when that policy was in force: the kernel gets
            // back the addresses it had, whatever the files hold now.
            let restored = try PolicyFile.decode(text, readSourceFile: snapshotReader(files))
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
            // There was no policy then: no portctl table either.
            plan.batch = .removing(table)
            if live != nil { plan.changes = [.drift("table inet \(table) removed: there was no policy before change #\(sequence)")] }
            send = { try firewall.remove(table: table) }
        }
        // The bans are read before the rewrite drops the kernel's copy of them: damaged ban state
        // stops the rollback here, with nothing changed.
        let bans = restoresBansIn != nil ? try BanStore(directory: paths.stateDirectory).load() : []
        var entry = try appendHistory(command: command, before: latest.after, after: digest, plan: plan, pending: false,
                                      beforeFiles: latest.afterFiles, afterFiles: files,
                                      tableRemovedBefore: latest.tableRemovedAfter, tableRemovedAfter: tableRemoved)
        try sendRecorded(&entry, fileFollows: true, send)
        let unrestored = restoresBansIn.map { firewall.restoreBans(bans, table: $0) } ?? []
        try interruption?(.kernelChanged)
        if let targetText {
            try store.save(text: targetText)
        } else {
            try? FileManager.default.removeItem(atPath: paths.policyFile)
        }
        try completeRecorded(&entry)
        return (table, unrestored)
    }

    /// Refuses a rollback that would silently discard what the history does not know: the
    /// policy file is not what `latest` left (edited by hand, or the records of later changes
    /// were moved aside).
    func refuseUnlessFileIsAsLeft(by latest: HistoryEntry) throws {
        let bytes = try store.readData()
        let holds = latest.after.map { after in bytes.map { PlanDocument.digest(Array($0)) == after } ?? false } ?? (bytes == nil)
        if !holds { throw ChangeError.policyFileNotAsLeft(sequence: latest.sequence, policyFile: paths.policyFile) }
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
        let fileHolds: Bool = try {
            let bytes = try store.readData()
            guard let after = entry.after else { return bytes == nil }
            return bytes.map { PlanDocument.digest(Array($0)) == after } ?? false
        }()
        switch progress {
        case .kernelChanged where fileHolds:
            break
        case .kernelChanged:
            entry.confirmation = "interrupted: killed after the kernel took the batch and before the policy file was written; the kernel holds this change, the file the one before ('portctl plan' shows the difference; 'portctl apply' puts the kernel back to the file)"
        case .recorded:
            entry.confirmation = "interrupted: killed before or while the batch was sent; the kernel may hold it, the policy file does not ('portctl plan' shows any difference; 'portctl apply' puts the kernel back to the file)"
        }
        try state.save(entry)
        if entry.confirmation == "pending", try state.pending() == nil {
            return try rollBackHoldingLock(command: "auto-rollback", force: true)
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
        if orphaned { return try rollBackHoldingLock(command: "auto-rollback", force: true) }
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
        let started: Result<Int32, Error>
        do {
            started = .success(try DetachedProcess.spawnAndAwaitReady(watchdogCommand + [token], environment: environment))
        } catch {
            started = .failure(error)
        }
        switch started {
        case let .success(pid):
            pending.watchdog = pid
            try state.setPending(pending)
            return pending
        case let .failure(error):
            // No watchdog, no deadline: the change is undone now rather than left unguarded.
            _ = try? rollBackHoldingLock(command: "auto-rollback", force: true)
            throw ChangeError.watchdogFailed(command: watchdogCommand, reason: "\(error)")
        }
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
                    _ = try rollBackHoldingLock(command: "auto-rollback", force: true)
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

    // MARK: History

    /// The table the policy named before this change: the last recorded change's, else the file's.
    func previousTable(previousText: String?, previousPolicy: PortPolicy? = nil) throws -> String? {
        let text = try state.latestInForce(policyFile: paths.policyFile).flatMap { try state.text($0.after) } ?? previousText
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
    func record(command: String, previousText: String?, after: String?, plan: Plan, pending: Bool,
                beforePolicy: PortPolicy?, afterPolicy: PortPolicy?, removesTable: Bool = false, planDigest: String? = nil) throws -> HistoryEntry {
        // The chain of befores and afters is per policy file (a state folder may serve several).
        let latest = try state.latestInForce(policyFile: paths.policyFile)
        let before: String? = if let latest { latest.after } else { try previousText.map(state.store) }
        let beforeFiles = latest != nil ? latest?.afterFiles : try snapshot(beforePolicy)
        return try appendHistory(command: command, before: before, after: try after.map(state.store), plan: plan, pending: pending,
                                 beforeFiles: beforeFiles, afterFiles: try snapshot(afterPolicy),
                                 tableRemovedBefore: latest?.tableRemovedAfter, tableRemovedAfter: removesTable ? true : nil,
                                 planDigest: planDigest)
    }

    @discardableResult
    func appendHistory(command: String, before: String?, after: String?, plan: Plan, pending: Bool,
                       beforeFiles: [String: String]?, afterFiles: [String: String]?,
                       tableRemovedBefore: Bool? = nil, tableRemovedAfter: Bool? = nil, planDigest: String? = nil) throws -> HistoryEntry {
        var entry = HistoryEntry(
            sequence: 0, time: StateStore.now(), user: actor.user, sshClient: actor.sshClient, command: command,
            arguments: actor.arguments, policyFile: paths.policyFile, before: before, after: after,
            changes: plan.changes.map(PlanDocument.Change.init), script: try state.store(plan.script),
            confirmation: pending ? "pending" : nil)
        entry.progress = .recorded
        entry.plan = planDigest
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
    /// Sources left alone because a ban in force, or a wider source of the same request, covers
    /// them, with the covering network.
    public var alreadyBanned: [(network: IPNetwork, by: String)]
    /// The batch that adds them.
    public var batch: Batch
    /// What the caller should say besides the bans (an unchecked SSH session, with `force`).
    public var warnings: [ChangeWarning] = []
}

extension ChangeControl {
    /// Bans sources on every port, before any allow, until `expires` (or until unbanned). Bans
    /// are state, kept in the state folder and put back whenever the table is rewritten; each is
    /// kept as given (adjacent bans are not merged), so each can be lifted as it was banned.
    /// Unless `options.force`, refuses to ban the SSH client the process runs for (and to ban
    /// anything when `SSH_CONNECTION` cannot be read), and to ban loopback or an address of this
    /// host: the ban sets are checked before loopback traffic is accepted.
    public func ban(_ networks: [IPNetwork], expires: Date?, comment: String?, options: ChangeOptions = ChangeOptions()) throws -> BanResult {
        try withLock(privileged: "banning", dryRun: options.dryRun) {
            let table = try policyTable()
            var warnings: [ChangeWarning] = []
            if let value = environment["SSH_CONNECTION"] {
                if let client = SSHConnection(environmentValue: value)?.client {
                    if !options.force, let own = networks.first(where: { $0.contains(client) }) {
                        throw ChangeError.wouldBanOwnClient(network: own, client: client)
                    }
                } else if options.force {
                    warnings.append(.lockoutUnchecked(sshConnection: value))
                } else {
                    throw ChangeError.unreadableSSHConnection(value: value)
                }
            }
            if !options.force {
                let local = LocalInterfaces.addresses()
                for network in networks {
                    if let loopback = Self.loopbackNetworks.first(where: { $0.overlaps(network) }) {
                        // Name the loopback address the ban would hit, not the network's first.
                        let hit = loopback.contains(network.address) ? network.address : loopback.address
                        throw ChangeError.wouldBanThisHost(network: network, address: hit, interface: "lo")
                    }
                    if let own = local.first(where: { network.contains($0.address) }) {
                        throw ChangeError.wouldBanThisHost(network: network, address: own.address, interface: own.name)
                    }
                }
            }
            if privileged { try firewall.requireOwnTable(table) }
            let store = BanStore(directory: paths.stateDirectory)
            // Single addresses go into a plain set: banning one again only renews it, so the
            // list is read only when networks are banned (their sets must not overlap).
            var asked: [IPNetwork] = []
            for network in networks where !asked.contains(network) { asked.append(network) }
            let anyNetwork = asked.contains { $0.prefixLength < $0.family.bitWidth }
            let stored = privileged && anyNetwork ? try store.load().compactMap(\.parsed) : []
            var result = BanResult(banned: [], alreadyBanned: [], batch: Batch(), warnings: warnings)
            for network in asked {
                // A source inside a wider one of the same request, or of a ban in force, is covered
                // by it (the interval set takes no overlap); the wider one is banned as given.
                let wider = asked.filter { $0.prefixLength < network.prefixLength && $0.contains(network.address) }
                    .min { $0.prefixLength < $1.prefixLength }
                if let covering = wider ?? stored.first(where: { $0.contains(network.address) && $0.prefixLength <= network.prefixLength }) {
                    result.alreadyBanned.append((network, covering.description))
                    continue
                }
                if network.prefixLength < network.family.bitWidth,
                   let overlap = stored.first(where: { $0.prefixLength < $0.family.bitWidth && network.contains($0.address) }) {
                    throw ChangeError.banCoversBan(network: network, banned: overlap.description)
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

    /// Loopback, in both families: never banned without force.
    static let loopbackNetworks: [IPNetwork] = ["127.0.0.0/8", "::1/128"].compactMap { try? IPNetwork(parsing: $0) }

    /// The bans in force, from the state folder, each with the packets it dropped when portctl's
    /// own table can be read (never another table's counters). A damaged ban file is a
    /// ``BanStateError``; a state folder this user may not read is
    /// ``ChangeError/stateFolderUnreadable(path:)``: never "no bans".
    public func bans() throws -> [Ban] {
        try refuseUntrustedStateFolder()
        try refuseUnreadableStateFolder()
        var bans = try BanStore(directory: paths.stateDirectory).load()
        guard privileged, !bans.isEmpty else { return bans }
        // Counters are read only from portctl's own table: another's sets are not its bans.
        let table = (try? policyTable()) ?? PortPolicy.defaultTable
        guard (try? firewall.requireOwnTable(table)) != nil else { return bans }
        let hits = firewall.banHits(table: table)
        for index in bans.indices {
            bans[index].hits = bans[index].parsed.flatMap { hits[$0] }
            bans[index].inKernel = bans[index].hits != nil
        }
        return bans
    }

    /// Refuses with ``ChangeError/stateFolderUnreadable(path:)`` a state folder that exists but
    /// that this user may not read (it is root's, mode 700): what it holds cannot be known.
    public func refuseUnreadableStateFolder() throws {
        var info = stat()
        guard stat(paths.stateDirectory, &info) == 0 || errno != ENOENT else { return }
        if access(paths.stateDirectory, R_OK | X_OK) != 0 && (errno == EACCES || errno == EPERM) {
            throw ChangeError.stateFolderUnreadable(path: paths.stateDirectory)
        }
    }

    /// Lifts bans, each as it was banned. Returns the sources unbanned and those that were not
    /// banned (the kernel may have let them go already: that is no error). A source inside a
    /// banned network, or a network holding bans but not banned itself, is refused
    /// (``ChangeError/unbanInsideBan(network:banned:)``) before anything changes.
    public func unban(_ networks: [IPNetwork]) throws -> (lifted: [IPNetwork], notBanned: [IPNetwork]) {
        try withLock(privileged: "lifting bans") {
            let table = try policyTable()
            try firewall.requireOwnTable(table)
            let store = BanStore(directory: paths.stateDirectory)
            var bans = try store.load()
            let listed = Set(bans.compactMap(\.parsed))
            for network in networks where !listed.contains(network) {
                if let covering = listed.sorted().first(where: { $0.overlaps(network) }) {
                    throw ChangeError.unbanInsideBan(network: network, banned: covering)
                }
            }
            let lifted = networks.filter(listed.contains)
            try firewall.removeBans(lifted, table: table)
            bans.removeAll { ban in ban.parsed.map { lifted.contains($0) } ?? false }
            try store.save(bans)
            return (lifted, networks.filter { !listed.contains($0) })
        }
    }
}
