import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl rollback`: undo the last applied change.
    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract: "Restore the policy file and ruleset in force before the last applied change (run it again to redo).")

        @Flag(name: .long, help: "Roll back even if the restored policy would block new SSH logins over this connection.")
        var force = false
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                let result = try global.control.rollBack(command: "rollback", force: force)
                say(describe(result))
                for unrestored in result.unrestoredBans { warn(describe(unrestored)) }
            }
        }
    }
}
