public import Foundation

/// Turns a ``PortPolicy`` into nftables text: one `inet` table that portctl owns alone.
///
/// The table holds, in order:
/// - one named counter per rule (named by the rule id) and one for each default, so every
///   rule's packets and bytes can be read back by id;
/// - one interval set per rule and address family with the rule's merged sources;
/// - an `input` chain: the baseline every server needs (established/related accept, invalid
///   drop, loopback accept, the ICMP and ICMPv6 types that keep networking working, echo
///   rate-limited), then deny and reject rules, then allow rules, then the default;
/// - an `output` chain, only when the policy has outbound rules.
///
/// Deny and reject rules come before allow rules, so a block always wins over an allow for the
/// same traffic whatever the order in the file. Every rule line carries its id as its comment.
/// All user text has been validated to be unable to leave its quotes (see ``PortRule/validate()``).
public enum Renderer {
    /// The counter that counts inbound packets reaching the default.
    public static let inboundDefaultCounter = "portctl-default-in"
    /// The counter that counts outbound packets reaching the default.
    public static let outboundDefaultCounter = "portctl-default-out"
    /// The counter that counts published (DNATed) connections reaching the inbound default.
    public static let publishedDefaultCounter = "portctl-default-published"
    /// The forward chain's priority: before the usual filter chains (Docker's is at `filter`), so
    /// a published port is judged before anyone else accepts it.
    public static let forwardPriority = -1
    /// The comment of the rules that apply a default.
    public static let defaultComment = "portctl: default"

