import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl deny`: drop ports.
    struct Deny: BlockCommand {
        static let action = RuleAction.deny
        static let configuration = CommandConfiguration(
            commandName: "deny",
            abstract: "Drop traffic to ports silently (clients see 'filtered'); wins over any allow.",
            discussion: BlockArguments.discussion("deny"))

        @OptionGroup var rule: BlockArguments
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions
    }

    /// `portctl reject`: refuse ports.
    struct Reject: BlockCommand {
        static let action = RuleAction.reject
        static let configuration = CommandConfiguration(
            commandName: "reject",
            abstract: "Refuse traffic to ports (TCP reset, ICMP port-unreachable for UDP); wins over any allow.",
            discussion: BlockArguments.discussion("reject"))

        @OptionGroup var rule: BlockArguments
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions
    }
}

/// `deny` and `reject`: one command with two actions. Each declares its options (ArgumentParser
/// reads them from the command's own properties); what they do is this protocol's `run()`.
protocol BlockCommand: ParsableCommand {
    /// What the rule does to matching traffic.
    static var action: RuleAction { get }
    /// The rule asked for.
    var rule: BlockArguments { get }
    /// `--dry-run`, `--confirm`, `--force`, `--json`.
    var change: ChangeFlags { get }
    /// `--policy`, `--verbose`.
    var global: GlobalOptions { get }
}

extension BlockCommand {
    func run() throws {
        let action = Self.action, rule = self.rule
        if rule.routed {
            let route = try global.reporting { try rule.routedRule(action) }
            try changePolicy(global, change, command: action.rawValue) { policy in [try policy.add(route)] }
        } else {
            let request = try global.reporting { try rule.behaviour.apply(to: rule.target.request(), naming: rule.naming) }
            try changePolicy(global, change, command: action.rawValue) { policy in [try policy.block(request, action: action)] }
        }
    }
}

/// What `deny` and `reject` take.
struct BlockArguments: ParsableArguments {
    @OptionGroup var target: PortArguments
    @OptionGroup var naming: RuleNaming
    @OptionGroup var behaviour: RuleBehaviour
    @Flag(name: .long, help: "Block routed traffic (this host as a router, no DNAT): --from names senders, --to receivers.")
    var routed = false

    /// The help's discussion for `command`.
    static func discussion(_ command: String) -> String {
        """
        Inbound traffic by default; --out makes an outbound rule (traffic this host sends), \
        --routed a rule for traffic this host routes. --in-interface names the interface \
        traffic arrives on, --out-interface the one it leaves by.

        Examples:
          portctl \(command) 23
          portctl \(command) 26 --from 198.51.100.0/24 --comment "old relays"
          portctl \(command) 26 --routed --from 198.51.100.9 --to 203.0.113.0/24 --out-interface eth1
        """
    }

    /// The routed rule asked for (`--routed`), every value checked.
    func routedRule(_ action: RuleAction) throws(PolicyError) -> RoutedRule {
        if target.out || target.fromFile != nil || behaviour.log || behaviour.only {
            throw .invalidRule("--routed takes --from, --to, --in-interface, --out-interface, --id and --comment")
        }
        var from: [IPNetwork] = [], to: [IPNetwork] = []
        for list in target.from { from += try list.parse() }
        for list in target.to { to += try list.parse() }
        return RoutedRule(id: naming.id ?? "", ports: target.ports.spec.ports, proto: target.ports.spec.proto, action: action,
                          sources: from, destinations: to, inInterface: target.inInterface, outInterface: target.outInterface,
                          comment: naming.comment)
    }
}
