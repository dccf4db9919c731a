import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl bans`: what is banned.
    struct Bans: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bans",
            abstract: "List the bans in force: address, expiry, comment; and the packets they dropped.")

        @Flag(name: .long, help: "Print the bans as JSON.")
        var json = false
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                let bans = try global.control.bans()
                if json {
                    print(jsonText(bans))
                    return
                }
                if bans.isEmpty { say("no bans"); return }
                printTable([["ADDRESS", "UNTIL", "SINCE", "HITS", "COMMENT"]]
                    + bans.map { [$0.network, $0.expires ?? "unban", $0.added, $0.hits.map(String.init) ?? "-", $0.comment ?? ""] })
            }
        }
    }
}