    /// The table the policy renders to at `now`, as a value (compare it with ``LiveTable``
    /// readings). Rules that have expired by `now` are left out; time-boxed rules' set elements
    /// time out when the rule expires.
    ///
    /// With `keepingExpired`, rules that expired by `now` stay in, as the kernel keeps them until
    /// the next change: their rule lines, counters and sets, the sets emptied by their timeouts.
    public static func model(_ policy: PortPolicy, now: Date = Date(), keepingExpired: Bool = false) -> Table {
        let policy = keepingExpired ? policy : policy.effective(at: now)
        let recording = policy.drops.isOn
        var counters = policy.rules.map(\.id) + [inboundDefaultCounter, banCounter]
        counters += policy.rules.filter { $0.limit != nil }.map { limitedName($0.id) }
        if recording { counters += [dropsSeenCounter, dropsRecordedCounter] }
        if policy.hasOutboundRules { counters.append(outboundDefaultCounter) }
        var sets: [AddressSet] = IPFamily.allCases.flatMap { family in
            var hosts = AddressSet(name: banSetName(family, networks: false), family: family, elements: [], kind: .hosts)
            var networks = AddressSet(name: banSetName(family, networks: true), family: family, elements: [], kind: .timed)
            hosts.countsElements = true
            networks.countsElements = true
            return [hosts, networks]
        }
        if case let .keep(seconds) = policy.drops {
            sets += IPFamily.allCases.map { AddressSet(name: dropSetName($0), family: $0, elements: [], kind: .drops(timeout: seconds, size: dropSetSize)) }
        }
        for rule in policy.rules { sets += ruleSets(rule, now: now) }
        let inbound = policy.rules.filter { $0.direction == .in }
        var dispatched: [Chain] = []
        let inputRules: [Rule]
        if inbound.count > dispatchThreshold {
            let layout = dispatch(inbound, recording: recording)
            inputRules = layout.input
            dispatched = layout.chains
        } else {
            inputRules = ruleLines(policy, .in)
        }
        let limitedChains = policy.rules.filter { $0.limit != nil }.map { limitedChain($0, recording: recording) }
        if policy.published == .filter { counters.append(publishedDefaultCounter) }
        // Forwards and routed rules: a counter each, and sets for their addresses.
        for forward in policy.forwards {
            counters.append(forward.id)
            for family in IPFamily.allCases {
                let elements = IPNetwork.merged(forward.sources.filter { $0.family == family })
                if !elements.isEmpty { sets.append(AddressSet(name: setName(forward.id, family), family: family, merged: elements)) }
            }
        }
        for route in policy.routes {
            counters.append(route.id)
            for family in IPFamily.allCases {
                let from = IPNetwork.merged(route.sources.filter { $0.family == family })
                if !from.isEmpty { sets.append(AddressSet(name: setName(route.id, family), family: family, merged: from)) }
                let to = IPNetwork.merged(route.destinations.filter { $0.family == family })
                if !to.isEmpty { sets.append(AddressSet(name: destinationSetName(route.id, family), family: family, merged: to)) }
            }
        }
        let routedPart = policy.routed == .drop || !policy.routes.isEmpty
        if routedPart { counters.append(routedDefaultCounter) }
        var chains = [Chain(name: "input", hook: "input", policy: policy.inbound == .accept ? "accept" : "drop",
                            rules: [baseline[0]] + banRules(recording: recording) + baseline.dropFirst() + inputRules
                                + defaultRules(policy.inbound.rawValue, counter: inboundDefaultCounter, log: policy.logDefault,
                                               recording: recording ? DropReason(.inboundDefault) : nil))]
        if policy.hasOutboundRules {
            chains.append(Chain(name: "output", hook: "output", policy: policy.outbound.rawValue,
                                rules: outputBaseline + ruleLines(policy, .out)
                                    + defaultRules(policy.outbound.rawValue, counter: outboundDefaultCounter, log: false, recording: nil)))
        }
        if !policy.forwards.isEmpty {
            chains.append(Chain(name: "prerouting", hook: "prerouting", type: "nat", priority: dstnatPriority, policy: "accept",
                                rules: policy.forwards.flatMap(dnatRules)))
        }
        if policy.forwards.contains(where: \.masquerade) {
            chains.append(Chain(name: "postrouting", hook: "postrouting", type: "nat", priority: srcnatPriority, policy: "accept",
                                rules: policy.forwards.filter(\.masquerade).flatMap(masqueradeRules)))
        }
        if policy.needsForwardChain {
            chains.append(forwardChain(policy, inbound: inbound, routedPart: routedPart, recording: recording))
        }
        if routedPart {
            let routed = routedChains(policy, recording: recording)
            chains.append(routed.chain)
            dispatched += routed.dispatched
        }
        return Table(name: policy.table, counters: counters, sets: sets, chains: chains + limitedChains + dispatched)
    }

    /// A rule's sets: its sources per family (timed when it expires; emptied once it has), and
    /// the per-source meters of its rate limit.
    static func ruleSets(_ rule: PortRule, now: Date) -> [AddressSet] {
        var sets: [AddressSet] = []
        let expired = rule.isExpired(at: now)
        for family in IPFamily.allCases {
            if expired {
                if hasSetElements(rule, family) {
                    sets.append(AddressSet(name: setName(rule.id, family), family: family, elements: [], kind: .timed))
                }
                continue
            }
            let elements = setElements(rule, family)
            if elements.isEmpty && !rule.readsFiles { continue }
            if let expires = rule.expires {
                sets.append(AddressSet(name: setName(rule.id, family), family: family, merged: elements, kind: .timed,
                                       expiresIn: max(1, Int(expires.timeIntervalSince(now).rounded(.up)))))
            } else {
                sets.append(AddressSet(name: setName(rule.id, family), family: family, merged: elements))
            }
        }
        if let limit = rule.limit {
            for family in IPFamily.allCases where rule.isFromAnywhere || rule.readsFiles || rule.sources.contains(where: { $0.family == family }) {
                sets.append(AddressSet(name: rateSetName(rule.id, family), family: family, elements: [],
                                       kind: .meter(timeout: limit.unit.seconds, size: 65535)))
            }
        }
        return sets
    }

