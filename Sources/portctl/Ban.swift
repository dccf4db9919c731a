import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl ban`: drop every new connection from some sources, on every port.
    struct BanCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ban",
            abstract: "Drop every new inbound connection from these addresses or networks, on every port, before any allow (fail2ban's action).",
            discussion: """
            Bans are state, not policy: they live in the kernel (the kernel expires them after \
            --for) and in the state folder, so that apply puts them back when it rewrites the \
            table; plan never calls them drift. Single addresses go into a plain set (a ban costs \
            the same whatever the number of bans), networks into an interval set; each ban is kept \
            as given and lifted as given. Banning the address of the current SSH client, banning \
            while SSH_CONNECTION cannot be read, and banning loopback or an address of this host \
            need --force.

            Examples:
              portctl ban 203.0.113.7 --for 1h --comment f2b-smtp
              portctl unban 203.0.113.7
            """
        )

        @Argument(help: ArgumentHelp("Addresses or CIDRs, IPv4 or IPv6.", valueName: "addr"))
        var addresses: [String] = []
        @Option(name: .customLong("for"), parsing: .unconditional, help: ArgumentHelp("Lift the ban by itself after this long (90s, 30m, 2h, 1d).", valueName: "duration"), transform: DurationArgument.parse)
        var duration: DurationArgument?
        @Option(name: .customLong("from-file"), parsing: .unconditional, help: ArgumentHelp("More addresses from a file, a pipe or - (one per line, # comments).", valueName: "file"))
        var fromFile: String?
        @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("A note kept with the ban (fail2ban's jail, say).", valueName: "text"))
        var comment: String?
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            try refuseOptionLike(comment, for: "--comment")
            if change.confirm != nil { throw ValidationError("--confirm is not for bans: unban undoes one") }
            if addresses.isEmpty && fromFile == nil { throw ValidationError("name addresses to ban, or --from-file") }
        }

        /// The sources and expiry asked for, every value checked.
        func request() throws(PolicyError) -> (networks: [IPNetwork], expires: Date?) {
            var networks: [IPNetwork] = []
            for text in addresses { networks.append(try IPNetwork(parsing: text)) }
            if let fromFile { networks += try readAddressFile(fromFile) }
            if let comment { try PortRule.validateComment(comment) }
            return (networks, duration?.end())
        }

        func run() throws {
            let asked: (networks: [IPNetwork], expires: Date?)
            do {
                asked = try request()
            } catch {
                throw Failure.from(error, verbose: global.verbose)
            }
            let networks = asked.networks, expires = asked.expires
            try global.reporting {
                let result = try global.control.ban(networks, expires: expires, comment: comment, options: change.options)
                warn(result.warnings)
                for (network, covering) in result.alreadyBanned { say("\(network) is covered by the ban of \(covering)") }
                if change.dryRun {
                    say("dry run: nothing written. This batch would ban \(result.banned.count) source\(result.banned.count == 1 ? "" : "s"):")
                    print(result.batch.text, terminator: "")
                    if !result.banned.isEmpty { throw Failure(message: "", code: .changesPending) }
                    return
                }
                for ban in result.banned {
                    say("banned \(ban.network)\(ban.expires.map { " until \($0)" } ?? "")\(ban.comment.map { " (\($0))" } ?? "")")
                }
            }
        }
    }
}
