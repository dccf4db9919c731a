public import Foundation

/// An inbound packet that opens a new connection (or a UDP datagram), as the policy sees it.
public struct Packet: Sendable, Hashable {
    /// The source address.
    public var source: IPAddress
    /// The destination port on this host.
    public var port: UInt16
    /// `tcp` or `udp`.
    public var proto: TransportProtocol
    /// The interface it arrives on, when known.
    public var interface: String?

    /// Makes a packet; `proto` must be `tcp` or `udp`.
    public init(source: IPAddress, port: UInt16, proto: TransportProtocol = .tcp, interface: String? = nil) {
        precondition(proto != .both, "a packet is either tcp or udp")
        self.source = source
        self.port = port
        self.proto = proto
        self.interface = interface
    }
}

/// What the policy does with a packet, and why.
public struct Decision: Sendable, Hashable {
    /// The packet's fate.
    public enum Verdict: String, Sendable, Hashable, Codable {
        /// Accepted.
        case accept
        /// Dropped silently.
        case drop
        /// Refused (TCP reset or ICMP port-unreachable).
        case reject
    }

    /// What decided it.
    public enum Cause: Sendable, Hashable {
        /// The baseline (loopback traffic is always accepted).
        case baseline(String)
        /// A rule of the policy.
        case rule(PortRule)
        /// No rule matched; the default applied.
        case `default`(InboundDefault)
    }

    /// The verdict.
    public var verdict: Verdict
    /// The cause.
    public var cause: Cause

    /// The deciding rule's id, or nil when the baseline or the default decided.
    public var ruleID: String? { if case let .rule(rule) = cause { rule.id } else { nil } }
}

extension PortPolicy {
    /// Evaluates a new inbound packet against the policy exactly as the rendered input chain
    /// does: loopback first, then deny and reject rules in file order, then allow rules in file
    /// order, then the default. Pure: no kernel, no root.
    ///
    /// When `packet.interface` is nil (unknown), rules restricted to an interface are treated
    /// pessimistically: a block on some interface is assumed to apply, an allow on some
    /// interface is assumed not to.
    public func evaluate(_ packet: Packet, at now: Date = Date()) -> Decision {
        let rules = effective(at: now).rules
        if packet.interface == "lo" { return Decision(verdict: .accept, cause: .baseline("loopback traffic is always accepted")) }
        let inbound = rules.filter { $0.direction == .in }
        for rule in inbound where rule.action != .allow && rule.matches(packet, unknownInterfaceMatches: true) {
            return Decision(verdict: rule.action == .deny ? .drop : .reject, cause: .rule(rule))
        }
        for rule in inbound where rule.action == .allow && rule.matches(packet, unknownInterfaceMatches: false) {
            return Decision(verdict: .accept, cause: .rule(rule))
        }
        let verdict: Decision.Verdict = switch inbound {
        case _ where self.inbound == .accept: .accept
        case _ where self.inbound == .reject: .reject
        default: .drop
        }
        return Decision(verdict: verdict, cause: .default(self.inbound))
    }
}

extension PortRule {
    /// Whether the rule's match (not its action) covers the packet.
    public func matches(_ packet: Packet, unknownInterfaceMatches: Bool = false) -> Bool {
        guard proto.members.contains(packet.proto), ports.contains(where: { $0.contains(packet.port) }) else { return false }
        if !sources.isEmpty && !sources.contains(where: { $0.contains(packet.source) }) { return false }
        if let interface {
            guard let name = packet.interface else { return unknownInterfaceMatches }
            return interface.hasSuffix("*") ? name.hasPrefix(interface.dropLast()) : name == interface
        }
        return true
    }
}