    /// The forward chain: replies pass, then (unless a routed part takes it) what nobody DNATed;
    /// bans; and for DNATed connections the inbound rules, portctl's forwards and the inbound
    /// default (or, under `published: accept`, only the blocks meeting portctl's own forwards).
    static func forwardChain(_ policy: PortPolicy, inbound: [PortRule], routedPart: Bool, recording: Bool) -> Chain {
        // Banned sources are dropped on published ports too (after the line that lets
        // everything not DNATed pass: routed traffic is not what a ban is about).
        var rules = [forwardBaseline[0], routedPart ? routedJump : forwardBaseline[1]]
            + banRules(recording: recording)
        if policy.published == .filter {
            let ordered = inbound.filter { $0.action != .allow } + inbound.filter { $0.action == .allow }
            rules += ordered.flatMap { Renderer.rules(for: $0, path: .published, recording: recording) }
            rules += policy.forwards.flatMap(forwardAcceptRules)
            rules += publishedDefaultRules(policy.inbound, log: policy.logDefault, recording: recording)
        } else if !policy.forwards.isEmpty {
            // Published ports are left to their publishers, but portctl's own forwards still
            // meet the blocks (told apart by their target), then their accepts.
            let blocks = inbound.filter { $0.action != .allow }
            for forward in policy.forwards {
                let target = Statement.match(.payload(forward.to.family == .ipv4 ? "ip" : "ip6", "daddr"), op: "==", .string(forward.to.description))
                for block in blocks where block.proto.members.contains(where: forward.proto.members.contains)
                    && block.ports.contains(where: { range in forward.ports.contains { $0.first <= range.last && range.first <= $0.last } }) {
                    rules += Renderer.rules(for: block, path: .published, recording: recording).map { Rule([target] + $0.statements, comment: $0.comment) }
                }
            }
            rules += policy.forwards.flatMap(forwardAcceptRules)
        }
        return Chain(name: "forward", hook: "forward", priority: forwardPriority, policy: "accept", rules: rules)
    }

    /// The routed chain (blocks, then routes, then the routed default) and, above
    /// ``dispatchThreshold`` routes, its dispatch chains.
    static func routedChains(_ policy: PortPolicy, recording: Bool) -> (chain: Chain, dispatched: [Chain]) {
        let ordered = policy.routes.filter { $0.action != .allow } + policy.routes.filter { $0.action == .allow }
        let end = policy.routed == .drop
            ? recordRules([], families: IPFamily.allCases, reason: recording ? DropReason(.routedDefault) : nil, comment: defaultComment)
                + [Rule([.counter(routedDefaultCounter), .verdict(.drop)], comment: defaultComment)]
            : [Rule([.counter(routedDefaultCounter)], comment: defaultComment)]
        // Many flows: the same dispatch by protocol and port as the input chain's, so 1,000
        // flows cost two map lookups and their own port's rules, not a walk over all of them.
        if policy.routes.count > dispatchThreshold {
            let layout = dispatch(policy.routes.map {
                DispatchItem(id: $0.id, isBlock: $0.action != .allow, proto: $0.proto, ports: $0.ports, lines: routedRules($0, recording: recording))
            }, chainPrefix: "route-", segmentPrefix: "rports-")
            return (Chain(name: "routed", hook: nil, type: nil, policy: nil, rules: layout.input + end), layout.chains)
        } else {
            return (Chain(name: "routed", hook: nil, type: nil, policy: nil,
                          rules: ordered.flatMap { routedRules($0, recording: recording) } + end), [])
        }
    }

    /// Above this many inbound rules, the input chain dispatches by protocol and port through
    /// verdict maps instead of walking every rule.
    public static let dispatchThreshold = 32

