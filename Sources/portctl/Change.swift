import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

/// Options of every command that changes something.
struct ChangeFlags: ParsableArguments {
    @Flag(name: .long, help: "Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.")
    var dryRun = false

    @Option(name: .long, help: ArgumentHelp("Roll the change back automatically (policy file and ruleset) unless 'portctl confirm' runs within this many seconds (1 to 86400).", valueName: "seconds"))
    var confirm: Int?

    @Flag(name: .long, help: "Apply even if the change would block new SSH logins over the connection portctl runs in.")
    var force = false

    @Flag(name: .long, help: "With --dry-run: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).")
    var json = false

    /// The library's options for these flags.
    var options: ChangeOptions { ChangeOptions(dryRun: dryRun, confirmSeconds: confirm, force: force) }

    func validate() throws {
        if let confirm, !(1...86400).contains(confirm) {
            throw ValidationError("invalid --confirm \"\(confirm)\": give seconds from 1 to 86400")
        }
        if json && !dryRun {
            throw ValidationError("--json goes with --dry-run (other output is for people); use 'portctl plan --json' or 'portctl status --json'")
        }
        if confirm != nil && dryRun {
            throw ValidationError("--confirm and --dry-run do not go together: a dry run applies nothing to confirm")
        }
    }
}

/// The ports and addresses `open`, `close`, `deny` and `reject` take.
struct PortArguments: ParsableArguments {
    @Argument(help: ArgumentHelp("Ports: 26, 26/tcp, 53/udp, 53/both, 8000-8100/tcp, 25,26,587/tcp, or a service name (smtp). A bare port means TCP.", valueName: "ports"))
    var ports: String

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("Source addresses or CIDRs, IPv4 or IPv6, comma-separated; repeatable. Without it: any source.", valueName: "addr"))
    var from: [SourceList] = []

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("Outbound rule: destination addresses or CIDRs, comma-separated; repeatable.", valueName: "addr"))
    var to: [SourceList] = []

    @Option(name: .customLong("from-file"), help: ArgumentHelp("Source addresses from a file, a pipe or - (standard input): one address or CIDR per line, # comments allowed, at most 32 MiB.", valueName: "file"))
    var fromFile: String?

    @Flag(name: .long, help: "Make an outbound rule (matches destination port; --to names destinations).")
    var out = false

    @Option(name: .long, help: ArgumentHelp("Only traffic on this interface (iifname inbound, oifname outbound); a trailing * matches a prefix.", valueName: "name"))
    var interface: String?

    /// Builds the request, with every value checked.
    func request(comment: String? = nil, id: String? = nil) throws(PolicyError) -> PortRequest {
        let spec = try PortSpec(parsing: ports, services: SystemServices.load())
        let outbound = out || !to.isEmpty
        if outbound && !from.isEmpty {
            throw .invalidRule("--from names sources of inbound traffic; an outbound rule names destinations with --to")
        }
        var sources: [IPNetwork] = []
        for list in outbound ? to : from { sources += try list.parse() }
        if let fromFile {
            if outbound { throw .invalidRule("--from-file names sources of inbound traffic; an outbound rule names destinations with --to") }
            sources += try readAddressFile(fromFile)
        }
        return PortRequest(spec: spec, sources: sources, direction: outbound ? .out : .in,
                           interface: interface, comment: comment, id: id)
    }
}

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
                print(PlanOutput.text(plan), terminator: "")
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
    for line in PlanOutput.lines(shown) { say(line) }
    let policy = result.policy
    let held = policy.rules.count + policy.forwards.count + policy.routes.count
    say("applied: table inet \(policy.table) holds \(held) rule\(held == 1 ? "" : "s") (inbound default \(policy.inbound.rawValue))\(plan.replacesTable ? "; the table was rewritten" : "")")
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
        switch warning {
        case let .openToAnySource(rule):
            warn("\(rule.portsDescription) is open to ANY source address, IPv4 and IPv6; use --from to restrict it")
        case let .publishedPortDropped(port):
            warn("published port \(port.description) is not allowed by the policy: it will be dropped (open it with --from, or 'portctl default published accept' to leave published ports to their publisher)")
        case let .tightLimit(text):
            warn(text)
        case let .lockoutUnchecked(value):
            warn("SSH_CONNECTION \(quoted(value)) cannot be read, so this change was not checked against locking out an SSH session (--force)")
        case let .orphanRolledBack(rollback):
            warn("the --confirm watchdog of change #\(rollback.undone.sequence) is gone, so nothing would roll it back; rolling it back now, as the watchdog would have")
            say(describe(rollback))
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
        added.isEmpty
            ? "widened rule \(rule.id): \(rule.portsDescription) now applies to ANY source"
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
    case let .defaultChanged(name, from, to):
        "changed the \(name) default: \(from) -> \(to)"
    case let .unchanged(reason):
        "unchanged: \(reason)"
    }
}
