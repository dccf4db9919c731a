import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl render`: the nftables ruleset for the policy.
    struct Render: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "render",
            abstract: "Print the nftables table the policy renders to. Needs no root; touches no kernel.")

        @OptionGroup var global: GlobalOptions

        func run() throws {
            let policy = try global.reporting { try global.loadExisting() }
            print(Renderer.table(policy), terminator: "")
        }
    }
}
