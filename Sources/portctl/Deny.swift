import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl deny`: drop ports.
    struct Deny: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "deny",
            abstract: "Drop traffic to ports silently (clients see 'filtered'); wins over any allow.")

        @OptionGroup var target: PortArguments
        @OptionGroup var naming: RuleNaming
        @OptionGroup var routing: RoutedOptions
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func run() throws {
            if routing.routed {
                try routedRule(.deny, target, naming, routing, change, global)
            } else {
                try block(.deny, target, naming, change, global)
            }
        }
    }
}
