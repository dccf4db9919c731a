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
                try global.withLock(privileged: "lifting bans") {
                    let policy = try global.loadExisting()
                    let state = BanStore(directory: global.paths.stateDirectory)
                    var bans = state.load()
                    let listed = Set(bans.compactMap(\.parsed))
                    // fail2ban unbans what it banned; an address the kernel already let go is fine.
                    for network in networks where !listed.contains(network) { say("\(network) is not banned") }
                    let lifted = networks.filter(listed.contains)
                    try Firewall().removeBans(lifted, table: policy.table)
                    bans.removeAll { ban in ban.parsed.map { lifted.contains($0) } ?? false }
                    try state.save(bans)
                    for network in lifted { say("unbanned \(network)") }
                }
            }
        }
    }
}
