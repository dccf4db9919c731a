import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl close`: undo `open`.
    struct Close: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "close",
            abstract: "Remove what opened ports (or only some of its sources).",
            discussion: """
            Without --from, the ports are removed from every allow rule that opens them, and a \
            forward of them goes too. With --from, only those sources are removed, and part of a \
            listed network splits it (198.51.100.0/24 closed for 198.51.100.128/25 keeps \
            198.51.100.0/25); a rule left without sources is removed, never widened to any source.
            """
        )

        @OptionGroup var target: PortArguments
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let request = try global.reporting { try target.request() }
            try changePolicy(global, change, command: "close") { policy in try policy.close(request) }
        }
    }
}
