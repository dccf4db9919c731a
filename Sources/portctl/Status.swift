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

        func run() throws {
            if nagios { nagiosCheck() }
            if let saveListing { return try saveTheListing(to: saveListing) }
            let report = try global.reporting { try global.control.status() }
            if json {
                print(jsonText(report))
                return
            }
            printText(report)
        }

        /// The report for people.
        func printText(_ report: StatusReport) {
            let policy = report.policy, path = report.policyFile, table = report.table
            if let pending = report.awaitingConfirmation {
                warn(pending.watchdogRunning ? "change #\(pending.sequence) awaits 'portctl confirm'; it rolls back in \(pending.secondsLeft)s"
                                             : "change #\(pending.sequence) awaits confirmation but its watchdog is gone: run 'portctl rollback' (the next change rolls it back too)")
            }
            if report.dormant {
                say("table inet \(table) is DORMANT: it was switched off outside portctl and filters nothing; run 'portctl apply' to wake it")
            } else if !report.tablePresent {
                say("table inet \(table) is not in the kernel: run 'portctl apply' (policy \(path))")
            } else if report.inSync {
                say("table inet \(table) matches \(path)")
            } else {
                say("table inet \(table) differs from \(path): run 'portctl plan' to see how")
            }
            say("defaults: inbound \(report.defaults.inbound) (\(Counted.traffic(packets: report.defaults.packets, bytes: report.defaults.bytes)) reached it), outbound \(report.defaults.outbound)")
            for forward in report.forwards {
                say("forward \(forward.id): \(forward.summary) (\(Counted.traffic(packets: forward.packets, bytes: forward.bytes)))")
            }
            for route in report.routes {
                say("routed \(route.id): \(route.summary) (\(Counted.traffic(packets: route.packets, bytes: route.bytes)))")
            }
            if policy.routed == .drop || !policy.routes.isEmpty {
                say("routed default \(policy.routed.rawValue): \(Counted.traffic(packets: report.routedDefaultPackets, bytes: report.routedDefaultBytes)) reached it")
            }
            let bans = report.bans
            if bans.listed > 0 || bans.inForce > 0 || bans.droppedPackets > 0 {
                let missing = bans.listed > bans.inForce ? "; \(bans.listed - bans.inForce) listed in the state folder not in the kernel" : ""
                say("bans: \(bans.inForce) in force (\(Counted.text(bans.droppedPackets, "packet")) dropped\(missing); portctl bans lists them)")
            }
            if policy.published == .filter {
                say("published ports: filtered by the same rules (\(Counted.traffic(packets: report.defaults.publishedPackets, bytes: report.defaults.publishedBytes)) of DNATed connections reached the default)")
            } else {
                say("published ports: left to whoever published them (defaults.published: accept)")
            }
            let header = ["ID", "ACTION", "PORTS", "ADDRESSES", "PACKETS", "BYTES", "NOTES"]
            let rows = report.rules.map { rule -> [String] in
                var notes: [String] = []
                if rule.direction == "out" { notes.append("outbound") }
                if let interface = rule.interface { notes.append("on \(interface)") }
                if let limit = rule.limit {
                    notes.append("limit \(limit) per source, \(Counted.text(rule.limitedPackets ?? 0, "packet")) over it dropped")
                }
                if rule.log { notes.append("logged") }
                if let left = rule.expiresIn { notes.append("expires in \(Planner.duration(left))") }
                return [rule.id, rule.action, "\(rule.ports.joined(separator: ","))/\(rule.proto)", rule.addresses,
                        "\(rule.packets)", "\(rule.bytes)", notes.joined(separator: "; ")]
            }
            printTable([header] + rows)
            for chain in report.otherInputChains {
                say("note: table \(chain.family) \(chain.table) also filters the input hook (chain \(chain.name), priority \(chain.priority), policy \(chain.policy)): a packet must pass it too, and its drop wins over portctl's accept")
            }
            say("libnftables \(report.libnftables ?? "release unknown")")
        }
    }
}