    /// The dispatch layout: each rule in a chain of its own (`rule-ID`, the same lines as the
    /// linear layout); the input chain looks the packet's protocol and port up in one map for
    /// blocks and then one for allows, and jumps to the rule's chain, or to a `ports-...` chain
    /// that jumps to each rule covering that port, in file order. Blocks still come first and a
    /// packet meets the same rules in the same order as in the linear layout.
    static func dispatch(_ rules: [PortRule], recording: Bool) -> (input: [Rule], chains: [Chain]) {
        dispatch(rules.map { DispatchItem(id: $0.id, isBlock: $0.action != .allow, proto: $0.proto, ports: $0.ports,
                                          lines: Renderer.rules(for: $0, recording: recording)) },
                 chainPrefix: "rule-", segmentPrefix: "ports-")
    }

    /// One rule for ``dispatch(_:chainPrefix:segmentPrefix:)``: its lines go to a chain of its own.
    struct DispatchItem {
        var id: String
        var isBlock: Bool
        var proto: TransportProtocol
        var ports: [PortRange]
        var lines: [Rule]
    }

    /// The dispatch layout for any kind of rule (inbound: `rule-ID` and `ports-...` chains;
    /// routed: `route-ID` and `rports-...`).
    static func dispatch(_ rules: [DispatchItem], chainPrefix: String, segmentPrefix: String) -> (input: [Rule], chains: [Chain]) {
        var chains: [Chain] = rules.map { Chain(name: chainPrefix + $0.id, hook: nil, type: nil, policy: nil, rules: $0.lines) }
        var input: [Rule] = []
        for (label, members) in [("block", rules.filter(\.isBlock)), ("allow", rules.filter { !$0.isBlock })] {
            var entries: [DispatchEntry] = []
            var segmentChains: [[String]: String] = [:]
            for proto in [TransportProtocol.tcp, .udp] {
                let covering = members.filter { $0.proto.members.contains(proto) }
                var bounds = Set<Int>()
                for rule in covering { for range in rule.ports { bounds.insert(Int(range.first)); bounds.insert(Int(range.last) + 1) } }
                let edges = bounds.sorted()
                var pending: (first: Int, last: Int, ids: [String])?
                func flush() {
                    guard let segment = pending else { return }
                    let target: String
                    if segment.ids.count == 1 {
                        target = chainPrefix + segment.ids[0]
                    } else if let existing = segmentChains[segment.ids] {
                        target = existing
                    } else {
                        target = "\(segmentPrefix)\(label)-\(segmentChains.count + 1)"
                        segmentChains[segment.ids] = target
                        chains.append(Chain(name: target, hook: nil, type: nil, policy: nil,
                                            rules: segment.ids.map { Rule([.jump(chainPrefix + $0)]) }))
                    }
                    entries.append(DispatchEntry(proto: proto.rawValue, ports: try! PortRange(segment.first, segment.last), chain: target))
                }
                for (index, start) in edges.dropLast().enumerated() {
                    let end = edges[index + 1] - 1
                    let ids = covering.filter { rule in rule.ports.contains { Int($0.first) <= start && start <= Int($0.last) } }.map(\.id)
                    if ids.isEmpty { flush(); pending = nil; continue }
                    if let open = pending, open.ids == ids, open.last + 1 == start {
                        pending = (open.first, end, ids)
                    } else {
                        flush()
                        pending = (start, end, ids)
                    }
                }
                flush()
            }
            if !entries.isEmpty { input.append(Rule([.dispatch(entries.sorted())])) }
        }
        return (input, chains)
    }

    /// The elements of a rule's set for one family: its merged sources, or the whole family for
    /// a time-boxed rule without sources (its openness has to live in a set to time out).
    static func setElements(_ rule: PortRule, _ family: IPFamily) -> [IPNetwork] {
        if rule.isFromAnywhere {
            guard rule.expires != nil else { return [] }
            return [try! IPNetwork(address: IPAddress(family: family, bits: 0)!, prefixLength: 0)]
        }
        return rule.mergedSources(family)
    }

