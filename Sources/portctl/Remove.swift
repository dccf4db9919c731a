import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl remove`: delete a rule by id.
    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Remove one rule, of any kind, by its id (see portctl list).")

        @Argument(help: "The rule id.")
        var id: String
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try changePolicy(global, change, command: "remove") { policy in [try policy.remove(id: id)] }
        }
    }
}
