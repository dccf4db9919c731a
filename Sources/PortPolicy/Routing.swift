import Foundation

/// What happens to traffic this host routes between networks (not DNATed) that no route rule
/// matches.
public enum RoutedDefault: String, Sendable, Hashable, Codable, CaseIterable {
    /// Pass (the default: installing portctl on a router breaks nothing).
    case accept
    /// Drop: segments talk only as route rules allow.
    case drop
}

/// A port forward (`portctl forward 26 --to 203.0.113.2:2525`): connections arriving at this
/// host on `ports` are sent on to `to` (DNAT), from the listed sources only (any when none).
/// Deny and reject rules for the same sources still win.
public struct PortForward: Sendable, Hashable {
    /// The stable id; it names the forward's counter and sets, and is its nftables comment.
    public var id: String
    /// The ports on this host.
    public var ports: [PortRange]
    /// `tcp`, `udp` or `both`.
    public var proto: TransportProtocol
    /// Who may use it; empty means any source.
    public var sources: [IPNetwork]
    /// The interface the traffic must arrive on, if any.
    public var interface: String?
    /// A note for people.
    public var comment: String?
    /// Where connections go.
    public var to: IPAddress
    /// The port there, when it differs; a range of ports maps to a range of the same size.
    public var toPort: UInt16?
    /// Also rewrite the source to this host's address (for a server whose route back is not
    /// through this host).
    public var masquerade: Bool

    /// Makes a forward; ``validate()`` checks it.
    public init(id: String, ports: [PortRange], proto: TransportProtocol = .tcp, sources: [IPNetwork] = [],
                interface: String? = nil, comment: String? = nil, to: IPAddress, toPort: UInt16? = nil, masquerade: Bool = false) {
        self.id = id
        self.ports = ports
        self.proto = proto
        self.sources = sources
        self.interface = interface
        self.comment = comment
        self.to = to
        self.toPort = toPort
        self.masquerade = masquerade
    }

    /// The most ports one forward with `to-port` maps (one DNAT line each).
    public static let maximumMappedPorts = 256

    /// Checks the forward on its own.
    public func validate() throws(PolicyError) {
        do throws(PolicyError) {
            try PortRule.validateID(id)
            if ports.isEmpty { throw .invalidPort("", reason: "a forward needs at least one port") }
            if let comment { try PortRule.validateComment(comment) }
            if let interface { try PortRule.validateInterface(interface) }
            if let wrong = sources.first(where: { $0.family != to.family }) {
                throw .invalidSource(wrong.description, reason: "a forward to \(to) (\(to.family == .ipv4 ? "IPv4" : "IPv6")) takes sources of the same family")
            }
            if let toPort {
                let count = PortRange.merged(ports).reduce(0) { $0 + Int($1.last) - Int($1.first) + 1 }
                if count > 1 && count > Self.maximumMappedPorts {
                    throw .invalidRule("a forward that changes the port maps at most \(Self.maximumMappedPorts) ports one to one; this one has \(count)")
                }
                if Int(toPort) + count - 1 > 65535 { throw .invalidPort("\(toPort)", reason: "the mapped ports would run past 65535") }
            }
            if to.family == .ipv4 && (to.bits >> 24 == 127 || to.bits == 0) || to.family == .ipv6 && to.bits <= 1 {
                throw .invalidSource(to.description, reason: "forward to a real address, not loopback or unspecified")
            }
        } catch {
            throw .inRule(id, error)
        }
    }

    /// The port on the target for a port on this host.
    public func targetPort(for port: UInt16) -> UInt16 {
        guard let toPort else { return port }
        let ordered = PortRange.merged(ports).flatMap { Array($0.first...$0.last) }
        return toPort + UInt16(ordered.firstIndex(of: port) ?? 0)
    }

    /// The forward as an inbound allow: its accept lines in the forward chain, for the DNATed
    /// connections of its sources.
    public var acceptRule: PortRule {
        PortRule(id: id, ports: ports, proto: proto, action: .allow, sources: sources, interface: interface, comment: comment)
    }