    /// Whether ``setElements(_:_:)`` is non-empty, without merging anything.
    static func hasSetElements(_ rule: PortRule, _ family: IPFamily) -> Bool {
        if rule.readsFiles { return true }
        return rule.sources.isEmpty ? rule.expires != nil : rule.sources.contains { $0.family == family }
    }

    /// The name of a rule's per-source rate-limit set for one family: `ID-rate4` or `ID-rate6`.
    public static func rateSetName(_ id: String, _ family: IPFamily) -> String {
        "\(id)-rate\(family == .ipv4 ? "4" : "6")"
    }

    /// The full table definition (`table inet NAME { ... }`), as `nft -f` accepts it.
    public static func table(_ policy: PortPolicy) -> String {
        model(policy).text
    }

    /// One batch that atomically replaces portctl's table with the policy's: creating the table
    /// if missing, deleting it, and defining it anew. Nothing outside the table is touched.
    public static func replaceBatch(_ policy: PortPolicy) -> Batch {
        .replacing(policy.table, with: model(policy))
    }

    /// One batch that removes portctl's table, and succeeds when there is none.
    public static func deleteBatch(table: String) -> Batch {
        .removing(table)
    }

    /// The name of a rule's interval set for one family: `ID-v4` or `ID-v6`.
    public static func setName(_ id: String, _ family: IPFamily) -> String {
        "\(id)-\(family == .ipv4 ? "v4" : "v6")"
    }

    /// The nftables comment of a rule: its id, then its comment.
    public static func comment(_ rule: PortRule) -> String {
        rule.comment.map { "\(rule.id): \($0)" } ?? rule.id
    }

    /// The baseline rules at the top of the input chain.
    public static let baseline: [Rule] = [
        Rule([.match(.ct("state"), op: "in", .flags(["established", "related"])), .verdict(.accept)]),
        Rule([.match(.ct("state"), op: "in", .string("invalid")), .verdict(.drop)]),
        Rule([.match(.meta("iifname"), op: "==", .string("lo")), .verdict(.accept)]),
        Rule([.match(.payload("icmp", "type"), op: "==", .set(["destination-unreachable", "time-exceeded", "parameter-problem"].map(Value.string))),
              .verdict(.accept)]),
        Rule([.match(.payload("icmp", "type"), op: "==", .string("echo-request")), .limit(rate: 10, per: "second", burst: 20), .verdict(.accept)]),
        Rule([.match(.payload("icmpv6", "type"), op: "==", .set(["destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem",
                                                                 "nd-router-solicit", "nd-router-advert", "nd-neighbor-solicit", "nd-neighbor-advert"].map(Value.string))),
              .verdict(.accept)]),
        Rule([.match(.payload("icmpv6", "type"), op: "==", .string("echo-request")), .limit(rate: 10, per: "second", burst: 20), .verdict(.accept)]),
    ]

    /// The counter that counts packets from banned sources (`portctl ban`).
    public static let banCounter = "portctl-bans"

    /// The sets of bans: single addresses in a plain set (one element added in constant time),
    /// networks in an interval set; per family. Their elements are state (`portctl ban`), not
    /// policy: the planner never calls them drift and never edits them.
    public static func banSetName(_ family: IPFamily, networks: Bool) -> String {
        "portctl-bans-\(networks ? "n" : "h")\(family == .ipv4 ? "4" : "6")"
    }

    /// Whether a set is one of the ban sets.
    public static func isBanSet(_ name: String) -> Bool { name.hasPrefix("portctl-bans-") }

    /// The drops for banned sources, right after the replies pass: before any allow, SSH
    /// included; with `recording`, each ban line follows a line that records what it refuses.
    public static func banRules(recording: Bool) -> [Rule] {
        IPFamily.allCases.flatMap { family in
            [false, true].flatMap { networks in
                let match = Statement.match(.payload(family == .ipv4 ? "ip" : "ip6", "saddr"), op: "==", .string("@" + banSetName(family, networks: networks)))
                return recordRules([match], families: [family], reason: recording ? DropReason(.ban) : nil, comment: nil)
                    + [Rule([match, .counter(banCounter), .verdict(.drop)])]
            }
        }
    }

