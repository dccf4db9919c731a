import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl status`: what the kernel does now, with live counters.
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Show every rule with its live packet and byte counters, and whether the kernel matches the policy.")

        @Flag(name: .long, help: "Print the status as JSON.")
        var json = false
        @Flag(name: .long, help: "Print one monitoring-plugins line (Nagios, Icinga) and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.")
        var nagios = false
        @Option(name: .customLong("warn-drops"), help: ArgumentHelp("With --nagios: WARNING when more than this many packets were refused on any one port (banned sources left out) from the sources the drop record holds (defaults.drops, 10m unless the policy says otherwise).", valueName: "packets"), transform: Status.packets)
        var warnDrops: Int?
        @Option(name: .customLong("crit-drops"), help: ArgumentHelp("With --nagios: CRITICAL when more than this many packets were refused on any one port (no smaller than --warn-drops).", valueName: "packets"), transform: Status.packets)
        var critDrops: Int?
        @Option(name: .customLong("save-listing"), help: ArgumentHelp("Save the kernel's listing of portctl's table (JSON, as 'nft -j list table' gives it) to this file, for 'portctl plan --live FILE' elsewhere (- for standard output).", valueName: "file"))
        var saveListing: String?
        @OptionGroup var global: GlobalOptions

        /// A threshold's packets: a whole number (the range is checked by NagiosCheck.DropThresholds).
        static func packets(_ text: String) throws -> Int {
            guard let value = Int(text) else { throw ValidationError("use a number of packets, 0 or more") }
            return value
        }

        /// The --warn-drops and --crit-drops thresholds, checked.
        var dropThresholds: NagiosCheck.DropThresholds {
            get throws(PolicyError) { try NagiosCheck.DropThresholds(warning: warnDrops, critical: critDrops) }
        }

        func validate() throws {
            if json && nagios { throw ValidationError("--json and --nagios do not go together: pick one output") }
            if (warnDrops != nil || critDrops != nil) && !nagios {
                throw ValidationError("--warn-drops and --crit-drops are thresholds of --nagios: add --nagios")
            }
            do {
                _ = try dropThresholds
            } catch {
                throw ValidationError(error.description)
            }
            if saveListing != nil && (json || nagios) { throw ValidationError("--save-listing writes the listing only; leave out --json and --nagios") }
        }

        /// `status --save-listing FILE`: the listing an offline plan reads.
        func saveTheListing(to path: String) throws {
            try global.reporting {
                let policy = try global.loadExisting()
                try requireNetAdmin("reading the kernel's table")
                // Only portctl's own table: a foreign one of that name is refused, as apply refuses it.
                let firewall = global.control.firewall
                try firewall.requireOwnTable(policy.table)
                let listing = try firewall.listing(table: policy.table)?.json
                    ?? #"{"nftables": [{"metainfo": {"json_schema_version": 1}}]}"#
                if path == "-" {
                    print(listing)
                } else {
                    try TrustedFiles.write(listing + "\n", to: path, what: "listing file")
                    say(listing.contains("\"table\"") ? "saved the listing of table inet \(policy.table) to \(path)" : "table inet \(policy.table) is not in the kernel; saved an empty listing to \(path)")
                }
            }
        }

        /// `status --nagios`: never a one-line error of its own, always the plugin's line and code.
        func nagiosCheck() -> Never {
            let check: NagiosCheck
            do {
                let policy = try global.loadExisting()
                if !Privilege.hasNetAdmin {
                    check = .unknown("reading the kernel needs root or CAP_NET_ADMIN")
                } else {
                    try global.refuseUntrustedStateFolder()
                    let metrics = try global.control.firewall.metrics(for: policy, stateDirectory: global.paths.stateDirectory)
                    check = NagiosCheck(metrics.snapshot, drift: metrics.changes, drops: try dropThresholds)
                }
            } catch let error as ForeignTableError {
                // The policy's firewall is not in force at all: that is critical, not unknown.
                check = .critical(error.description)
            } catch {
                check = .unknown(Failure.from(error, verbose: false).message)
            }
            print(check.line)
            Foundation.exit(check.state.rawValue)
        }

        struct Report: Encodable {
            struct RuleStatus: Encodable {
                var id: String
                var action: String
                var direction: String
                var ports: [String]
                var proto: String
                var sources: [String]
                /// Address files the sources are read from (sources then lists what they held).
                var sourceFiles: [String]
                var interface: String?
                var limit: String?
                /// Packets over the rate limit, dropped (nil for a rule without a limit).
                var limitedPackets: Int?
                var log: Bool
                var expires: String?
                var expiresIn: Int?
                var packets: Int
                var bytes: Int

                enum CodingKeys: String, CodingKey {
                    case id, action, direction, ports, proto = "protocol", sources, sourceFiles, interface, limit, limitedPackets, log, expires, expiresIn, packets, bytes
                }
            }
            struct Defaults: Encodable {
                var inbound: String
                var outbound: String
                var packets: Int
                var bytes: Int
                var published: String
                var publishedPackets: Int
                var publishedBytes: Int
            }
            var table: String
            var policyFile: String
            var tablePresent: Bool
            var dormant: Bool
            var inSync: Bool
            var defaults: Defaults
            var rules: [RuleStatus]
            var forwards: [EntryStatus]
            var routes: [EntryStatus]
            var otherInputChains: [ForeignChain]
            /// The libnftables release in use ("1.0.6"), from its own listing's metainfo.
            var libnftables: String?
            struct EntryStatus: Encodable {
                var id: String
                var summary: String
                var packets: Int
                var bytes: Int
            }
        }

        func run() throws {
            if nagios { nagiosCheck() }
            if let saveListing { return try saveTheListing(to: saveListing) }
            try global.reporting {
                let policy = try global.loadExisting()
                try requireNetAdmin("reading the kernel's table and counters")
                try global.refuseUntrustedStateFolder()
                global.control.removeAbandonedTraces()
                let firewall = global.control.firewall
                let now = Date()
                let kernel = try firewall.snapshot(for: policy, stateDirectory: global.paths.stateDirectory, now: now)
                let counters = kernel.counters, others = kernel.otherInputChains, inSync = kernel.inSync
                let effective = policy.effective(at: now)
                let report = Report(
                    table: policy.table, policyFile: global.paths.policyFile, tablePresent: kernel.tablePresent, dormant: kernel.dormant, inSync: inSync,
                    defaults: .init(inbound: policy.inbound.rawValue, outbound: policy.outbound.rawValue,
                                    packets: counters[Renderer.inboundDefaultCounter]?.packets ?? 0,
                                    bytes: counters[Renderer.inboundDefaultCounter]?.bytes ?? 0,
                                    published: policy.published.rawValue,
                                    publishedPackets: counters[Renderer.publishedDefaultCounter]?.packets ?? 0,
                                    publishedBytes: counters[Renderer.publishedDefaultCounter]?.bytes ?? 0),
                    rules: effective.rules.map { rule in
                        .init(id: rule.id, action: rule.action.rawValue, direction: rule.direction.rawValue,
                              ports: rule.ports.map(\.description), proto: rule.proto.rawValue,
                              sources: rule.sources.map(\.description), sourceFiles: rule.sourceFiles.map(\.path), interface: rule.interface,
                              limit: rule.limit?.description,
                              limitedPackets: rule.limit.map { _ in counters[Renderer.limitedName(rule.id)]?.packets ?? 0 }, log: rule.log,
                              expires: rule.expires.map(PolicyFile.timestamp),
                              expiresIn: rule.expires.map { max(0, Int($0.timeIntervalSince(now))) },
                              packets: counters[rule.id]?.packets ?? 0, bytes: counters[rule.id]?.bytes ?? 0)
                    },
                    forwards: policy.forwards.map { .init(id: $0.id, summary: $0.summary, packets: counters[$0.id]?.packets ?? 0, bytes: counters[$0.id]?.bytes ?? 0) },
                    routes: policy.routes.map { .init(id: $0.id, summary: $0.summary, packets: counters[$0.id]?.packets ?? 0, bytes: counters[$0.id]?.bytes ?? 0) },
                    otherInputChains: others,
                    libnftables: Nftables.shared.libraryVersion().release)
                if json {
                    print(jsonText(report))
                    return
                }
                let state = StateStore(directory: global.paths.stateDirectory)
                if let pending = try state.pending() {
                    let alive = pending.watchdog.map { DetachedProcess.isRunning($0, withArgument: pending.token) } ?? false
                    let left = max(0, Int(pending.deadline - Date().timeIntervalSince1970))
                    warn(alive ? "change #\(pending.sequence) awaits 'portctl confirm'; it rolls back in \(left)s"
                               : "change #\(pending.sequence) awaits confirmation but its watchdog is gone: run 'portctl rollback' (the next change rolls it back too)")
                }
                if kernel.dormant {
                    say("table inet \(policy.table) is DORMANT: it was switched off outside portctl and filters nothing; run 'portctl apply' to wake it")
                } else if !kernel.tablePresent {
                    say("table inet \(policy.table) is not in the kernel: run 'portctl apply' (policy \(global.paths.policyFile))")
                } else if inSync {
                    say("table inet \(policy.table) matches \(global.paths.policyFile)")
                } else {
                    say("table inet \(policy.table) differs from \(global.paths.policyFile): run 'portctl plan' to see how")
                }
                say("defaults: inbound \(policy.inbound.rawValue) (\(Counted.traffic(packets: report.defaults.packets, bytes: report.defaults.bytes)) reached it), outbound \(policy.outbound.rawValue)")
                for forward in policy.forwards {
                    let count = counters[forward.id] ?? (0, 0)
                    say("forward \(forward.id): \(forward.summary) (\(Counted.traffic(packets: count.packets, bytes: count.bytes)))")
                }
                for route in policy.routes {
                    let count = counters[route.id] ?? (0, 0)
                    say("routed \(route.id): \(route.summary) (\(Counted.traffic(packets: count.packets, bytes: count.bytes)))")
                }
                if policy.routed == .drop || !policy.routes.isEmpty {
                    let count = counters[Renderer.routedDefaultCounter] ?? (0, 0)
                    say("routed default \(policy.routed.rawValue): \(Counted.traffic(packets: count.packets, bytes: count.bytes)) reached it")
                }
                // In force is what the kernel holds; the state folder's list may have more (bans the
                // kernel refused to take back into a rewritten table).
                let listed = try BanStore(directory: global.paths.stateDirectory).load(now: now)
                let held = kernel.tablePresent ? firewall.banHits(table: policy.table).count : 0
                if !listed.isEmpty || held > 0 || (counters[Renderer.banCounter]?.packets ?? 0) > 0 {
                    let missing = listed.count > held ? "; \(listed.count - held) listed in the state folder not in the kernel" : ""
                    say("bans: \(held) in force (\(Counted.text(counters[Renderer.banCounter]?.packets ?? 0, "packet")) dropped\(missing); portctl bans lists them)")
                }
                if policy.published == .filter {
                    say("published ports: filtered by the same rules (\(Counted.traffic(packets: report.defaults.publishedPackets, bytes: report.defaults.publishedBytes)) of DNATed connections reached the default)")
                } else {
                    say("published ports: left to whoever published them (defaults.published: accept)")
                }
                let header = ["ID", "ACTION", "PORTS", "ADDRESSES", "PACKETS", "BYTES", "NOTES"]
                let rows = zip(effective.rules, report.rules).map { policyRule, rule -> [String] in
                    var notes: [String] = []
                    if rule.direction == "out" { notes.append("outbound") }
                    if let interface = rule.interface { notes.append("on \(interface)") }
                    if let limit = rule.limit {
                        notes.append("limit \(limit) per source, \(Counted.text(rule.limitedPackets ?? 0, "packet")) over it dropped")
                    }
                    if rule.log { notes.append("logged") }
                    if let left = rule.expiresIn { notes.append("expires in \(Planner.duration(left))") }
                    return [rule.id, rule.action, "\(rule.ports.joined(separator: ","))/\(rule.proto)", policyRule.addressesCell,
                            "\(rule.packets)", "\(rule.bytes)", notes.joined(separator: "; ")]
                }
                printTable([header] + rows)
                for chain in others {
                    say("note: table \(chain.family) \(chain.table) also filters the input hook (chain \(chain.name), priority \(chain.priority), policy \(chain.policy)): a packet must pass it too, and its drop wins over portctl's accept")
                }
                say("libnftables \(report.libnftables ?? "release unknown")")
            }
        }
    }
}
