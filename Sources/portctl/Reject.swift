import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl reject`: refuse ports.
    struct Reject: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reject",
            abstract: "Refuse traffic to ports (TCP reset, ICMP port-unreachable for UDP); wins over any allow.")

        @OptionGroup var target: PortArguments
        @OptionGroup var naming: RuleNaming
        @OptionGroup var routing: RoutedOptions
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func run() throws {
            if routing.routed {
                try routedRule(.reject, target, naming, routing, change, global)
            } else {
                try block(.reject, target, naming, change, global)
            }
        }
    }
}