    /// The end of the forward chain: the inbound default, for published ports, with its own counter.
    static func publishedDefaultRules(_ inbound: InboundDefault, log: Bool, recording: Bool) -> [Rule] {
        let logging = log ? [Rule(logStatements(prefix: "portctl default \(inbound.rawValue): "), comment: defaultComment)] : []
        let records = recordRules([], families: IPFamily.allCases, reason: recording ? DropReason(.publishedDefault) : nil, comment: defaultComment)
        switch inbound {
        case .drop: return logging + records + [Rule([.counter(publishedDefaultCounter), .verdict(.drop)], comment: defaultComment)]
        case .reject: return logging + records + defaultVerdictRules("reject", counter: publishedDefaultCounter)
        case .accept: return [Rule([.counter(publishedDefaultCounter)], comment: defaultComment)]
        }
    }

    /// Which hook a rule line is for: traffic delivered here (`input`), or a connection to this
    /// host that someone DNATed elsewhere (`published`, in the forward chain).
    public enum Path: Sendable {
        /// The input chain (and the dispatch layout's rule chains).
        case input
        /// The forward chain, matching the destination port before the DNAT.
        case published
    }

    /// The baseline rules at the top of the output chain: replies, loopback, and the ICMP and
    /// ICMPv6 this host must send for networking to work at all under an outbound default of
    /// drop (neighbour discovery: without it no IPv6 packet leaves; errors and PMTU).
    public static let outputBaseline: [Rule] = [
        Rule([.match(.ct("state"), op: "in", .flags(["established", "related"])), .verdict(.accept)]),
        Rule([.match(.meta("oifname"), op: "==", .string("lo")), .verdict(.accept)]),
        Rule([.match(.payload("icmp", "type"), op: "==", .set(["destination-unreachable", "time-exceeded", "parameter-problem"].map(Value.string))),
              .verdict(.accept)]),
        Rule([.match(.payload("icmpv6", "type"), op: "==", .set(["destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem",
                                                                 "nd-router-solicit", "nd-neighbor-solicit", "nd-neighbor-advert"].map(Value.string))),
              .verdict(.accept)]),
    ]

    /// The chain rules for one direction's policy rules: blocks first, then allows, each in file order.
    static func ruleLines(_ policy: PortPolicy, _ direction: Direction) -> [Rule] {
        let rules = policy.rules.filter { $0.direction == direction }
        let ordered = rules.filter { $0.action != .allow } + rules.filter { $0.action == .allow }
        return ordered.flatMap { Renderer.rules(for: $0, recording: policy.drops.isOn) }
    }

    /// The chain rules of one policy rule: one per protocol and, when it has sources, per family;
    /// with `log`, a logging rule before each; with a `limit`, a rule that sends sources over
    /// their rate to the rule's limited chain (``limitedName(_:)``) before each accepting one;
    /// with `recording`, before each line of a deny or reject rule, lines that record what it
    /// refuses.
    public static func rules(for rule: PortRule, recording: Bool) -> [Rule] {
        rules(for: rule, path: .input, recording: recording)
    }

