import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

/// Plans and applies a policy (or shows the plan with `--dry-run`), writes the policy file when
/// it changed, records the change in the history, and arms the `--confirm` watchdog. The caller
/// holds the lock.
///
/// - Parameters:
///   - fileText: the policy file's text after the change (nil only when it does not exist).
///   - previousText: the policy file's text before the change, nil when there was none.
///   - held: the policy the file held before the change; when the kernel is known to match it,
///     the plan needs no listing.
func commit(_ policy: PortPolicy, fileText: String?, previousText: String?, policyChanged: Bool,
            global: GlobalOptions, change: ChangeOptions, command: String,
            report: [String] = [], warnings: [String] = [], held: PortPolicy? = nil) throws {
    let store = global.store
    let firewall = Firewall()
    if change.dryRun {
        // A dry run refuses what the change would refuse.
        try guardAgainstLockout(policy, force: change.force)
        var plan: ChangePlan?
        var liveDigest = "unknown"
        if Privilege.hasNetAdmin {
            let planned = try firewall.plan(policy, stateDirectory: global.paths.stateDirectory, held: held,
                                            previousTable: previousTable(global, previousText: previousText))
            plan = planned.plan
            liveDigest = planned.liveFingerprint
        }
        let pending = policyChanged || !(plan?.isEmpty ?? true)
        if change.json {
            // The plan document, with the policy as it would be written: for programs (Ansible).
            var document = PlanDocument(plan: plan ?? ChangePlan(table: policy.table, changes: [], script: Renderer.replaceBatch(policy), replacesTable: true),
                                        policy: policy, policyFile: global.paths.policyFile,
                                        policyBytes: Array((previousText ?? "").utf8), liveDigest: liveDigest)
            document.inSync = !pending
            print(document.encoded(), terminator: "")
        } else {
            for line in report { say(line) }
            for line in warnings + publishedWarnings(policy) { warn(line) }
            if let plan {
                say("dry run: nothing written. The kernel would change like this:")
                print(PlanOutput.text(plan), terminator: "")
                if !plan.isEmpty {
                    say("nftables batch:")
                    print(plan.script, terminator: "")
                }
            } else {
                say("dry run: nothing written. The kernel's table cannot be read without root or CAP_NET_ADMIN; the full table apply would load:")
                print(Renderer.table(policy), terminator: "")
            }
        }
        if pending { throw Failure(message: "", code: .changesPending) }
        return
    }
    try refuseWhileConfirmationPending(global)
    try guardAgainstLockout(policy, force: change.force, confirmSeconds: change.confirm)
    try requireNetAdmin("changing the firewall")
    let planned = try firewall.plan(policy, stateDirectory: global.paths.stateDirectory, held: held,
                                    previousTable: previousTable(global, previousText: previousText))
    let plan = planned.plan
    try firewall.apply(planned, stateDirectory: global.paths.stateDirectory)
    // A new or rewritten table comes without the bans: they are state, put back from the state folder.
    if plan.replacesTable { firewall.restoreBans(table: policy.table, stateDirectory: global.paths.stateDirectory) }
    // The history entry is written before the policy file is renamed: a kill between the two
    // leaves a trail of what the kernel holds (plan then shows the file behind), never a change
    // that the history does not know.
    let entry: HistoryEntry? = plan.isEmpty && !policyChanged ? nil
        : try record(command: command, global: global, previousText: previousText, after: fileText,
                     changes: plan.changes.map(PlanDocument.Change.init), script: plan.script, pending: change.confirm != nil)
    if policyChanged, let fileText {
        do {
            try store.save(text: fileText)
        } catch {
            if var entry {
                entry.confirmation = "undone: the policy file could not be written"
                try? StateStore(directory: global.paths.stateDirectory).save(entry)
            }
            // Keep kernel and file in step: put the previous ruleset back.
            if let previousText, let previous = try? PolicyFile.decode(previousText), let live = try? firewall.live(table: policy.table) {
                try? firewall.apply(Planner.plan(previous, live: live))
            } else if previousText == nil {
                try? firewall.remove(table: policy.table)
            }
            throw error
        }
    }
    for line in report { say(line) }
    for line in warnings { warn(line) }
    if !plan.isEmpty || policyChanged { for line in publishedWarnings(policy) { warn(line) } }
    if plan.isEmpty && !policyChanged {
        say("kernel: table inet \(policy.table) already matched; nothing sent")
        if change.confirm != nil { say("nothing changed, so there is nothing to confirm") }
        return
    }
    // The edit's own lines were printed already; show the rest (drift, or everything for apply).
    let shown = policyChanged ? Plan(table: plan.table, changes: plan.changes.filter(\.isDrift), script: "", replacesTable: false) : plan
    for line in PlanOutput.lines(shown) { say(line) }
    let held = policy.rules.count + policy.forwards.count + policy.routes.count
    say("applied: table inet \(policy.table) holds \(held) rule\(held == 1 ? "" : "s") (inbound default \(policy.inbound.rawValue))\(plan.replacesTable ? "; the table was rewritten" : "")")
    if let seconds = change.confirm, let entry { try armConfirmation(entry, seconds: seconds, global: global) }
}

