import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl route`: allow routed traffic between segments.
    struct Route: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "route",
            abstract: "Allow traffic this host routes from some networks to others, on these ports (segmentation).",
            discussion: """
            Only matters with 'portctl default routed drop' (the default is accept, so installing \
            portctl on a router breaks nothing). Replies of allowed connections pass; 'deny \
            --routed' and 'reject --routed' win over route.

            Example:
              portctl default routed drop
              portctl route 26 --from 198.51.100.0/24 --to 203.0.113.0/24
              portctl route 53/udp --in-interface eth0 --out-interface eth1
            """
        )

        @Argument(help: ArgumentHelp("Destination ports: 26, 53/udp, 8000-8100.", valueName: "ports"), transform: PortsArgument.parse)
        var ports: PortsArgument
        @Option(name: .long, parsing: .unconditionalSingleValue, help: ArgumentHelp("Sending networks, comma-separated; repeatable. Without it: any.", valueName: "addr"))
        var from: [SourceList] = []
        @Option(name: .long, parsing: .unconditionalSingleValue, help: ArgumentHelp("Receiving networks, comma-separated; repeatable. Without it: any.", valueName: "addr"))
        var to: [SourceList] = []
        @Option(name: [.customLong("in-interface"), .customLong("interface")], parsing: .unconditional, help: ArgumentHelp("Only traffic arriving on this interface.", valueName: "name"))
        var inInterface: String?
        @Option(name: .customLong("out-interface"), parsing: .unconditional, help: ArgumentHelp("Only traffic leaving by this interface.", valueName: "name"))
        var outInterface: String?
        // The old spellings are refused, not kept as aliases: --out means an outbound rule on
        // open, close, deny and reject, so `route --out` would read as a direction it is not.
        @Option(name: .customLong("in"), parsing: .unconditional, help: .hidden)
        var oldIn: String?
        @Option(name: .customLong("out"), parsing: .unconditional, help: .hidden)
        var oldOut: String?
        @OptionGroup var naming: RuleNaming
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            try refuseRenamed("--in", oldIn, now: "--in-interface")
            try refuseRenamed("--out", oldOut, now: "--out-interface")
            try refuseOptionLike(inInterface, for: "--in-interface", "--interface")
            try refuseOptionLike(outInterface, for: "--out-interface")
        }

        func run() throws {
            let route = try global.reporting { () throws(PolicyError) -> RoutedRule in
                var sources: [IPNetwork] = [], destinations: [IPNetwork] = []
                for list in from { sources += try list.parse() }
                for list in to { destinations += try list.parse() }
                return RoutedRule(id: naming.id ?? "", ports: ports.spec.ports, proto: ports.spec.proto, sources: sources, destinations: destinations,
                                  inInterface: inInterface, outInterface: outInterface, comment: naming.comment)
            }
            try changePolicy(global, change, command: "route") { policy in [try policy.add(route)] }
        }
    }
}