    /// The chain rules of one inbound policy rule on one path. On the published path a DNATed
    /// connection's original destination port is matched (`meta l4proto tcp ct original
    /// proto-dst 8080`), one rule per port range: nft 1.0.6 cannot list an anonymous set of them.
    public static func rules(for rule: PortRule, path: Path, recording: Bool) -> [Rule] {
        let field = rule.direction == .in ? "saddr" : "daddr"
        var addressMatches: [(IPFamily?, Statement?)] = []
        let usesSets = !rule.isFromAnywhere || rule.expires != nil
        if !usesSets {
            addressMatches = [(nil, nil)]
        } else {
            for family in IPFamily.allCases where hasSetElements(rule, family) {
                addressMatches.append((family, .match(.payload(family == .ipv4 ? "ip" : "ip6", field), op: "==",
                                                      .string("@" + setName(rule.id, family)))))
            }
        }
        let interface = rule.interface.map {
            Statement.match(.meta(rule.direction == .in ? "iifname" : "oifname"), op: "==", .string($0))
        }
        let portMatches: (String) -> [[Statement]] = { proto in
            switch path {
            case .input:
                return [[.match(.payload(proto, "dport"), op: "==", portValue(rule.ports))]]
            case .published:
                return PortRange.merged(rule.ports).map { range in
                    [.match(.meta("l4proto"), op: "==", .string(proto)),
                     .match(.ctOriginal("proto-dst"), op: "==",
                            range.first == range.last ? .number(Int(range.first)) : .range(Int(range.first), Int(range.last)))]
                }
            }
        }
        let comment = comment(rule)
        var result: [Rule] = []
        for proto in rule.proto.members {
            let verdict: Verdict = switch rule.action {
            case .allow: .accept
            case .deny: .drop
            case .reject: proto == .tcp ? .rejectTCPReset : .rejectICMPX("port-unreachable")
            }
            for (family, address) in addressMatches {
                for portMatch in portMatches(proto.rawValue) {
                    let match = [interface, address].compactMap { $0 } + portMatch
                    if rule.log {
                        result.append(Rule(match + logStatements(prefix: "portctl \(rule.id): "), comment: comment))
                    }
                    if let limit = rule.limit {
                        for limited in family.map({ [$0] }) ?? IPFamily.allCases {
                            let key = NftExpression.payload(limited == .ipv4 ? "ip" : "ip6", "saddr")
                            result.append(Rule(match + [
                                .match(.ct("state"), op: "in", .string("new")),
                                .overRate(set: rateSetName(rule.id, limited), key: key, rate: limit.count, per: limit.unit.rawValue, burst: limit.count),
                                .jump(limitedName(rule.id)),
                            ], comment: comment))
                        }
                    }
                    if rule.action != .allow && rule.direction == .in {
                        result += recordRules(match, families: family.map { [$0] } ?? IPFamily.allCases,
                                              reason: recording ? DropReason(.rule, ruleID: rule.id) : nil, comment: comment)
                    }
                    result.append(Rule(match + [.counter(rule.id), .verdict(verdict)], comment: comment))
                }
            }
        }
        return result
    }

    /// A rate-limited log: at most 10 lines a minute per rule, so a flood cannot fill the disk.
    static func logStatements(prefix: String) -> [Statement] {
        [.limit(rate: 10, per: "minute", burst: 5), .log(prefix: prefix, level: "info")]
    }

    static func portValue(_ ports: [PortRange]) -> Value {
        let values = PortRange.merged(ports).map { range -> Value in
            range.first == range.last ? .number(Int(range.first)) : .range(Int(range.first), Int(range.last))
        }
        return values.count == 1 ? values[0] : .set(values)
    }

    static func defaultRules(_ verdict: String, counter: String, log: Bool, recording: DropReason?) -> [Rule] {
        let logging = log ? [Rule(logStatements(prefix: "portctl default \(verdict): "), comment: defaultComment)] : []
        let records = verdict == "accept" ? [] : recordRules([], families: IPFamily.allCases, reason: recording, comment: defaultComment)
        return logging + records + defaultVerdictRules(verdict, counter: counter)
    }

    static func defaultVerdictRules(_ verdict: String, counter: String) -> [Rule] {
        switch verdict {
        case "reject":
            return [
                Rule([.match(.meta("l4proto"), op: "==", .string("tcp")), .counter(counter), .verdict(.rejectTCPReset)], comment: defaultComment),
                Rule([.counter(counter), .verdict(.rejectICMPX("port-unreachable"))], comment: defaultComment),
            ]
        default:
            return [Rule([.counter(counter)], comment: defaultComment)]
        }
    }
}
