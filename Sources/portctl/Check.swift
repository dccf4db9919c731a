import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl check`: validate the policy, with the kernel's help when allowed.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate the policy file and its rendered ruleset (the kernel checks it too, with CAP_NET_ADMIN).")

        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                let policy = try global.loadExisting()
                say("policy \(global.paths.policyFile): valid (\(policy.rules.count) rule\(policy.rules.count == 1 ? "" : "s"))")
                if Privilege.hasNetAdmin {
                    // The ownership rule apply follows: a table portctl did not create is refused.
                    try global.control.firewall.requireOwnTable(policy.table)
                    try global.control.firewall.check(policy)
                    say("ruleset: the kernel accepted it in check mode (nothing was committed)")
                } else {
                    say("ruleset: rendered, but not checked by the kernel: that needs root or CAP_NET_ADMIN")
                }
            }
        }
    }
}
