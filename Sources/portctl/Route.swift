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
            """
        )

        @Argument(help: ArgumentHelp("Destination ports: 26, 53/udp, 8000-8100.", valueName: "ports"))
        var ports: String
        @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("Sending networks, comma-separated; repeatable. Without it: any.", valueName: "addr"))
        var from: [SourceList] = []
        @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("Receiving networks, comma-separated; repeatable. Without it: any.", valueName: "addr"))
        var to: [SourceList] = []
        @Option(name: .customLong("in"), help: ArgumentHelp("Only traffic arriving on this interface.", valueName: "name"))
        var inInterface: String?
        @Option(name: .customLong("out"), help: ArgumentHelp("Only traffic leaving by this interface.", valueName: "name"))
        var outInterface: String?
        @Option(name: .long, help: ArgumentHelp("The rule id; derived from the ports when omitted.", valueName: "id"))
        var id: String?
        @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("A note kept in the policy and the nftables comment.", valueName: "text"))
        var comment: String?
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let route = try global.reporting { () throws(PolicyError) -> RoutedRule in
                let spec = try PortSpec(parsing: ports, services: SystemServices.load())
                var sources: [IPNetwork] = [], destinations: [IPNetwork] = []
                for list in from { sources += try list.parse() }
                for list in to { destinations += try list.parse() }
                return RoutedRule(id: id ?? "", ports: spec.ports, proto: spec.proto, sources: sources, destinations: destinations,
                                  inInterface: inInterface, outInterface: outInterface, comment: comment)
            }
            try changePolicy(global, change, command: "route") { policy in [try policy.add(route)] }
        }
    }
}
