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
            try changePolicy(global, change, command: "open") { policy in [try policy.open(request)] }
        }
    }

    /// `portctl close`: undo `open`.
    struct Close: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "close",
            abstract: "Remove what opened ports (or only some of its sources).",
            discussion: """
            Without --from, the ports are removed from every allow rule that opens them. With \
            --from, only those sources are removed; a rule left without sources is removed, \
            never widened to any source.
            """
        )

        @OptionGroup var target: PortArguments
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let request = try global.reporting { try target.request() }
            try changePolicy(global, change, command: "close") { policy in
                // A forward of these ports goes too: closing a port closes it whatever way it was opened.
                let forwards = request.direction == .in && request.sources.isEmpty
                    ? policy.closeForwards(request.spec.ports, proto: request.spec.proto) : []
                let closed = try policy.close(request)
                if !forwards.isEmpty, closed.allSatisfy({ if case .unchanged = $0 { true } else { false } }) { return forwards }
                return closed + forwards
            }
        }
    }

    /// `portctl deny`: drop ports.
    struct Deny: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "deny",
            abstract: "Drop traffic to ports silently (clients see 'filtered'); wins over any allow.")

        @OptionGroup var target: PortArguments
        @OptionGroup var naming: RuleNaming
        @OptionGroup var routing: RoutedOptions
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func run() throws {
            if routing.routed {
                try routedRule(.deny, target, naming, routing, change, global)
            } else {
                try block(.deny, target, naming, change, global)
            }
        }
    }

    /// `portctl reject`: refuse ports.
    struct Reject: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reject",
            abstract: "Refuse traffic to ports (TCP reset, ICMP port-unreachable for UDP); wins over any allow.")

        @OptionGroup var target: PortArguments
        @OptionGroup var naming: RuleNaming
        @OptionGroup var routing: RoutedOptions
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func run() throws {
            if routing.routed {
                try routedRule(.reject, target, naming, routing, change, global)
            } else {
                try block(.reject, target, naming, change, global)
            }
        }
    }

    /// `portctl remove`: delete a rule by id.
    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Remove one rule, of any kind, by its id (see portctl list).")

        @Argument(help: "The rule id.")
        var id: String
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try changePolicy(global, change, command: "remove") { policy in [try policy.remove(id: id)] }
        }
    }
}

/// The id, comment and logging a new rule may be given.
struct RuleNaming: ParsableArguments {
    @Flag(name: .long, help: "Log matching packets (at most 10 lines a minute) with the prefix 'portctl ID: '.")
    var log = false

    @Option(name: .long, help: ArgumentHelp("A note kept in the policy and the nftables comment (at most 90 bytes; no quotes or backslashes).", valueName: "text"))
    var comment: String?
    @Option(name: .long, help: ArgumentHelp("The rule id (a letter, then letters, digits, '.', '_', '-'); derived from the ports when omitted.", valueName: "id"))
    var id: String?

    /// The request with these options.
    func apply(to request: PortRequest) -> PortRequest {
        var request = request
        request.comment = comment
        request.id = id
        request.log = log
        return request
    }
}

/// Adds a deny or reject rule.
private func block(_ action: RuleAction, _ target: PortArguments, _ naming: RuleNaming,
                   _ change: ChangeFlags, _ global: GlobalOptions) throws {
    let request = try global.reporting { try naming.apply(to: target.request()) }
    try changePolicy(global, change, command: action.rawValue) { policy in [try policy.block(request, action: action)] }
}

/// `--routed` and the interface it leaves by, for `deny` and `reject`.
struct RoutedOptions: ParsableArguments {
    @Flag(name: .long, help: "Block routed traffic (this host as a router, no DNAT): --from names senders, --to receivers.")
    var routed = false
    @Option(name: .customLong("out-interface"), help: ArgumentHelp("With --routed: only traffic leaving by this interface.", valueName: "name"))
    var outInterface: String?
}

/// Adds a routed block (`deny --routed`, `reject --routed`).
private func routedRule(_ action: RuleAction, _ target: PortArguments, _ naming: RuleNaming, _ routing: RoutedOptions,
                        _ change: ChangeFlags, _ global: GlobalOptions) throws {
    let route = try global.reporting { () throws(PolicyError) -> RoutedRule in
        if target.out || target.fromFile != nil || naming.log {
            throw .invalidRule("--routed takes --from, --to, --interface, --out-interface, --id and --comment")
        }
        let spec = try PortSpec(parsing: target.ports, services: SystemServices.load())
        var from: [IPNetwork] = [], to: [IPNetwork] = []
        for list in target.from { from += try list.parse() }
        for list in target.to { to += try list.parse() }
        return RoutedRule(id: naming.id ?? "", ports: spec.ports, proto: spec.proto, action: action, sources: from, destinations: to,
                          inInterface: target.interface, outInterface: routing.outInterface, comment: naming.comment)
    }
    try changePolicy(global, change, command: action.rawValue) { policy in [try policy.add(route)] }
}
