/// Which chain a rule belongs to: rules of different kinds never see the same packet.
enum UfwKind: Hashable {
    /// `ufw allow ...`: traffic to this host.
    case input
    /// `ufw allow out ...`: traffic from this host.
    case output
    /// `ufw route ...`: traffic through this host.
    case routed
}

/// A piece of a ufw rule in portctl's terms, for one address family: protocols × ports ×
/// addresses (× destinations, for routed traffic) on some interfaces. Blocks are cut into
/// several boxes when earlier allows take part of their traffic.
struct UfwBox: Hashable {
    var kind: UfwKind
    var family: IPFamily
    var action: RuleAction
    /// A ufw `limit` rule (an allow with the import's rate).
    var limited: Bool
    var log: Bool
    /// `.tcp`, `.udp` or both.
    var protocols: Set<TransportProtocol>
    var ports: [PortRange]
    /// Sources (inbound, routed) or destinations (outbound); never empty: "any" is the family's /0.
    var remote: [IPNetwork]
    /// Destinations of routed traffic; the family's /0 otherwise.
    var other: [IPNetwork]
    var inInterface: String?
    var outInterface: String?
    var comment: String?
    /// The numbers of the ufw rules it comes from.
    var origins: [Int]

    /// The fields that must be equal for two boxes to become one rule.
    struct Shape: Hashable {
        var kind: UfwKind
        var action: RuleAction
        var limited: Bool
        var log: Bool
        var protocols: Set<TransportProtocol>
        var ports: [PortRange]
        var inInterface: String?
        var outInterface: String?
        var comment: String?
    }

    /// What two boxes must share to become one rule.
    var shape: Shape {
        Shape(kind: kind, action: action, limited: limited, log: log, protocols: protocols, ports: ports,
              inInterface: inInterface, outInterface: outInterface, comment: comment)
    }

    /// The protocols as a rule names them.
    var proto: TransportProtocol {
        protocols.count == 2 ? .both : protocols.first!
    }

    /// Whether some packet could match both boxes.
    func overlaps(_ other: UfwBox) -> Bool {
        kind == other.kind && family == other.family && !protocols.isDisjoint(with: other.protocols)
            && portsOverlap(ports, other.ports) && AddressBlocks.overlap(remote, other.remote) && AddressBlocks.overlap(self.other, other.other)
            && !InterfacePattern.disjoint(inInterface, other.inInterface) && !InterfacePattern.disjoint(outInterface, other.outInterface)
    }

    /// This box without the traffic of `allow`, as boxes; nil when portctl cannot say it (the
    /// allow is limited to an interface this box is not limited to).
    func subtracting(_ allow: UfwBox) -> [UfwBox]? {
        guard overlaps(allow) else { return [self] }
        guard InterfacePattern.covers(allow.inInterface, inInterface), InterfacePattern.covers(allow.outInterface, outInterface) else { return nil }
        var result: [UfwBox] = []
        var inside = self
        let otherProtocols = inside.protocols.subtracting(allow.protocols)
        if !otherProtocols.isEmpty { result.append(inside.with { $0.protocols = otherProtocols }) }
        inside.protocols.formIntersection(allow.protocols)
        let otherPorts = subtract(inside.ports, allow.ports)
        if !otherPorts.isEmpty { result.append(inside.with { $0.ports = otherPorts }) }
        inside.ports = portsIntersection(inside.ports, allow.ports)
        let otherRemote = AddressBlocks.subtract(inside.remote, allow.remote)
        if !otherRemote.isEmpty { result.append(inside.with { $0.remote = otherRemote }) }
        inside.remote = AddressBlocks.intersect(inside.remote, allow.remote)
        let otherOther = AddressBlocks.subtract(inside.other, allow.other)
        if !otherOther.isEmpty { result.append(inside.with { $0.other = otherOther }) }
        return result
    }

    /// A copy with `change` made.
    func with(_ change: (inout UfwBox) -> Void) -> UfwBox {
        var copy = self
        change(&copy)
        return copy
    }
}

/// Interface patterns: nil is any interface, a trailing `*` a prefix.
enum InterfacePattern {
    /// Whether every name `inner` matches, `outer` matches too.
    static func covers(_ outer: String?, _ inner: String?) -> Bool {
        guard let outer else { return true }
        guard let inner else { return false }
        if outer.hasSuffix("*") { return inner.hasPrefix(outer.dropLast()) }
        return outer == inner
    }

    /// Whether no name matches both.
    static func disjoint(_ a: String?, _ b: String?) -> Bool {
        guard let a, let b else { return false }
        let aPrefix = a.hasSuffix("*") ? String(a.dropLast()) : nil, bPrefix = b.hasSuffix("*") ? String(b.dropLast()) : nil
        switch (aPrefix, bPrefix) {
        case let (x?, y?): return !x.hasPrefix(y) && !y.hasPrefix(x)
        case let (x?, nil): return !b.hasPrefix(x)
        case let (nil, y?): return !a.hasPrefix(y)
        case (nil, nil): return a != b
        }
    }
}

/// The ports both lists hold.
func portsIntersection(_ a: [PortRange], _ b: [PortRange]) -> [PortRange] {
    var result: [PortRange] = []
    for x in a {
        for y in b where x.first <= y.last && y.first <= x.last {
            result.append(try! PortRange(Int(max(x.first, y.first)), Int(min(x.last, y.last))))
        }
    }
    return PortRange.merged(result)
}
