/// The lines of forwards (DNAT, the forward chain's accepts, masquerade) and routed rules, and
/// the names and priorities they use.
extension Renderer {
    /// The counter that counts routed connections reaching the routed default.
    public static let routedDefaultCounter = "portctl-default-routed"
    /// The NAT chains' priorities (`dstnat`, `srcnat`).
    public static let dstnatPriority = -100, srcnatPriority = 100

    /// The name of a routed rule's destination set for one family: `ID-dst4` or `ID-dst6`.
    public static func destinationSetName(_ id: String, _ family: IPFamily) -> String {
        "\(id)-dst\(family == .ipv4 ? "4" : "6")"
    }

    /// The DNAT lines of a forward, in the NAT prerouting chain: one per protocol (and per port
    /// when the ports are mapped one to one to other ports).
    static func dnatRules(_ forward: PortForward) -> [Rule] {
        let family = forward.to.family == .ipv4 ? "ip" : "ip6"
        let interface = forward.interface.map { Statement.match(.meta("iifname"), op: "==", .string($0)) }
        let address: Statement? = forward.sources.isEmpty ? nil
            : .match(.payload(family, "saddr"), op: "==", .string("@" + setName(forward.id, forward.to.family)))
        let comment = forward.comment.map { "\(forward.id): \($0)" } ?? forward.id
        let portCount = PortRange.merged(forward.ports).reduce(0) { $0 + Int($1.last) - Int($1.first) + 1 }
        let mapped = forward.toPort != nil && portCount > 1
        var result: [Rule] = []
        for proto in forward.proto.members {
            // Only connections to this host are forwarded: traffic it merely routes to another
            // machine on the same port keeps its destination.
            let prefix = [interface, address].compactMap { $0 } + [Statement.match(.fibDestinationType, op: "==", .string("local"))]
            if mapped {
                for range in PortRange.merged(forward.ports) {
                    for port in range.first...range.last {
                        result.append(Rule(prefix + [.match(.payload(proto.rawValue, "dport"), op: "==", .number(Int(port))),
                                                     .dnat(family: family, address: forward.to.description, port: Int(forward.targetPort(for: port)))],
                                           comment: comment))
                    }
                }
            } else {
                result.append(Rule(prefix + [.match(.payload(proto.rawValue, "dport"), op: "==", portValue(forward.ports)),
                                             .dnat(family: family, address: forward.to.description, port: forward.toPort.map(Int.init))],
                                   comment: comment))
            }
        }
        return result
    }

    /// A forward's accept lines in the forward chain: its sources' DNATed connections to its
    /// target (the target tells them from anyone else's DNAT on the same port).
    static func forwardAcceptRules(_ forward: PortForward) -> [Rule] {
        let target = Statement.match(.payload(forward.to.family == .ipv4 ? "ip" : "ip6", "daddr"), op: "==", .string(forward.to.description))
        return Renderer.rules(for: forward.acceptRule, path: .published, recording: false).map { Rule([target] + $0.statements, comment: $0.comment) }
    }

    /// The masquerade lines of a forward, in the NAT postrouting chain: its connections, on their
    /// way to the target, leave with this host's address.
    static func masqueradeRules(_ forward: PortForward) -> [Rule] {
        let family = forward.to.family == .ipv4 ? "ip" : "ip6"
        let comment = forward.comment.map { "\(forward.id): \($0)" } ?? forward.id
        return forward.proto.members.flatMap { proto in
            PortRange.merged(forward.ports).map { range in
                Rule([.match(.ct("status"), op: "in", .string("dnat")), .match(.meta("l4proto"), op: "==", .string(proto.rawValue)),
                      .match(.ctOriginal("proto-dst"), op: "==", range.first == range.last ? .number(Int(range.first)) : .range(Int(range.first), Int(range.last))),
                      .match(.payload(family, "daddr"), op: "==", .string(forward.to.description)), .masquerade], comment: comment)
            }
        }
    }

    /// The lines of a routed rule, in the `routed` chain: per protocol and address family.
    static func routedRules(_ route: RoutedRule, recording: Bool) -> [Rule] {
        let verdictFor: (TransportProtocol) -> Verdict = { proto in
            switch route.action {
            case .allow: .accept
            case .deny: .drop
            case .reject: proto == .tcp ? .rejectTCPReset : .rejectICMPX("port-unreachable")
            }
        }
        let comment = route.comment.map { "\(route.id): \($0)" } ?? route.id
        let interfaces = [route.inInterface.map { Statement.match(.meta("iifname"), op: "==", .string($0)) },
                          route.outInterface.map { Statement.match(.meta("oifname"), op: "==", .string($0)) }].compactMap { $0 }
        let families: [IPFamily?] = route.sources.isEmpty && route.destinations.isEmpty ? [nil] : route.families.map { $0 }
        var result: [Rule] = []
        for proto in route.proto.members {
            for family in families {
                var matches = interfaces
                if let family {
                    let prefix = family == .ipv4 ? "ip" : "ip6"
                    if route.sources.contains(where: { $0.family == family }) {
                        matches.append(.match(.payload(prefix, "saddr"), op: "==", .string("@" + setName(route.id, family))))
                    }
                    if route.destinations.contains(where: { $0.family == family }) {
                        matches.append(.match(.payload(prefix, "daddr"), op: "==", .string("@" + destinationSetName(route.id, family))))
                    }
                }
                matches.append(.match(.payload(proto.rawValue, "dport"), op: "==", portValue(route.ports)))
                if route.action != .allow {
                    result += recordRules(matches, families: family.map { [$0] } ?? IPFamily.allCases,
                                          reason: recording ? DropReason(.rule, ruleID: route.id) : nil, comment: comment)
                }
                result.append(Rule(matches + [.counter(route.id), .verdict(verdictFor(proto))], comment: comment))
            }
        }
        return result
    }

    /// The top of the forward chain: replies pass, and only connections someone DNATed (a
    /// published port) go on to the inbound rules; routed traffic is not portctl's business here.
    public static let forwardBaseline: [Rule] = [
        Rule([.match(.ct("state"), op: "in", .flags(["established", "related"])), .verdict(.accept)]),
        // `ct status ! dnat`: the dnat bit is clear. (`ct status != dnat` would compare the whole
        // status word with the bit, true for every DNATed connection: nft 1.0.6 does not warn.)
        Rule([.match(.ct("status"), op: "!", .string("dnat")), .verdict(.accept)]),
    ]

    /// The forward chain's second line when the policy has a routed part (a route rule or a
    /// routed default of drop): traffic nobody DNATed goes to the `routed` chain instead of
    /// passing (``forwardBaseline``'s second line).
    public static let routedJump = Rule([.match(.ct("status"), op: "!", .string("dnat")), .goto("routed")])
}