/// Warnings for ports other tables publish by DNAT that the policy lets nobody reach: under
/// `defaults.published: filter` their connections are dropped, which may surprise whoever
/// published them (a container's port). Nothing when the ruleset cannot be read.
func publishedWarnings(_ policy: PortPolicy) -> [String] {
    guard Privilege.hasNetAdmin, let published = try? Firewall().publishedPorts(excluding: policy.table) else { return [] }
    return ExposureAudit.dropped(policy, published: published).map {
        "published port \($0.description) is not allowed by the policy: it will be dropped (open it with --from, or 'portctl default published accept' to leave published ports to their publisher)"
    }
}

/// The table the policy named before this change: the last recorded change's, else the file's.
func previousTable(_ global: GlobalOptions, previousText: String?) -> String? {
    let state = StateStore(directory: global.paths.stateDirectory)
    let text = (try? state.latest()).flatMap { $0 }.flatMap { state.text($0.after) } ?? previousText
    return text.flatMap { try? PolicyFile.decode($0) }?.table
}

/// Records an applied change in the history. `before` is the policy in force before: what the
/// previous entry applied, else the file as it was. Texts go to the history's blob store once.
@discardableResult
func record(command: String, global: GlobalOptions, previousText: String?, after: String?,
            changes: [PlanDocument.Change], script: String, pending: Bool) throws -> HistoryEntry {
    let state = StateStore(directory: global.paths.stateDirectory)
    let before: String? = if let latest = try state.latest() { latest.after } else { try previousText.map(state.store) }
    return try appendHistory(state, command: command, global: global, before: before, after: try after.map(state.store),
                             changes: changes, script: script, pending: pending)
}

/// Appends an entry for this invocation (who, from where, the command line), with `before` and
/// `after` already stored as digests.
@discardableResult
func appendHistory(_ state: StateStore, command: String, global: GlobalOptions, before: String?, after: String?,
                   changes: [PlanDocument.Change], script: String, pending: Bool) throws -> HistoryEntry {
    let actor = StateStore.actor(environment: ProcessInfo.processInfo.environment)
    return try state.record(HistoryEntry(
        sequence: 0, time: StateStore.now(), user: actor.user, sshClient: actor.sshClient, command: command,
        arguments: Array(CommandLine.arguments.dropFirst()), policyFile: global.paths.policyFile,
        before: before, after: after, changes: changes, script: try state.store(script),
        confirmation: pending ? "pending" : nil))
}

/// Refuses a new change while an earlier one waits for `portctl confirm`. When the watchdog
/// that would roll that change back is gone (killed, or the machine's process table lost it),
/// nothing else would ever undo it: it is rolled back now, as the watchdog would have, and the
/// new change goes on. The caller holds the lock.
func refuseWhileConfirmationPending(_ global: GlobalOptions) throws {
    let state = StateStore(directory: global.paths.stateDirectory)
    guard let pending = state.pending() else { return }
    let orphaned = pending.watchdog.map { !DetachedProcess.isRunning($0, withArgument: pending.token) }
        ?? (Date().timeIntervalSince1970 > pending.deadline + 5)
    if orphaned {
        warn("the --confirm watchdog of change #\(pending.sequence) is gone, so nothing would roll it back; rolling it back now, as the watchdog would have")
        say(try rollBack(global: global, command: "auto-rollback", force: true))
        return
    }
    let remaining = max(0, Int(pending.deadline - Date().timeIntervalSince1970))
    throw Failure(message: "change #\(pending.sequence) awaits confirmation (rolls back in \(remaining)s): run 'portctl confirm' to keep it or 'portctl rollback' to undo it, then try again", code: .failure)
}

