import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl confirm`: keep a change applied with `--confirm`.
    struct Confirm: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "confirm",
            abstract: "Keep the change applied with --confirm (run it from a new connection: that proves you can still get in).")

        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                if let sequence = try global.control.confirm() {
                    say("confirmed change #\(sequence); it stays")
                } else {
                    say("no change is waiting for confirmation")
                }
            }
        }
    }
}
