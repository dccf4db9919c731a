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

        @Option(name: .customLong("to"), help: ArgumentHelp("Put the policy file and table back as they were right after change N (from 'portctl history'), as one new change.", valueName: "n"))
        var to: Int?
        @Flag(name: .long, help: "Roll back even if the restored policy would block new SSH logins over this connection, or the policy file is not what the last change left (a hand edit is then discarded).")
        var force = false
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            if let to, to < 1 { throw ValidationError("invalid --to \(to): history entries are numbered from 1 (see 'portctl history')") }
        }

        func run() throws {
            try global.reporting {
                if let to {
                    let result = try global.control.rollBack(to: to, force: force)
                    say("restored the policy file and table inet \(result.table) as they were after change #\(to)"
                        + (result.removedPolicy ? " (no policy then: table and policy file removed)" : "")
                        + "; 'portctl rollback' undoes this")
                    for unrestored in result.unrestoredBans { warn(unrestored.description) }
                    return
                }
                let result = try global.control.rollBack(command: "rollback", force: force)
                say(describe(result))
                for unrestored in result.unrestoredBans { warn(unrestored.description) }
            }
        }
    }
}
