import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl trace`: the kernel's own verdict for real packets, next to explain's.
    struct Trace: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "trace",
            abstract: "Show the path of real packets from SOURCE to PORT through every nftables table, and the kernel's verdict next to explain's.",
            discussion: """
            For the trace's duration only, portctl adds table inet portctl-trace-PID-START, whose \
            one rule marks matching packets (meta nftrace set 1) before any other chain sees them \
            (priority -350); it reads the kernel's trace events for them and prints every table, \
            chain and rule each packet met (Docker's, firewalld's, anyone's) and its fate, with \
            portctl's rules named by id; then it says whether explain agrees. TCP: connection \
            attempts (SYN) are marked; UDP: every datagram. The table is removed when the trace \
            ends (after --count packets, at --timeout, on Ctrl-C or SIGTERM); a killed trace's \
            table is removed by the next portctl command. Needs root or CAP_NET_ADMIN.

            Exit: 0 a packet was traced; 1 none arrived before the timeout.

            Example: portctl trace 203.0.113.5 26
            """
        )

        @Argument(help: ArgumentHelp("The source: an address or a network (203.0.113.5, 203.0.113.0/24, 2001:db8::/48).", valueName: "source"))
        var source: String
        @Argument(help: ArgumentHelp("The destination port: 26, 26/tcp, 53/udp or a service name.", valueName: "port[/proto]"), transform: PortsArgument.parse)
        var port: PortsArgument
        @Option(name: .customLong("proto"), help: ArgumentHelp("tcp (the default) or udp.", valueName: "tcp|udp"))
        var proto: String?
        @Option(name: .long, help: ArgumentHelp("Only packets to this destination address (before any DNAT): a routed flow, or one of this host's addresses.", valueName: "addr"))
        var to: String?
        @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Stop after this long: 30s (the default), 5m; a plain number is seconds.", valueName: "duration"), transform: TimeoutArgument.parse)
        var timeout = TimeoutArgument("30s", seconds: 30)
        @Option(name: .long, help: ArgumentHelp("Stop after this many packets.", valueName: "n"))
        var count = 1
        @Flag(name: .long, help: "Print one JSON object per packet, one per line.")
        var json = false
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                let sources: [IPNetwork]
                do {
                    sources = [try IPNetwork(parsing: source)]
                } catch {
                    throw PolicyError.invalidSource(source, reason: "expected an IPv4 or IPv6 address or network, like 203.0.113.5 or 203.0.113.0/24")
                }
                let spec = port.spec
                _ = try port.single(for: "trace")
                var protocolName = spec.proto
                if let proto {
                    guard let given = TransportProtocol(rawValue: proto), given != .both else {
                        throw PolicyError.invalidValue(proto, field: "--proto", allowed: ["tcp", "udp"])
                    }
                    if port.namesProtocol && given != spec.proto {
                        throw PolicyError.invalidValue(proto, field: "--proto", allowed: ["\(spec.proto.rawValue) (the port names it)"])
                    }
                    protocolName = given
                }
                guard protocolName != .both else { throw PolicyError.invalidProtocol("both") }
                var destination: IPNetwork?
                if let to {
                    guard let address = IPAddress(to), address.family == sources[0].family else {
                        throw PolicyError.invalidSource(to, reason: "expected one address of the source's family, like 198.51.100.1")
                    }
                    destination = try IPNetwork(address: address, prefixLength: address.family.bitWidth)
                }
                let seconds = timeout.seconds
                let during = timeout.description
                guard (1...1_000_000).contains(count) else {
                    throw Failure(message: "invalid --count \"\(count)\": give a number of packets from 1 to 1000000", code: .usage)
                }
                try requireNetAdmin("tracing packets")
                let control = global.control
                let policy = try control.loadPolicy()?.policy
                var bans: [Ban] = []
                if policy != nil {
                    bans = try BanStore(directory: global.paths.stateDirectory).load()
                }
                control.removeAbandonedTraces()
                let tracer = try PacketTracer(portctlTable: policy?.table ?? PortPolicy.defaultTable)
                Tracing.stopOnSignals(tracer)
                let marking = TraceMarking.trace(from: sources, port: spec.ports[0].first, proto: protocolName, to: destination)
                let what = "\(source) to \(destination.map { "\($0.address) " } ?? "")port \(spec.ports[0].first)/\(protocolName.rawValue)"
                var traced = 0
                var pipeClosed = false
                let summary = try tracer.run(marking: marking, seconds: seconds) { notice in
                    switch notice {
                    case .started:
                        FileHandle.standardError.write(Data("tracing \(protocolName == .tcp ? "connection attempts" : "datagrams") from \(what) for \(during) (table inet \(tracer.traceTable); Ctrl-C ends)\n".utf8))
                    case .tick:
                        break
                    case let .eventsLost(count):
                        FileHandle.standardError.write(Data("portctl: the kernel dropped trace events: at least \(count) marked packet\(count == 1 ? "" : "s") not seen whole\n".utf8))
                    case let .packet(packet):
                        traced += 1
                        let comparison = policy.map { compare(packet, policy: $0, bans: bans) }
                        let text = json ? Tracing.jsonLine(Tracing.PacketJSON(packet, path: true, explain: comparison))
                            : describe(packet, number: traced, comparison: comparison)
                        if !Tracing.emit(text) { pipeClosed = true; return false }
                    }
                    return traced < count
                }
                if pipeClosed { return }
                if summary.lost > 0 {
                    FileHandle.standardError.write(Data("portctl: \(summary.lost) of \(summary.marked ?? 0) marked packets were not seen whole: the kernel dropped their trace events\n".utf8))
                }
                if traced == 0 {
                    throw Failure(message: "no packet from \(what) arrived within \(during)", code: .failure)
                }
            }
        }

        /// What the policy says about the packet, against what the kernel did.
        func compare(_ packet: TracedPacket, policy: PortPolicy, bans: [Ban]) -> TraceComparison {
            let outcome = packet.outcome
            guard let headers = packet.headers, let port = headers.destinationPort,
                  let proto = TransportProtocol(rawValue: headers.protocolName), proto != .both else {
                return TraceComparison(notJudged: "explain judges TCP and UDP packets to a port only", outcome: outcome)
            }
            let local = LocalInterfaces.name(holding: headers.destination) != nil
            if !local && outcome.forwardedTo == nil {
                let (verdict, rule) = policy.evaluate(routed: RoutedPacket(source: headers.source, destination: headers.destination, port: port,
                                                                           proto: proto, inInterface: packet.inInterfaceName))
                return TraceComparison(verdict: verdict, rule: rule?.id, banned: false, outcome: outcome)
            }
            let explanation = policy.explain(Packet(source: headers.source, port: port, proto: proto, interface: packet.inInterfaceName))
            if outcome.forwardedTo != nil, policy.published == .accept, explanation.forwardedTo == nil {
                return TraceComparison(notJudged: "the port is published by DNAT and defaults.published is accept: its publisher decides, not this policy", outcome: outcome)
            }
            let banned = bans.contains { $0.parsed?.contains(headers.source) ?? false }
            return TraceComparison(explanation: explanation, banned: banned, outcome: outcome)
        }

        /// The packet's path, one line a step, then the verdict and explain's.
        func describe(_ packet: TracedPacket, number: Int, comparison: TraceComparison?) -> String {
            var head = "packet \(number): \(packet.summary)"
            if let flags = packet.headers?.tcpFlagNames { head += " [\(flags)]" }
            if let interface = packet.inInterfaceName { head += " in on \(interface)" }
            head += " at \(Tracing.clockTime(packet.seenAt))"
            var lines = [head]
            if !packet.complete { lines.append("  (its first trace events were lost: the path may be incomplete)") }
            if packet.hops.isEmpty { lines.append("  (no chain of any table saw it after the trace mark)") }
            for hop in packet.hops {
                let place = "\(hop.tableName) \(hop.chain)" + (hop.hook.map { " (hook \($0))" } ?? "")
                let what: String = switch hop.kind {
                case "policy": "policy \(hop.verdict)"
                case "return": "end of chain, return"
                default: (hop.rule ?? "rule handle \(hop.handle.map(String.init) ?? "?") (no longer listed)") + " -> \(hop.verdict)"
                }
                let id = hop.ruleID.map { "  [\($0)]" } ?? (hop.role == "default" ? "  [default]" : "")
                lines.append("  \(place): \(what)\(id)")
            }
            lines.append("  kernel: \(packet.outcome.sentence)")
            if let comparison {
                lines.append("  \(comparison.agrees ? "" : "DISAGREES: ")\(comparison.message)")
            }
            return lines.joined(separator: "\n")
        }
    }
}
