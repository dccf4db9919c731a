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
        @Option(name: .long, help: ArgumentHelp("Limit new connections per source address, like 6/minute (also /second, /hour, /day); the rest are dropped.", valueName: "rate"))
        var limit: String?
        @Option(name: .customLong("for"), help: ArgumentHelp("Close again by itself after this long (90s, 30m, 2h, 1d): the kernel expires it, no daemon needed.", valueName: "duration"))
        var duration: String?
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let request = try global.reporting {
                var request = try naming.apply(to: target.request())
                request.limit = try limit.map { (text) throws(PolicyError) in try RateLimit(parsing: text) }
                if let duration {
                    let seconds = try parseDuration(duration)
                    request.expires = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + Double(seconds)).rounded(.down))
                }
                return request
            }
            try changePolicy(global, change, command: "open") { policy in
                let opened = try policy.open(request)
                return [opened] + (request.only ? policy.othersAdmitting(request) : [])
            }
        }
    }
}
