import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

/// Options of every command that changes something.
struct ChangeOptions: ParsableArguments {
    @Flag(name: .long, help: "Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.")
    var dryRun = false

    @Option(name: .long, help: ArgumentHelp("Roll the change back automatically (policy file and ruleset) unless 'portctl confirm' runs within this many seconds (1 to 86400).", valueName: "seconds"))
    var confirm: Int?

    @Flag(name: .long, help: "Apply even if the change would block new SSH logins over the connection portctl runs in.")
    var force = false

    @Flag(name: .long, help: "With --dry-run: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).")
    var json = false

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

/// Reads the policy (creating the first-run policy when there is none), applies `edit`, plans
/// the kernel change, and then either shows it (`--dry-run`) or applies the plan and writes the
/// file, all under the state directory's lock.
func changePolicy(_ global: GlobalOptions, _ change: ChangeOptions, command: String,
                  edit: (inout PortPolicy) throws -> [PolicyChange]) throws {
    try global.reporting {
        let store = global.store
        try global.withLock(privileged: "changing the firewall", dryRun: change.dryRun) {
            // Before reading the policy: an orphaned --confirm change is rolled back first.
            if !change.dryRun { try refuseWhileConfirmationPending(global) }
            var policy: PortPolicy
            var previousText: String?
            var held: PortPolicy?
            if let (existing, bytes) = try store.loadWithBytes() {
                policy = existing
                held = existing
                previousText = String(decoding: bytes, as: UTF8.self)
            } else {
                policy = PortPolicy.firstRun(sshPort: sshServerPort)
            }
            let expired = policy.removeExpired(at: Date())
            let before = policy
            var changes = try edit(&policy)
            changes = expired.map { PolicyChange.removed($0) } + changes
            try policy.validate()
            let created = previousText == nil
            var report = changes.map(describe)
            if created {
                report.append("\(change.dryRun ? "would create" : "created") \(store.paths.policyFile): inbound drop, with SSH (\(policy.rules[0].portsDescription)) allowed from any source so this host stays reachable")
            }
            let changed = policy != before || created || !expired.isEmpty
            try commit(policy, fileText: changed ? PolicyFile.encode(policy) : previousText, previousText: previousText,
                       policyChanged: changed, global: global, change: change, command: command,
                       report: report, warnings: anySourceWarnings(changes), held: held)
        }
    }
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

/// Warnings for changes that leave traffic open to any address.
func anySourceWarnings(_ changes: [PolicyChange]) -> [String] {
    changes.compactMap { change in
        switch change {
        case let .added(rule) where rule.isFromAnywhere && rule.action == .allow && rule.direction == .in,
             let .widened(rule, _) where rule.isFromAnywhere && rule.direction == .in:
            "\(rule.portsDescription) is open to ANY source address, IPv4 and IPv6; use --from to restrict it"
        default:
            nil
        }
    }
}
