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
        /// A port forward sends it on to another address.
        case forward(PortForward)
    }

    /// The verdict.
    public var verdict: Verdict
    /// The cause.
    public var cause: Cause

    /// The deciding rule's id, or nil when the baseline or the default decided.
    public var ruleID: String? {
        switch cause {
        case let .rule(rule): rule.id
        case let .forward(forward): forward.id
        default: nil
        }
    }
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
        let loopbackSource = packet.source.family == .ipv4 ? packet.source.bits >> 24 == 127 : packet.source.bits == 1
        if packet.interface == "lo" || (packet.interface == nil && loopbackSource) {
            return Decision(verdict: .accept, cause: .baseline("loopback traffic is always accepted"))
        }
        let inbound = rules.filter { $0.direction == .in }
        // A forward's DNAT comes before any filter; its connection then meets the blocks in the
        // forward chain, which only exists while the policy governs published ports.
        let forward = self.forward(for: packet)
        if let forward, published == .accept { return Decision(verdict: .accept, cause: .forward(forward)) }
        for rule in inbound where rule.action != .allow && rule.matches(packet, unknownInterfaceMatches: true) {
            return Decision(verdict: rule.action == .deny ? .drop : .reject, cause: .rule(rule))
        }
        if let forward { return Decision(verdict: .accept, cause: .forward(forward)) }
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
        if !isFromAnywhere && !sources.contains(where: { $0.contains(packet.source) }) { return false }
        if let interface {
            guard let name = packet.interface else { return unknownInterfaceMatches }
            return interface.hasSuffix("*") ? name.hasPrefix(interface.dropLast()) : name == interface
        }
        return true
    }
}

/// Why a packet meets its fate, in words and as data: what `portctl explain` prints.
public struct Explanation: Sendable, Hashable, Codable {
    /// The source address.
    public var address: String
    /// The destination port.
    public var port: UInt16
    /// `tcp` or `udp`.
    public var proto: String
    /// `accept`, `drop` or `reject`.
    public var verdict: Decision.Verdict
    /// The deciding rule's id; nil when the default or the baseline decided.
    public var rule: String?
    /// The deciding rule's comment.
    public var comment: String?
    /// The per-source rate limit the accept is subject to.
    public var limit: String?
    /// When the deciding rule expires.
    public var until: String?
    /// Other rules that match the packet but lost: an allow under a deny, a later allow.
    public var alsoMatched: [String]
    /// One line: `203.0.113.5 -> 26/tcp: drop (default: ...)`.
    public var message: String

    /// When a forward of the policy sends the connection on: `203.0.113.2:2525`.
    public var forwardedTo: String?
    /// When a table publishes this port by DNAT: `8080/tcp (DNAT to 192.0.2.2:80, table ip nat)`.
    /// The verdict is the same: the inbound rules govern published ports too.
    public var published: String?

    enum CodingKeys: String, CodingKey {
        case address, port, proto = "protocol", verdict, rule, comment, limit, until, alsoMatched, message, published, forwardedTo
    }

    /// Encodes every key; `rule` is `null` when the default or the baseline decided.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(address, forKey: .address)
        try container.encode(port, forKey: .port)
        try container.encode(proto, forKey: .proto)
        try container.encode(verdict, forKey: .verdict)
        try container.encode(rule, forKey: .rule)
        try container.encodeIfPresent(comment, forKey: .comment)
        try container.encodeIfPresent(limit, forKey: .limit)
        try container.encodeIfPresent(until, forKey: .until)
        try container.encode(alsoMatched, forKey: .alsoMatched)
        try container.encode(message, forKey: .message)
        try container.encodeIfPresent(published, forKey: .published)
        try container.encodeIfPresent(forwardedTo, forKey: .forwardedTo)
    }
}

extension PortPolicy {
    /// Evaluates a new inbound packet now: the verdict and what decided it (see
    /// ``evaluate(_:at:)``). Pure: no kernel, no root.
    public func evaluate(packet: Packet) -> Decision {
        evaluate(packet, at: Date())
    }

    /// Explains what the policy does with a new inbound packet, purely from the model: the
    /// verdict, the deciding rule (or the default or baseline), and the rules that came close.
    public func explain(_ packet: Packet, at now: Date = Date()) -> Explanation {
        let decision = evaluate(packet, at: now)
        let inbound = effective(at: now).rules.filter { $0.direction == .in }
        let matching = inbound.filter { $0.matches(packet, unknownInterfaceMatches: false) }
        let head = "\(packet.source) -> \(packet.port)/\(packet.proto.rawValue): "
        var explanation = Explanation(address: packet.source.description, port: packet.port, proto: packet.proto.rawValue,
                                      verdict: decision.verdict, rule: decision.ruleID, comment: nil, limit: nil, until: nil,
                                      alsoMatched: matching.map(\.id).filter { $0 != decision.ruleID }, message: "")
        switch decision.cause {
        case let .baseline(reason):
            explanation.message = head + "accept (baseline: \(reason))"
        case let .forward(forward):
            explanation.comment = forward.comment
            explanation.forwardedTo = forward.to.family == .ipv4 ? "\(forward.to):\(forward.targetPort(for: packet.port))"
                : "[\(forward.to)]:\(forward.targetPort(for: packet.port))"
            explanation.message = head + "accept (forwarded to \(explanation.forwardedTo!) by rule \(forward.id): \(forward.summary))"
        case let .rule(rule):
            explanation.comment = rule.comment
            let named = "rule \(rule.id)" + (rule.comment.map { " \"\($0)\"" } ?? "")
            let verb = rule.action == .allow ? "allows" : (rule.action == .deny ? "denies" : "rejects")
            var verdict = decision.verdict.rawValue
            if let limit = rule.limit {
                explanation.limit = limit.description
                verdict += ", subject to a rate limit of \(limit.description) new connections per source"
            }
            if let expires = rule.expires {
                explanation.until = PolicyFile.timestamp(expires)
                verdict += " until \(PolicyFile.timestamp(expires))"
            }
            var reason = "\(named) \(verb) \(rule.portsDescription) from \(rule.addressesDescription)"
            let overruled = matching.filter { $0.action == .allow && $0.id != rule.id }
            if rule.action != .allow, !overruled.isEmpty {
                reason += "; blocks win over allows, so \(overruled.map { "rule \($0.id)" }.joined(separator: ", ")) does not apply"
            }
            explanation.message = head + "\(verdict) (\(reason))"
        case let .default(value):
            let near = inbound.filter {
                $0.action == .allow && $0.proto.members.contains(packet.proto) && $0.ports.contains(where: { $0.contains(packet.port) })
                    && !$0.matches(packet, unknownInterfaceMatches: false)
            }
            var reason = "default \(value.rawValue): "
            if near.isEmpty {
                reason += value == .accept ? "no rule matches \(packet.port)/\(packet.proto.rawValue)" : "no rule opens \(packet.port)/\(packet.proto.rawValue)"
            } else {
                reason += "no rule allows \(packet.source); " + near.map { rule in
                    rule.isFromAnywhere || rule.interface != nil && rule.wholeFamilies.contains(packet.source.family)
                        ? "rule \(rule.id) allows it only on \(rule.interface ?? "?")"
                        : "rule \(rule.id) allows only \(rule.addressesDescription)" + (rule.interface.map { " on \($0)" } ?? "")
                }.joined(separator: "; ")
            }
            explanation.message = head + "\(decision.verdict.rawValue) (\(reason))"
        }
        return explanation
    }
}
