import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl open`: allow ports, from some sources or from any.
    struct Open: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "open",
            abstract: "Allow ports, from the given sources (or from any source).",
            discussion: """
            Examples:
              portctl open 26 --from 10.0.0.0/8
              portctl open 53/udp --from 198.51.100.0/24,2001:db8::/32
              portctl open 8000-8100/tcp
              portctl open smtp --comment "mail relays"
            Opening ports that a rule already opens adds the new sources to that rule.
            """
        )

        @OptionGroup var target: PortArguments
        @OptionGroup var naming: RuleNaming
        @OptionGroup var behaviour: RuleBehaviour
        @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Limit new connections per source address, like 6/minute (also /second, /hour, /day); the rest are dropped.", valueName: "rate"), transform: RateArgument.parse)
        var limit: RateArgument?
        @Option(name: .customLong("for"), parsing: .unconditional, help: ArgumentHelp("Close again by itself after this long (90s, 30m, 2h, 1d): the kernel expires it, no daemon needed.", valueName: "duration"), transform: DurationArgument.parse)
        var duration: DurationArgument?
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let request = try global.reporting {
                var request = try behaviour.apply(to: target.request(), naming: naming)
                request.limit = limit?.limit
                request.expires = duration?.end()
                return request
            }
            try changePolicy(global, change, command: "open") { policy in
                let opened = try policy.open(request)
                return [opened] + (request.only ? policy.othersAdmitting(request) : [])
            }
        }
    }
}
