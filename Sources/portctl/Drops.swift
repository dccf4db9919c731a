import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl drops`: who was refused, on which port, by what.
    struct Drops: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "drops",
            abstract: "List the connections the firewall refused lately: source, port, packets, last seen, and what refused them.",
            discussion: """
            Read from the kernel: portctl's table records each new TCP or UDP connection that the \
            inbound, published or routed default, a deny or reject rule, a ban or a rate limit \
            refuses, and keeps it for defaults.drops (10m unless the policy says otherwise) after \
            its last packet. No daemon and no log: it works inside network namespaces and \
            containers. Busiest first. For a connection refused by a default, the command that \
            would admit its source is shown. Needs root or CAP_NET_ADMIN.
            """
        )

        @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Only connections whose last packet came within this time (90s, 5m, 1h).", valueName: "time"), transform: DurationArgument.parse)
        var since: DurationArgument?

        @Option(name: .long, parsing: .unconditionalSingleValue, help: ArgumentHelp("Only these ports: 26, 26/tcp, 53/udp, 8000-8100, 25,26 (repeatable). Without a protocol, TCP and UDP.", valueName: "ports"), transform: PortsArgument.parse)
        var port: [PortsArgument] = []

        @Option(name: .long, parsing: .unconditionalSingleValue, help: ArgumentHelp("Only sources inside these addresses or CIDRs, comma-separated; repeatable.", valueName: "addr"))
        var from: [SourceList] = []

        @Option(name: .long, help: ArgumentHelp("Only what this refused: default, published-default, routed-default, rule, ban or limit (repeatable).", valueName: "reason"))
        var reason: [String] = []

        @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("At most this many connections, the busiest.", valueName: "n"))
        var top: Int?

        @Flag(name: .long, help: "Print the report as JSON.")
        var json = false

        @OptionGroup var global: GlobalOptions

        static let reasonLabels: [String: DropReason.Kind] = [
            "default": .inboundDefault, "published-default": .publishedDefault, "routed-default": .routedDefault,
            "rule": .rule, "ban": .ban, "limit": .limit,
        ]

        func validate() throws {
            if let top, top < 1 {
                throw ValidationError("invalid --top \(top): give a number of connections, 1 or more")
            }
            for label in reason where Self.reasonLabels[label] == nil {
                throw ValidationError("invalid --reason \"\(label)\": use default, published-default, routed-default, rule, ban or limit")
            }
        }

        func run() throws {
            try global.reporting {
                var ports: [PortRange] = []
                var proto = TransportProtocol.both
                for given in port {
                    ports += given.spec.ports
                    proto = given.namesProtocol ? given.spec.proto : .both
                }
                let from = try self.from.flatMap { try $0.parse() }
                let now = Date()
                let policy = try global.loadExisting()
                let report = try global.control.drops(policy: policy, now: now)
                    .filtered(since: since.map { now.addingTimeInterval(-Double($0.seconds)) }, ports: ports, proto: proto, from: from,
                              reasons: Set(reason.compactMap { Self.reasonLabels[$0] }), top: top)
                if json {
                    print(DropsDocument.text(report, admitting: report.admittingCommands(policy: policy, now: now), now: now), terminator: "")
                    return
                }
                guard let kept = report.keptSeconds else {
                    say("portctl's table records no refused connections (defaults.drops is off, or the table was made by an older portctl: apply records them)")
                    return
                }
                if report.connections.isEmpty {
                    say("no refused connections recorded\(since.map { " in the last \($0.text)" } ?? " (each is kept \(Planner.duration(kept)) after its last packet)")")
                } else {
                    printTable([["SOURCE", "PORT", "PACKETS", "LAST SEEN", "REFUSED BY"]] + report.connections.map {
                        [$0.source.description, "\($0.port)/\($0.proto.rawValue)", "\($0.packets)",
                         Planner.duration(max(0, Int(now.timeIntervalSince($0.lastSeen)))) + " ago", $0.reason.description]
                    })
                    let admitting = report.admittingCommands(policy: policy, now: now).compactMap { $0 }
                    var shown = Set<String>()
                    let commands = admitting.filter { shown.insert($0).inserted }
                    if !commands.isEmpty {
                        say("")
                        say("to admit a source the default refused (as its packets claim it: check who it is first):")
                        for command in commands.prefix(5) { say("  " + command) }
                        if commands.count > 5 { say("  (and \(commands.count - 5) more)") }
                    }
                }
                if report.unrecorded > 0 {
                    warn("\(Counted.text(report.unrecorded, "refused connection")) could not be recorded: the record was full (\(report.capacity) per address family); they were refused all the same")
                }
            }
        }
    }
}

/// `portctl drops --json`: the record's settings, then one connection per line (written by hand:
/// Foundation's encoder takes most of a second for a full record of 65,536).
///
/// `{"capacity": N, "keptSeconds": N|null, "recording": BOOL, "unrecorded": N, "connections": [
/// {"source", "port", "proto", "packets", "lastSeen", "secondsAgo", "reason", "rule", "refusedBy", "admit"}, ...]}`;
/// `rule` and `admit` are null when they do not apply.
enum DropsDocument {
    static func text(_ report: DropReport, admitting: [String?], now: Date) -> String {
        var out = "{\n  \"capacity\" : \(report.capacity),\n"
        out += "  \"keptSeconds\" : \(report.keptSeconds.map(String.init) ?? "null"),\n"
        out += "  \"recording\" : \(report.keptSeconds != nil),\n"
        out += "  \"unrecorded\" : \(report.unrecorded),\n"
        out += "  \"connections\" : ["
        out.reserveCapacity(out.utf8.count + report.connections.count * 260)
        var first = true
        // Elements recorded within the same second share their timestamp's text.
        var stamps: [Int: String] = [:]
        for (connection, admit) in zip(report.connections, admitting) {
            let second = Int(connection.lastSeen.timeIntervalSince1970.rounded(.down))
            let stamp = stamps[second] ?? Timestamp.format(Date(timeIntervalSince1970: Double(second)))
            stamps[second] = stamp
            out += first ? "\n    " : ",\n    "
            first = false
            out += "{\"source\": \(quoted(connection.source.description)), \"port\": \(connection.port), \"proto\": \"\(connection.proto.rawValue)\", "
            out += "\"packets\": \(connection.packets), \"lastSeen\": \"\(stamp)\", "
            out += "\"secondsAgo\": \(max(0, Int(now.timeIntervalSince(connection.lastSeen)))), \"reason\": \"\(connection.reason.label)\", "
            out += "\"rule\": \(connection.reason.ruleID.map(quoted) ?? "null"), \"refusedBy\": \(quoted(connection.reason.description)), "
            out += "\"admit\": \(admit.map(quoted) ?? "null")}"
        }
        out += first ? "]\n}\n" : "\n  ]\n}\n"
        return out
    }

    /// A JSON string (the texts here are addresses, ids and fixed words; escaped all the same).
    static func quoted(_ text: String) -> String {
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) { return "\"" + text + "\"" }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
