import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl unban`: lift bans.
    struct Unban: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "unban",
            abstract: "Lift bans made with portctl ban.")

        @Argument(help: ArgumentHelp("The banned addresses or CIDRs, as banned.", valueName: "addr"))
        var addresses: [String]
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let networks = try global.reporting { () throws(PolicyError) -> [IPNetwork] in
                var networks: [IPNetwork] = []
                for text in addresses { networks.append(try IPNetwork(parsing: text)) }
                return networks
            }
            try global.reporting {
                let unbanned = try global.control.unban(networks)
                let lifted = unbanned.lifted, notBanned = unbanned.notBanned
                // fail2ban unbans what it banned; an address the kernel already let go is fine.
                for network in notBanned { say("\(network) is not banned") }
                for network in lifted { say("unbanned \(network)") }
            }
        }
    }
}
