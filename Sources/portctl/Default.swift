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
            let allowed: [String] = switch name {
            case .inbound: InboundDefault.allCases.map(\.rawValue)
            case .outbound: OutboundDefault.allCases.map(\.rawValue)
            case .published: PublishedDefault.allCases.map(\.rawValue)
            case .routed: RoutedDefault.allCases.map(\.rawValue)
            }
            guard allowed.contains(value) else {
                throw ValidationError("invalid \(name.rawValue) default \"\(value)\": use \(allowed.joined(separator: ", "))")
            }
        }

        func run() throws {
            try changePolicy(global, change, command: "default") { policy in
                let before: String
                switch name {
                case .inbound:
                    before = policy.inbound.rawValue
                    policy.inbound = InboundDefault(rawValue: value)!
                case .outbound:
                    before = policy.outbound.rawValue
                    policy.outbound = OutboundDefault(rawValue: value)!
                case .published:
                    before = policy.published.rawValue
                    policy.published = PublishedDefault(rawValue: value)!
                case .routed:
                    before = policy.routed.rawValue
                    policy.routed = RoutedDefault(rawValue: value)!
                }
                return [before == value ? .unchanged("the \(name.rawValue) default is already \(value)")
                                        : .defaultChanged(name.rawValue, from: before, to: value)]
            }
        }
    }
}

/// The defaults `portctl default` sets.
enum DefaultName: String, ExpressibleByArgument, CaseIterable {
    case inbound, outbound, published, routed
}
