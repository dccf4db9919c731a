import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl forward`: a port forward (DNAT) to another machine.
    struct Forward: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "forward",
            abstract: "Forward ports arriving here to another address (a router's port forwarding), from the given sources.",
            discussion: """
            Connections to this host on PORTS are sent on to ADDR (and PORT, when given; a range \
            maps to a range of the same size). Only the --from sources may use the forward; \
            deny and reject rules for them still win. --masquerade also rewrites the source, for \
            a server whose route back does not pass through this host. Forwarding must be on \
            (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding): portctl warns, never sets it.

            Examples:
              portctl forward 26 --to 203.0.113.2:2525 --from 198.51.100.0/24
              portctl forward 53/udp --to [2001:db8::53]
            """
        )

        @Argument(help: ArgumentHelp("Ports on this host: 26, 26/udp, 8000-8100.", valueName: "ports"), transform: PortsArgument.parse)
        var ports: PortsArgument
        @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Where connections go: ADDR, ADDR:PORT or [IPV6]:PORT.", valueName: "addr[:port]"))
        var to: String
        @Option(name: .long, parsing: .unconditionalSingleValue, help: ArgumentHelp("Who may use the forward: addresses or CIDRs of the target's family, comma-separated; repeatable. Without it: any source.", valueName: "addr"))
        var from: [SourceList] = []
        @Flag(name: .long, help: "Also rewrite the source to this host's address.")
        var masquerade = false
        @Option(name: [.customLong("in-interface"), .customLong("interface")], parsing: .unconditional, help: ArgumentHelp("Only traffic arriving on this interface.", valueName: "name"))
        var interface: String?
        @OptionGroup var naming: RuleNaming
        @Flag(name: .long, help: "Make the forward's sources exactly the --from list, in one change (a second forward of the same ports and target otherwise adds its sources to the first).")
        var only = false
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            try refuseOptionLike(interface, for: "--in-interface", "--interface")
        }

        func run() throws {
            let forward = try global.reporting { () throws(PolicyError) -> PortForward in
                let spec = ports.spec
                let (address, port) = try PortForward.parseTarget(to)
                var sources: [IPNetwork] = []
                for list in from { sources += try list.parse() }
                let forward = PortForward(id: naming.id ?? "", ports: spec.ports, proto: spec.proto, sources: sources, interface: interface,
                                          comment: naming.comment, to: address, toPort: port, masquerade: masquerade)
                // Checked before any warning: bad input gets its one line and nothing else.
                var checked = forward
                if checked.id.isEmpty { checked.id = "forward" }
                do throws(PolicyError) {
                    try checked.validate()
                } catch {
                    // Without --id the rule has no name yet: the error speaks of the value alone.
                    if case let .inRule(_, inner) = error, forward.id.isEmpty { throw inner }
                    throw error
                }
                // A DNAT to this host's own address is a redirect: its connections reach the input
                // chain by the new port, where the forward's sources and blocks no longer apply.
                if LocalInterfaces.name(holding: address) != nil {
                    throw .invalidSource(to, reason: "that is this host's own address; to serve a port here, open it (portctl open), or forward to another machine")
                }
                return forward
            }
            if only && forward.sources.isEmpty {
                throw Failure(message: "--only names the sources the forward keeps: give them with --from", code: .usage)
            }
            if forward.sources.isEmpty {
                warn("forwarded \(PortRange.merged(forward.ports).map(\.description).joined(separator: ","))/\(forward.proto.rawValue) is open to ANY source address; use --from to restrict it")
            }
            if let sysctl = HostForwarding.off(for: forward.to.family) {
                warn("forwarding is off in this network namespace, so nothing will be forwarded: set \(sysctl)=1 (sysctl -w \(sysctl)=1, and in /etc/sysctl.d to keep it)")
            }
            try changePolicy(global, change, command: "forward") { policy in [try policy.add(forward, only: only)] }
        }
    }
}
