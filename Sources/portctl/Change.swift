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

/// Reads the policy (creating the first-run policy when there is none), applies `edit`, and
/// then either shows the result (`--dry-run`) or applies it to the kernel and writes the file,
/// all under the state directory's lock.
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
            let changed = policy != before || created
            if change.dryRun {
                if created {
                    say("dry run: no policy file at \(store.paths.policyFile); the first change would create it with inbound drop and SSH (\(policy.rules.first?.portsDescription ?? "22/tcp")) allowed")
                }
                guard changed else {
                    say("dry run: nothing would change")
                    return
                }
                say("dry run: nothing written. The policy would be applied as this nftables batch:")
                print(Renderer.replaceBatch(policy), terminator: "")
                throw Failure(message: "dry run: changes pending", code: .changesPending)
            }
            guard changed else {
                say("nothing changed (run 'portctl apply' to re-apply the policy file to the kernel)")
                return
            }
            try requireNetAdmin("changing the firewall")
            let firewall = Firewall()
            try firewall.apply(policy)
            do {
                try store.save(policy)
            } catch {
                // Keep kernel and file in step: put the previous ruleset back.
                if !created { try? firewall.apply(before) } else { try? firewall.remove(table: policy.table) }
                throw error
            }
            if created {
                say("created \(store.paths.policyFile): inbound drop, with SSH (\(policy.rules[0].portsDescription)) allowed from any source so this host stays reachable")
            }
            say("applied: table inet \(policy.table) now holds \(policy.rules.count) rule\(policy.rules.count == 1 ? "" : "s") (inbound default \(policy.inbound.rawValue))")
        }
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
