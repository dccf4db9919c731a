import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// The hidden watchdog behind `--confirm`: sleeps until the deadline, then rolls back unless
    /// the confirmation it was started for has been confirmed or replaced.
    struct Watchdog: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "watchdog", shouldDisplay: false)

        @Option(help: "The confirmation token to watch.")
        var token: String
        @OptionGroup var global: GlobalOptions

        func run() throws {
            // The watchdog's own process: it outlives the terminal. Descriptors other than its
            // start report were closed when it was spawned.
            signal(SIGHUP, SIG_IGN)
            try global.control.runWatchdog(token: token)
        }
    }
}