/// Refuses a policy that would block a new SSH login over the connection portctl runs in, now
/// or when a time-boxed allow expires (unless it outlives the `--confirm` deadline). With
/// `force`, nothing is refused. Warns (on stderr) when the login is admitted only under a tight
/// rate limit, or when `SSH_CONNECTION` cannot be read and `force` turns the check off; without
/// `force`, an unreadable `SSH_CONNECTION` is refused.
func guardAgainstLockout(_ policy: PortPolicy, force: Bool, confirmSeconds: Int? = nil) throws {
    guard let value = ProcessInfo.processInfo.environment["SSH_CONNECTION"] else { return }
    guard let connection = SSHConnection(environmentValue: value) else {
        if force {
            warn("SSH_CONNECTION \(quoted(value)) cannot be read, so this change was not checked against locking out an SSH session (--force)")
            return
        }
        throw Failure(message: "cannot check this change against locking out your SSH session: SSH_CONNECTION \(quoted(value)) is not \"CLIENT PORT SERVER PORT\"; fix the variable, or add --force to change without the check", code: .failure)
    }
    if force { return }
    // The interface holding the server address is taken as the one the login arrives on; an
    // address on lo (a service address) says nothing about that, so no interface is assumed
    // and rules limited to an interface do not count.
    let interface = LocalInterfaces.name(holding: connection.server).flatMap { $0 == "lo" ? nil : $0 }
    let now = Date()
    let deadline = confirmSeconds.map { now.addingTimeInterval(TimeInterval($0)) }
    if let decision = LockoutGuard.blockingDecision(policy, connection: connection, interface: interface, now: now, deadline: deadline) {
        let expiring = LockoutGuard.expiringAllow(policy, connection: connection, interface: interface, now: now)
        throw Failure(message: LockoutGuard.refusal(decision, connection: connection, expiring: expiring), code: .failure)
    }
    if let warning = LockoutGuard.tightLimit(policy, connection: connection, interface: interface, now: now, deadline: deadline) {
        warn(warning)
    }
}

/// Starts the watchdog that rolls `entry` back unless `portctl confirm` runs in time. It runs in
/// its own session, so closing the terminal or the SSH connection does not stop it.
func armConfirmation(_ entry: HistoryEntry, seconds: Int, global: GlobalOptions) throws {
    let state = StateStore(directory: global.paths.stateDirectory)
    let token = UUID().uuidString
    let deadline = Date().addingTimeInterval(TimeInterval(seconds))
    var pending = PendingConfirmation(token: token, sequence: entry.sequence, deadline: deadline.timeIntervalSince1970, watchdog: nil)
    try state.setPending(pending)
    var environment = ProcessInfo.processInfo.environment
    environment["PORTCTL_STATE_DIR"] = global.paths.stateDirectory
    environment["PORTCTL_POLICY"] = global.paths.policyFile
    do {
        pending.watchdog = try DetachedProcess.spawn([DetachedProcess.currentExecutable, "watchdog", "--token", token],
                                                     environment: environment)
        try state.setPending(pending)
    } catch {
        try? state.setPending(nil)
        throw error
    }
    let formatter = DateFormatter()
    formatter.dateFormat = "HH:mm:ss"
    say("confirm within \(seconds)s with 'portctl confirm' (from a new connection, to prove you can still get in); otherwise change #\(entry.sequence) rolls back at \(formatter.string(from: deadline))")
}

/// Restores the policy and ruleset in force before the newest history entry, and records that.
/// Returns a one-line description. The caller holds the lock.
func rollBack(global: GlobalOptions, command: String, force: Bool) throws -> String {
    try requireNetAdmin("rolling back")
    let state = StateStore(directory: global.paths.stateDirectory)
    guard var latest = try state.latest() else {
        throw Failure(message: "nothing to roll back: no change has been applied with this state directory (\(global.paths.stateDirectory))", code: .failure)
    }
    let firewall = Firewall()
    let beforeText = state.text(latest.before)
    if latest.before != nil && beforeText == nil {
        throw Failure(message: "cannot roll back change #\(latest.sequence): the policy it replaced is missing from \(global.paths.stateDirectory)/history", code: .failure)
    }
    let table = (state.text(latest.after) ?? beforeText).flatMap { try? PolicyFile.decode($0) }?.table ?? PortPolicy.defaultTable
    let live = try firewall.live(table: table)
    var plan = Plan(table: table, changes: [], script: "", replacesTable: false)
    if let text = beforeText {
        let previous = try PolicyFile.decode(text)
        try guardAgainstLockout(previous, force: force)
        plan = Planner.plan(previous, live: live)
        try firewall.apply(plan)
        if plan.replacesTable { firewall.restoreBans(table: previous.table, stateDirectory: global.paths.stateDirectory) }
        try global.store.save(text: text)
    } else {
        // The change being undone created the policy: before it there was no portctl table.
        try firewall.remove(table: table)
        plan.script = Renderer.deleteBatch(table: table)
        if live != nil { plan.changes = [.drift("table inet \(table) removed: there was no policy before change #\(latest.sequence)")] }
        try? FileManager.default.removeItem(atPath: global.paths.policyFile)
    }
    if latest.confirmation == "pending" {
        latest.confirmation = "rolled back"
        try state.save(latest)
    }
    try state.setPending(nil)
    try appendHistory(state, command: command, global: global, before: latest.after, after: latest.before,
                      changes: plan.changes.map(PlanDocument.Change.init), script: plan.script, pending: false)
    return "rolled back change #\(latest.sequence) (\(latest.command) at \(latest.time)): " +
        (latest.before == nil ? "removed table inet \(table) and the policy file it created" : "policy file and table inet \(table) restored")
}

