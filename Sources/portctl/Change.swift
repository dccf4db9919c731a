import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

/// Options of every command that changes something.
struct ChangeOptions: ParsableArguments {
    @Flag(name: .long, help: "Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.")
    var dryRun = false
}

/// The ports and addresses `open`, `close`, `deny` and `reject` take.
struct PortArguments: ParsableArguments {
    @Argument(help: ArgumentHelp("Ports: 26, 26/tcp, 53/udp, 53/both, 8000-8100/tcp, 25,26,587/tcp, or a service name (smtp). A bare port means TCP.", valueName: "ports"))
    var ports: String

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("Source addresses or CIDRs, IPv4 or IPv6, comma-separated; repeatable. Without it: any source.", valueName: "addr"))
    var from: [SourceList] = []

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("Outbound rule: destination addresses or CIDRs, comma-separated; repeatable.", valueName: "addr"))
    var to: [SourceList] = []

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
        return PortRequest(spec: spec, sources: sources, direction: outbound ? .out : .in,
                           interface: interface, comment: comment, id: id)
    }
}

/// Reads the policy (creating the first-run policy when there is none), applies `edit`, plans
/// the kernel change, and then either shows it (`--dry-run`) or applies the plan and writes the
/// file, all under the state directory's lock.
func changePolicy(_ global: GlobalOptions, _ change: ChangeOptions,
                  edit: (inout PortPolicy) throws -> [PolicyChange]) throws {
    try global.reporting {
        let store = global.store
        try store.withLock {
            var policy: PortPolicy
            var created = false
            if let existing = try store.load() {
                policy = existing
            } else {
                policy = PortPolicy.firstRun(sshPort: sshServerPort)
                created = true
            }
            let before = policy
            let changes = try edit(&policy)
            try policy.validate()
            for change in changes { say(describe(change)) }
            let policyChanged = policy != before || created
            if created {
                say("\(change.dryRun ? "would create" : "creating") \(store.paths.policyFile): inbound drop, with SSH (\(policy.rules[0].portsDescription)) allowed from any source so this host stays reachable")
            }
            try commit(policy, previous: created ? nil : before, policyChanged: policyChanged, global: global, change: change)
        }
    }
}

/// Plans and applies a policy (or shows the plan with `--dry-run`), then writes the policy file
/// when it changed. The caller holds the lock.
func commit(_ policy: PortPolicy, previous: PortPolicy?, policyChanged: Bool, global: GlobalOptions, change: ChangeOptions) throws {
    let store = global.store
    let firewall = Firewall()
    if change.dryRun {
        var pending = policyChanged
        if Privilege.hasNetAdmin {
            let plan = Planner.plan(policy, live: try firewall.live(table: policy.table))
            say("dry run: nothing written. The kernel would change like this:")
            print(PlanOutput.text(plan), terminator: "")
            if !plan.isEmpty {
                say("nftables batch:")
                print(plan.script, terminator: "")
            }
            pending = pending || !plan.isEmpty
        } else {
            say("dry run: nothing written. The kernel's table cannot be read without root or CAP_NET_ADMIN; the full table apply would load:")
            print(Renderer.table(policy), terminator: "")
        }
        if pending { throw Failure(message: "", code: .changesPending) }
        return
    }
    try requireNetAdmin("changing the firewall")
    let plan = Planner.plan(policy, live: try firewall.live(table: policy.table))
    try firewall.apply(plan)
    if policyChanged {
        do {
            try store.save(policy)
        } catch {
            // Keep kernel and file in step: put the previous ruleset back.
            if let previous, let live = try? firewall.live(table: policy.table) {
                try? firewall.apply(Planner.plan(previous, live: live))
            } else if previous == nil {
                try? firewall.remove(table: policy.table)
            }
            throw error
        }
    }
    if plan.isEmpty {
        say("kernel: table inet \(policy.table) already matched; nothing sent")
    } else {
        // The edit's own lines were printed already; show the rest (drift, or everything for apply).
        let shown = policyChanged ? Plan(table: plan.table, changes: plan.changes.filter(\.isDrift), script: "", replacesTable: false) : plan
        for line in PlanOutput.lines(shown) { say(line) }
        say("applied: table inet \(policy.table) holds \(policy.rules.count) rule\(policy.rules.count == 1 ? "" : "s") (inbound default \(policy.inbound.rawValue))\(plan.replacesTable ? "; the table was rewritten" : "")")
    }
}

/// One line for a change to the policy.
func describe(_ change: PolicyChange) -> String {
    switch change {
    case let .added(rule):
        "added rule \(rule.id): \(rule.action.rawValue) \(rule.portsDescription) \(rule.direction == .in ? "from" : "to") \(rule.sourcesDescription)"
    case let .widened(rule, added):
        added.isEmpty
            ? "widened rule \(rule.id): \(rule.portsDescription) now applies to ANY source"
            : "extended rule \(rule.id): \(rule.portsDescription) now also \(rule.direction == .in ? "from" : "to") \(added.map(\.description).joined(separator: ", "))"
    case let .removed(rule):
        "removed rule \(rule.id) (\(rule.action.rawValue) \(rule.portsDescription) \(rule.direction == .in ? "from" : "to") \(rule.sourcesDescription))"
    case let .narrowed(rule):
        "narrowed rule \(rule.id): now \(rule.action.rawValue) \(rule.portsDescription) \(rule.direction == .in ? "from" : "to") \(rule.sourcesDescription)"
    case let .unchanged(reason):
        "unchanged: \(reason)"
    }
}

/// Warns when a change leaves traffic open to any address.
func warnIfAnySource(_ changes: [PolicyChange]) {
    for change in changes {
        switch change {
        case let .added(rule) where rule.isFromAnywhere && rule.action == .allow && rule.direction == .in,
             let .widened(rule, _) where rule.isFromAnywhere && rule.direction == .in:
            warn("\(rule.portsDescription) is open to ANY source address, IPv4 and IPv6; use --from to restrict it")
        default:
            break
        }
    }
}
