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
                    + bans.map { [$0.network, $0.expires ?? "unban", $0.added,
                                  $0.inKernel == false ? "NOT IN KERNEL" : $0.hits.map(String.init) ?? "-", $0.comment ?? ""] })
                let missing = bans.filter { $0.inKernel == false }
                if !missing.isEmpty {
                    warn("\(Counted.text(missing.count, "ban")) listed in the state folder \(missing.count == 1 ? "is" : "are") not in the kernel (refused when the table was rewritten, or the table is missing): 'portctl unban ADDRESS' removes \(missing.count == 1 ? "it" : "them") from the state")
                }
            }
        }
    }
}
