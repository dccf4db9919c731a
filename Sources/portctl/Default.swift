import ArgumentParser
import Foundation
import PortPolicy

extension Portctl {
    /// `portctl default`: set what happens to traffic no rule matches (ufw's `ufw default deny incoming`).
    struct Default: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "default",
            abstract: "Set a default: inbound drop|reject|accept, outbound accept|drop, published filter|accept, routed accept|drop.",
            discussion: """
            inbound: what happens to inbound traffic no rule matches. outbound: the same for \
            traffic this host sends (used when the policy has outbound rules). published: whether \
            the inbound rules and default also govern ports that a table DNATs elsewhere (Docker's \
            and Podman's published ports, libvirt's, any DNAT): filter (the default) or accept \
            (leave them to whoever published them; audit still reports them). routed: traffic this \
            host routes between networks without DNAT: accept (the default) or drop (then only \
            'portctl route' flows pass).

            Examples:
              portctl default inbound reject
              portctl default published filter
            """
        )

        @Argument(help: "inbound, outbound, published or routed.")
        var name: DefaultName
        @Argument(help: "inbound: drop, reject or accept; outbound: accept or drop; published: filter or accept; routed: accept or drop.")
        var value: String
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            // Refused before the lock or the privilege check: a typo is a usage error anywhere.
            do throws(PolicyError) {
                try name.setting.check(value)
            } catch {
                throw ValidationError(error.description)
            }
        }

        func run() throws {
            try changePolicy(global, change, command: "default") { policy in [try policy.setDefault(name.setting, to: value)] }
        }
    }
}

/// The defaults `portctl default` sets, as typed (the library's ``PolicyDefault``; a public
/// library type cannot conform to ArgumentParser's protocol from here).
enum DefaultName: String, ExpressibleByArgument, CaseIterable {
    case inbound, outbound, published, routed

    /// The library's name for it.
    var setting: PolicyDefault {
        switch self {
        case .inbound: .inbound
        case .outbound: .outbound
        case .published: .published
        case .routed: .routed
        }
    }
}
