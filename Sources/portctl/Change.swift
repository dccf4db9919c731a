import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

/// Edits the policy through the library's pipeline (see ``ChangeControl/change(_:options:edit:)``)
/// and prints what changed, or with `--dry-run`, what would.
func changePolicy(_ global: GlobalOptions, _ change: ChangeFlags, command: String,
                  edit: (inout PortPolicy) throws -> [PolicyChange]) throws {
    try global.reporting {
        let result = try global.control.change(command, options: change.options, edit: edit)
        var report = result.policyChanges.map(describe)
        if result.createdPolicyFile {
            report.append("\(change.dryRun ? "would create" : "created") \(global.paths.policyFile): inbound drop, with SSH (\(result.policy.rules[0].portsDescription)) allowed from any source so this host stays reachable")
        }
        try show(result, change: change, global: global, report: report)
    }
}

/// Prints a change's result: the report lines, the warnings, the plan or what was applied,
/// and the confirmation deadline. A dry run that would change something exits 2.
func show(_ result: ChangeResult, change: ChangeFlags, global: GlobalOptions, report: [String] = []) throws {
    if change.dryRun {
        if change.json {
            // The plan document, with the policy as it would be written: for programs (Ansible).
            let plan = result.plan ?? ChangePlan(table: result.policy.table, changes: [], batch: Renderer.replaceBatch(result.policy), replacesTable: true)
            var document = PlanDocument(plan: plan, policy: result.policy, policyFile: global.paths.policyFile,
                                        policyBytes: result.previousBytes, liveDigest: result.liveDigest)
            document.inSync = !result.isPending
            print(document.encoded(), terminator: "")
        } else {
            for line in report { say(line) }
            warn(result.warnings)
            if let plan = result.plan {
                say("dry run: nothing written. The kernel would change like this:")
                print(PlanOutput.text(plan, policy: result.policy), terminator: "")
                if !plan.isEmpty {
                    say("nftables batch:")
                    print(plan.script, terminator: "")
                }
            } else {
                say("dry run: nothing written. The kernel's table cannot be read without root or CAP_NET_ADMIN; the full table apply would load:")
                print(Renderer.table(result.policy), terminator: "")
            }
        }
        if result.isPending { throw Failure(message: "", code: .changesPending) }
        return
    }
    for line in report { say(line) }
    warn(result.warnings)
    guard result.applied, let plan = result.plan else {
        say("kernel: table inet \(result.policy.table) already matched; nothing sent")
        if change.confirm != nil { say("nothing changed, so there is nothing to confirm") }
        return
    }
    // The edit's own lines were printed already; show the rest (drift, or everything for apply).
    let shown = result.policyChanged ? ChangePlan(table: plan.table, changes: plan.changes.filter(\.isDrift), batch: Batch(), replacesTable: false) : plan
    for line in PlanOutput.lines(shown, policy: result.policy) { say(line) }
    let policy = result.policy
    let held = policy.rules.count + policy.forwards.count + policy.routes.count
    say("applied: table inet \(policy.table) holds \(held) rule\(held == 1 ? "" : "s") (\(policy.defaultsSummary))\(plan.replacesTable ? "; the table was rewritten" : "")")
    if let pending = result.confirmation { say(confirmationLine(pending)) }
}

/// The line that tells the admin how long they have to confirm.
func confirmationLine(_ pending: PendingConfirmation) -> String {
    let formatter = DateFormatter()
    formatter.dateFormat = "HH:mm:ss"
    let seconds = max(0, Int((pending.deadline - Date().timeIntervalSince1970).rounded()))
    return "confirm within \(seconds)s with 'portctl confirm' (from a new connection, to prove you can still get in); otherwise change #\(pending.sequence) rolls back at \(formatter.string(from: Date(timeIntervalSince1970: pending.deadline)))"
}

/// Prints the pipeline's warnings, one line each, on standard error (an orphaned change rolled
/// back also says so on standard output).
func warn(_ warnings: [ChangeWarning]) {
    for warning in warnings {
        warn(warning.description)
        if case let .orphanRolledBack(rollback) = warning {
            say(describe(rollback))
            for unrestored in rollback.unrestoredBans { warn(unrestored.description) }
        }
    }
}

/// One line for a rollback.
func describe(_ rollback: RollbackResult) -> String {
    let undone = rollback.undone
    return "rolled back change #\(undone.sequence) (\(undone.command) at \(undone.time)): " +
        (rollback.removedPolicy ? "removed table inet \(rollback.table) and the policy file it created" : "policy file and table inet \(rollback.table) restored")
}

/// One line for a change to the policy.
func describe(_ change: PolicyChange) -> String {
    switch change {
    case let .added(rule):
        "added rule \(rule.id): \(rule.summary)"
    case let .widened(rule, added):
        added.isEmpty && rule.isFromAnywhere
            ? "widened rule \(rule.id): \(rule.portsDescription) now applies to ANY source"
            : added.isEmpty ? "extended rule \(rule.id): \(rule.portsDescription) now also reads " + rule.sourceFiles.map { "@" + $0.path }.joined(separator: ", ")
            : "extended rule \(rule.id): \(rule.portsDescription) now also \(rule.direction == .in ? "from" : "to") \(added.map(\.description).joined(separator: ", "))"
    case let .removed(rule):
        "removed rule \(rule.id) (\(rule.summary))"
    case let .narrowed(rule):
        "narrowed rule \(rule.id): now \(rule.summary)"
    case let .updated(rule):
        "updated rule \(rule.id): \(rule.summary)"
    case let .addedEntry(id, summary):
        "added rule \(id): \(summary)"
    case let .removedEntry(id, summary):
        "removed rule \(id) (\(summary))"
    case let .updatedEntry(id, summary):
        "updated rule \(id): \(summary)"
    case let .defaultChanged(name, from, to):
        "changed the \(name) default: \(from) -> \(to)"
    case let .unchanged(reason):
        "unchanged: \(reason)"
    }
}