    /// `203.0.113.2:2525`, `[2001:db8::5]:2525`, or the address alone.
    public var target: String {
        guard let toPort else { return to.description }
        let port = PortRange.merged(ports).count == 1 && ports.count == 1 && ports[0].first == ports[0].last
            ? "\(toPort)" : "\(toPort)-\(Int(toPort) + PortRange.merged(ports).reduce(0) { $0 + Int($1.last) - Int($1.first) + 1 } - 1)"
        return to.family == .ipv4 ? "\(to):\(port)" : "[\(to)]:\(port)"
    }

    /// `forward 26/tcp from 198.51.100.0/24 to 203.0.113.2:2525, masquerading`.
    public var summary: String {
        var text = "forward \(PortRange.merged(ports).map(\.description).joined(separator: ","))/\(proto.rawValue) from \(Planner.addressList(IPNetwork.merged(sources))) to \(target)"
        if let interface { text += " on \(interface)" }
        if masquerade { text += ", masquerading" }
        return text
    }

    /// Parses `ADDR`, `ADDR:PORT` or `[IPV6]:PORT` (an IPv6 address alone needs no brackets).
    public static func parseTarget(_ text: String) throws(PolicyError) -> (address: IPAddress, port: UInt16?) {
        var host = Substring(text), port: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .invalidSource(text, reason: "expected [IPV6]:PORT, like [2001:db8::5]:2525") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw .invalidSource(text, reason: "expected [IPV6]:PORT, like [2001:db8::5]:2525") }
                port = rest.dropFirst()
            }
        } else if text.filter({ $0 == ":" }).count == 1 {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            host = parts[0]
            port = parts[1]
        }
        guard let address = IPAddress(host) else {
            throw .invalidSource(text, reason: "expected ADDRESS or ADDRESS:PORT, like 203.0.113.2:2525 or [2001:db8::5]:2525")
        }
        guard let port else { return (address, nil) }
        guard !port.isEmpty, port.allSatisfy({ $0.isASCII && $0.isNumber }), port.first != "0", let number = UInt16(port), number > 0 else {
            throw .invalidPort(String(port), reason: "ports run from 1 to 65535")
        }
        return (address, number)
    }
}

/// A rule for traffic this host routes between networks (`portctl route 26 --from A --to B`,
/// `portctl deny 26 --routed --from A --to B`): not DNATed, neither from nor to this host.
public struct RoutedRule: Sendable, Hashable {
    /// The stable id.
    public var id: String
    /// The destination ports.
    public var ports: [PortRange]
    /// `tcp`, `udp` or `both`.
    public var proto: TransportProtocol
    /// Allow, deny or reject.
    public var action: RuleAction
    /// The sending networks; empty means any.
    public var sources: [IPNetwork]
    /// The receiving networks; empty means any.
    public var destinations: [IPNetwork]
    /// The interface the traffic arrives on, if any.
    public var inInterface: String?
    /// The interface it leaves by, if any.
    public var outInterface: String?
    /// A note for people.
    public var comment: String?

    /// Makes a routed rule; ``validate()`` checks it.
    public init(id: String, ports: [PortRange], proto: TransportProtocol = .tcp, action: RuleAction = .allow,
                sources: [IPNetwork] = [], destinations: [IPNetwork] = [], inInterface: String? = nil,
                outInterface: String? = nil, comment: String? = nil) {
        self.id = id
        self.ports = ports
        self.proto = proto
        self.action = action
        self.sources = sources
        self.destinations = destinations
        self.inInterface = inInterface
        self.outInterface = outInterface
        self.comment = comment
    }

    /// Checks the rule on its own.
    public func validate() throws(PolicyError) {
        do throws(PolicyError) {
            try PortRule.validateID(id)
            if ports.isEmpty { throw .invalidPort("", reason: "a rule needs at least one port") }
            if let comment { try PortRule.validateComment(comment) }
            if let inInterface { try PortRule.validateInterface(inInterface) }
            if let outInterface { try PortRule.validateInterface(outInterface) }
            if !sources.isEmpty && !destinations.isEmpty
                && Set(sources.map(\.family)).isDisjoint(with: Set(destinations.map(\.family))) {
                throw .invalidRule("its sources and destinations share no address family, so it could never match")
            }
        } catch {
            throw .inRule(id, error)
        }
    }