extension Portctl {
    /// `portctl confirm`: keep a change applied with `--confirm`.
    struct Confirm: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "confirm",
            abstract: "Keep the change applied with --confirm (run it from a new connection: that proves you can still get in).")

        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                try global.withLock(privileged: "confirming a change") {
                    let state = StateStore(directory: global.paths.stateDirectory)
                    guard let pending = state.pending() else {
                        if let latest = try state.latest(), latest.command == "auto-rollback" {
                            throw Failure(message: "too late: the change was rolled back at \(latest.time) (history #\(latest.sequence))", code: .failure)
                        }
                        say("no change is waiting for confirmation")
                        return
                    }
                    try state.setPending(nil)
                    if var entry = try state.history().last(where: { $0.sequence == pending.sequence }) {
                        entry.confirmation = "confirmed"
                        try state.save(entry)
                    }
                    say("confirmed change #\(pending.sequence); it stays")
                }
            }
        }
    }

    /// `portctl rollback`: undo the last applied change.
    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract: "Restore the policy file and ruleset in force before the last applied change (run it again to redo).")

        @Flag(name: .long, help: "Roll back even if the restored policy would block new SSH logins over this connection.")
        var force = false
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                try global.withLock(privileged: "rolling back") {
                    say(try rollBack(global: global, command: "rollback", force: force))
                }
            }
        }
    }

    /// `portctl history`: the change-control trail.
    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "history",
            abstract: "List applied changes: when, by whom, from where, and what changed (the last \(StateStore.historyLimit) are kept).")

        @Argument(help: "Show one entry in full: its changes and the nftables batch.")
        var sequence: Int?
        @Flag(name: .long, help: "Print the entries as JSON.")
        var json = false
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                try global.refuseUntrustedStateFolder()
                let entries = try StateStore(directory: global.paths.stateDirectory).history()
                if let sequence {
                    guard let entry = entries.first(where: { $0.sequence == sequence }) else {
                        throw Failure(message: "no history entry #\(sequence) (kept: \(entries.first.map { "#\($0.sequence)" } ?? "none")...\(entries.last.map { "#\($0.sequence)" } ?? ""))", code: .usage)
                    }
                    if json { print(jsonText(entry)); return }
                    say("#\(entry.sequence) \(entry.time) \(entry.command) by \(entry.user)\(entry.sshClient.map { " from \($0)" } ?? "")\(entry.confirmation.map { " [\($0)]" } ?? "")")
                    say("command: portctl \(entry.arguments.joined(separator: " "))")
                    for change in entry.changes { say("  \(change.kind) \([change.rule, change.summary, change.before, change.after, change.detail].compactMap { $0 }.joined(separator: " "))") }
                    say("batch:")
                    print(StateStore(directory: global.paths.stateDirectory).text(entry.script) ?? "(not kept)\n", terminator: "")
                    return
                }
                if json { print(jsonText(entries)); return }
                if entries.isEmpty { say("no changes recorded in \(global.paths.stateDirectory)"); return }
                for entry in entries {
                    let who = entry.user + (entry.sshClient.map { " from \($0)" } ?? "")
                    let status = entry.confirmation.map { " [\($0)]" } ?? ""
                    say("#\(entry.sequence)  \(entry.time)  \(entry.command)  \(who)  \(entry.changes.count) change\(entry.changes.count == 1 ? "" : "s")\(status)")
                }
            }
        }
    }

    /// The hidden watchdog behind `--confirm`: sleeps until the deadline, then rolls back unless
    /// the confirmation it was started for has been confirmed or replaced.
    struct Watchdog: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "watchdog", shouldDisplay: false)

        @Option(help: "The confirmation token to watch.")
        var token: String
        @OptionGroup var global: GlobalOptions

        func run() throws {
            signal(SIGHUP, SIG_IGN)
            DetachedProcess.closeInheritedDescriptors()
            let state = StateStore(directory: global.paths.stateDirectory)
            while let pending = state.pending(), pending.token == token {
                if Date().timeIntervalSince1970 >= pending.deadline {
                    try global.store.withLock {
                        // Re-check under the lock: a confirm may have just won.
                        guard state.pending()?.token == token else { return }
                        _ = try rollBack(global: global, command: "auto-rollback", force: true)
                    }
                    return
                }
                usleep(200_000)
            }
        }
    }
}