    /// The address families the rule can match: those both sides allow.
    public var families: [IPFamily] {
        IPFamily.allCases.filter { family in
            (sources.isEmpty || sources.contains { $0.family == family })
                && (destinations.isEmpty || destinations.contains { $0.family == family })
        }
    }

    /// Whether the rule matches a routed packet. An interface the packet does not name is
    /// unknown: a block limited to an interface is assumed to match, an allow is not (as for
    /// inbound rules).
    public func matches(_ packet: RoutedPacket) -> Bool {
        let unknownMatches = action != .allow
        func interface(_ pattern: String?, _ name: String?) -> Bool {
            name == nil && pattern != nil ? unknownMatches : PortRule.interface(pattern, matches: name)
        }
        return proto.members.contains(packet.proto) && ports.contains { $0.contains(packet.port) }
            && (sources.isEmpty || sources.contains { $0.contains(packet.source) })
            && (destinations.isEmpty || destinations.contains { $0.contains(packet.destination) })
            && interface(inInterface, packet.inInterface) && interface(outInterface, packet.outInterface)
    }

    /// `route 26/tcp from 198.51.100.0/24 to 203.0.113.0/24`.
    public var summary: String {
        let verb = action == .allow ? "route" : action.rawValue + " routed"
        var text = "\(verb) \(PortRange.merged(ports).map(\.description).joined(separator: ","))/\(proto.rawValue) from \(Planner.addressList(IPNetwork.merged(sources))) to \(Planner.addressList(IPNetwork.merged(destinations)))"
        if let inInterface { text += " in on \(inInterface)" }
        if let outInterface { text += " out on \(outInterface)" }
        return text
    }
}

/// A new connection this host would route: from one network to another, not DNATed.
public struct RoutedPacket: Sendable, Hashable {
    /// Where it comes from.
    public var source: IPAddress
    /// Where it goes.
    public var destination: IPAddress
    /// The destination port.
    public var port: UInt16
    /// `tcp` or `udp`.
    public var proto: TransportProtocol
    /// The interface it arrives on, when known.
    public var inInterface: String?
    /// The interface it leaves by, when known.
    public var outInterface: String?

    /// Makes a packet.
    public init(source: IPAddress, destination: IPAddress, port: UInt16, proto: TransportProtocol = .tcp,
                inInterface: String? = nil, outInterface: String? = nil) {
        self.source = source
        self.destination = destination
        self.port = port
        self.proto = proto
        self.inInterface = inInterface
        self.outInterface = outInterface
    }
}

extension PortPolicy {
    /// What the policy does with a routed packet: the first matching block (deny or reject),
    /// else the first matching route, else the routed default.
    public func evaluate(routed packet: RoutedPacket) -> (verdict: Decision.Verdict, rule: RoutedRule?) {
        if let block = routes.first(where: { $0.action != .allow && $0.matches(packet) }) {
            return (block.action == .deny ? .drop : .reject, block)
        }
        if let allow = routes.first(where: { $0.action == .allow && $0.matches(packet) }) {
            return (.accept, allow)
        }
        return (routed == .accept ? .accept : .drop, nil)
    }

    /// The forward that takes a new inbound packet, if one does and no block wins over it.
    public func forward(for packet: Packet) -> PortForward? {
        forwards.first { forward in
            forward.proto.members.contains(packet.proto) && forward.ports.contains { $0.contains(packet.port) }
                && (forward.sources.isEmpty || forward.sources.contains { $0.contains(packet.source) })
                && forward.to.family == packet.source.family
                && PortRule.interface(forward.interface, matches: packet.interface)
        }
    }

    /// Whether the rendered table needs its forward chain: published ports are filtered, routed
    /// traffic has rules or a drop default, or forwards need their accepts.
    public var needsForwardChain: Bool {
        published == .filter || routed == .drop || !routes.isEmpty || !forwards.isEmpty
    }
}

extension PortRule {
    /// Whether a rule's interface (nil: any; a trailing `*`: a prefix) matches a packet's (nil:
    /// unknown, which only a rule without an interface matches).
    public static func interface(_ pattern: String?, matches name: String?) -> Bool {
        guard let pattern else { return true }
        guard let name else { return false }
        return pattern.hasSuffix("*") ? name.hasPrefix(pattern.dropLast()) : name == pattern
    }
}
