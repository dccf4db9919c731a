import Foundation

/// What happens to new inbound connections to one port in a listed table (the kernel's, read by
/// ``LiveTable``, or the one the policy renders to): its input-hook chains are walked line by
/// line for every source address at once, as the kernel walks them for one packet.
///
/// Pure: no kernel, no root. A line holding a statement portctl does not interpret (an
/// admin's `meta mark 0x1 accept`, an iptables-nft `xt` match) is never guessed: the sources it
/// could apply to get the fate ``Fate/cannotTell``. Ban sets count as empty (bans are state,
/// listed by `portctl bans`), and a per-source rate limit does not stop a source from being
/// admitted.
public enum TableEvaluation {
    /// What a walk decided for some sources.
    public enum Fate: String, Sendable, Hashable, Codable {
        /// Accepted (by every input-hook chain of the table).
        case accept
        /// Dropped.
        case drop
        /// Refused with a reset or an ICMP error.
        case reject
        /// A line portctl does not interpret decides: it cannot say.
        case cannotTell
    }

    /// What decided the fate of some sources.
    public enum Cause: Sendable, Hashable {
        /// A rule line of a chain.
        case line(chain: String, rule: Rule)
        /// The end of a base chain: its policy.
        case chainPolicy(chain: String, policy: String)
        /// The table does not exist: it refuses nothing.
        case noTable
        /// The table is dormant (`flags dormant`): it filters nothing.
        case dormant
        /// The table has no base chain on the input hook: it refuses nothing.
        case noInputChain
    }

    /// Some sources, their fate, and what decided it.
    public struct Outcome: Sendable, Hashable {
        /// The fate.
        public var fate: Fate
        /// The sources it applies to.
        public var sources: SourceSet
        /// What decided it.
        public var cause: Cause
    }

    /// Who one port admits, as a partition of the sources asked about.
    public struct Admission: Sendable, Hashable {
        /// The outcomes; their sources do not overlap and together hold every source asked about.
        public var outcomes: [Outcome]

        /// The sources whose new connections are accepted.
        public var admitted: SourceSet { sources(.accept) }
        /// The sources portctl cannot judge (a line it does not interpret).
        public var undetermined: SourceSet { sources(.cannotTell) }

        /// The sources of one fate.
        public func sources(_ fate: Fate) -> SourceSet {
            outcomes.filter { $0.fate == fate }.reduce(SourceSet.none) { $0.union($1.sources) }
        }

        /// The outcomes of one fate that hold some of `sources`.
        public func outcomes(_ fate: Fate, overlapping sources: SourceSet) -> [Outcome] {
            outcomes.filter { $0.fate == fate && !$0.sources.intersection(sources).isEmpty }
        }
    }

    /// Who a new connection to `port`/`proto` from a source of `families` is admitted by the
    /// table's input-hook chains, arriving on `interface` (nil: an interface no line of the
    /// table names). A missing or dormant table admits everyone: it refuses nothing.
    public static func admission(_ table: Table?, port: UInt16, proto: TransportProtocol, families: [IPFamily] = IPFamily.allCases,
                                 interface: String? = nil) -> Admission {
        precondition(proto != .both, "a connection is either tcp or udp")
        let everyone = SourceSet.every(families)
        guard let table else { return Admission(outcomes: [Outcome(fate: .accept, sources: everyone, cause: .noTable)]) }
        if table.isDormant { return Admission(outcomes: [Outcome(fate: .accept, sources: everyone, cause: .dormant)]) }
        let baseChains = table.chains.filter { $0.hook == "input" && ($0.type ?? "filter") == "filter" }
            .enumerated().sorted { ($0.element.priority, $0.offset) < ($1.element.priority, $1.offset) }.map(\.element)
        guard !baseChains.isEmpty else { return Admission(outcomes: [Outcome(fate: .accept, sources: everyone, cause: .noInputChain)]) }
        // A packet passes every base chain on the hook in priority order: an accept hands it to
        // the next one, anything else is final. The accepts named are the portctl input chain's.
        var pending = everyone
        var final: [Outcome] = []
        var accepts: [Outcome] = []
        for chain in baseChains {
            var walker = Walker(table: table, port: port, proto: proto, interface: interface)
            let returned = walker.walk(chain, pending, depth: 0)
            var outcomes = walker.outcomes
            if !returned.isEmpty {
                let verdict: Fate = chain.policy == "drop" ? .drop : .accept
                outcomes.append(Outcome(fate: verdict, sources: returned, cause: .chainPolicy(chain: chain.name, policy: chain.policy ?? "accept")))
            }
            final += outcomes.filter { $0.fate != .accept }
            let accepted = outcomes.filter { $0.fate == .accept }
            if chain.name == "input" || accepts.isEmpty { accepts = accepted }
            pending = accepted.reduce(SourceSet.none) { $0.union($1.sources) }
        }
        final += accepts.compactMap { outcome in
            let sources = outcome.sources.intersection(pending)
            return sources.isEmpty ? nil : Outcome(fate: .accept, sources: sources, cause: outcome.cause)
        }
        return Admission(outcomes: final)
    }

    /// A rule line in nftables syntax, with the address matches portctl's reader keeps as JSON
    /// (`ip saddr 10.0.0.0/8`, a prefix) written as nft writes them.
    public static func text(_ rule: Rule) -> String {
        var parts: [String] = rule.statements.map { statement in
            guard case let .unknown(json) = statement, case .sourceMatch = Walker.classify(json),
                  let data = json.data(using: .utf8),
                  let match = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["match"] as? [String: Any],
                  let payload = (match["left"] as? [String: Any])?["payload"] as? [String: Any],
                  let name = payload["protocol"] as? String, let op = match["op"] as? String, let right = match["right"] else { return statement.text }
            let items = ((right as? [String: Any])?["set"] as? [Any]) ?? [right]
            let networks = items.flatMap { LiveTable.readElement($0, family: name == "ip" ? .ipv4 : .ipv6) ?? [] }.map(\.description)
            let value = networks.count == 1 ? networks[0] : "{ " + networks.joined(separator: ", ") + " }"
            return "\(name) saddr \(op == "!=" ? "!= " : "")\(value)"
        }
        if let comment = rule.comment { parts.append("comment \"\(comment)\"") }
        return parts.joined(separator: " ")
    }

    /// The interface names the table's lines match on (`iifname "eth1"`, `"wg*"`), loopback left
    /// out: the ways in that a table may treat differently.
    public static func interfaceNames(_ table: Table?) -> [String] {
        var names: Set<String> = []
        func collect(_ value: Value) {
            switch value {
            case let .string(name): names.insert(name)
            case let .set(values): values.forEach(collect)
            default: break
            }
        }
        for chain in table?.chains ?? [] {
            for rule in chain.rules {
                for case let .match(left, _, value) in rule.statements where left == .meta("iifname") || left == .meta("iif") { collect(value) }
            }
        }
        names.remove("lo")
        return names.sorted()
    }

    /// A walk through the chains for one port, protocol and interface.
    struct Walker {
        let table: Table
        let port: UInt16
        let proto: TransportProtocol
        let interface: String?
        var outcomes: [Outcome] = []

        /// What a match holds for the connection: always, never, for some sources, or unknown.
        enum Truth {
            case always, never, unknown
            case sources(SourceSet)
        }

        /// Walks a chain with the sources that enter it; returns those that reach its end (or a
        /// `return`) without a verdict.
        mutating func walk(_ chain: Chain, _ entering: SourceSet, depth: Int) -> SourceSet {
            var remaining = entering
            var returned = SourceSet.none
            for rule in chain.rules {
                if remaining.isEmpty { break }
                var applies = remaining
                var unknown = false
                var terminal: Statement?
                var sideEffectThatMayStop = false
                scan: for statement in rule.statements {
                    switch statement {
                    case let .match(left, op, right):
                        switch truth(left, op, right) {
                        case .always: break
                        case .never: applies = .none
                        case .unknown: unknown = true
                        case let .sources(sources): applies = applies.intersection(sources)
                        }
                    case let .unknown(json):
                        switch Self.classify(json) {
                        case .sideEffect: break
                        case .setUpdate: sideEffectThatMayStop = true
                        case let .sourceMatch(sources): applies = applies.intersection(sources)
                        case .unknown: unknown = true
                        }
                    case .counter, .anonymousCounter, .log:
                        break
                    case .record:
                        // The drop record's update goes on to the rest of the line while the set
                        // has room (portctl's lines end there; one given a verdict by hand admits
                        // or refuses as that verdict says: judged so, the worse case for an audit).
                        break
                    case .limit:
                        // Within the rate the line goes on: the source is admitted (at a rate).
                        break
                    case .overRate:
                        // Only a source over its own rate goes on; one within it is not stopped
                        // here, and its fate is what follows.
                        applies = .none
                    case .verdict, .jump, .goto, .dispatch:
                        terminal = statement
                        break scan
                    case .dnat, .masquerade:
                        unknown = true
                    }
                    if applies.isEmpty { break scan }
                }
                if applies.isEmpty { continue }
                if unknown || (sideEffectThatMayStop && terminal != nil) {
                    outcomes.append(Outcome(fate: .cannotTell, sources: applies, cause: .line(chain: chain.name, rule: rule)))
                    remaining = remaining.subtracting(applies)
                    continue
                }
                switch terminal {
                case nil:
                    continue
                case let .verdict(verdict):
                    let fate: Fate = switch verdict {
                    case .accept: .accept
                    case .drop: .drop
                    case .rejectTCPReset, .rejectICMPX: .reject
                    }
                    outcomes.append(Outcome(fate: fate, sources: applies, cause: .line(chain: chain.name, rule: rule)))
                    remaining = remaining.subtracting(applies)
                case let .jump(target):
                    remaining = remaining.subtracting(applies).union(enter(target, applies, from: chain, rule: rule, depth: depth))
                case let .goto(target):
                    returned = returned.union(enter(target, applies, from: chain, rule: rule, depth: depth))
                    remaining = remaining.subtracting(applies)
                case let .dispatch(entries):
                    guard let entry = entries.first(where: { $0.proto == proto.rawValue && $0.ports.contains(port) }) else { continue }
                    remaining = remaining.subtracting(applies).union(enter(entry.chain, applies, from: chain, rule: rule, depth: depth))
                default:
                    continue
                }
            }
            return returned.union(remaining)
        }

        /// Walks a jump's or goto's target; what comes back goes on after the line.
        mutating func enter(_ name: String, _ sources: SourceSet, from chain: Chain, rule: Rule, depth: Int) -> SourceSet {
            // The kernel refuses jump loops and deep nesting; a listing that shows either, or a
            // target it does not hold, is not guessed at.
            guard depth < 16, let target = table.chain(name), target.hook == nil else {
                outcomes.append(Outcome(fate: .cannotTell, sources: sources, cause: .line(chain: chain.name, rule: rule)))
                return .none
            }
            return walk(target, sources, depth: depth + 1)
        }

        /// What a match holds for a new connection to `port`/`proto` arriving on `interface`.
        func truth(_ left: NftExpression, _ op: String, _ right: Value) -> Truth {
            switch left {
            case let .meta(key):
                switch key {
                case "iifname", "iif":
                    guard let names = Self.strings(right) else { return .unknown }
                    // Not loopback: audit asks about sources elsewhere.
                    let hit = names.contains { name in
                        guard let interface else { return false }
                        return name.hasSuffix("*") ? interface.hasPrefix(name.dropLast()) : name == interface
                    }
                    return Self.compare(op, hit)
                case "l4proto":
                    return Self.compare(op, Self.isProtocol(right, proto))
                case "nfproto":
                    guard let names = Self.strings(right) else { return .unknown }
                    let families = IPFamily.allCases.filter { names.contains($0 == .ipv4 ? "ipv4" : "ipv6") }
                    return Self.compareSources(op, .every(families), within: IPFamily.allCases)
                case "pkttype":
                    guard let names = Self.strings(right) else { return .unknown }
                    return Self.compare(op, names.contains("host"))
                default:
                    return .unknown
                }
            case let .ct(key):
                guard let names = Self.strings(right) else { return .unknown }
                switch key {
                case "state":
                    // A new connection, or a UDP datagram that starts a flow.
                    return op == "!" ? Self.bool(!names.contains("new")) : Self.compare(op, names.contains("new"))
                case "status":
                    // Not DNATed, nothing set yet: no status bit this match asks about.
                    guard names.allSatisfy({ ["dnat", "snat", "confirmed", "seen-reply", "assured"].contains($0) }) else { return .unknown }
                    return op == "!" ? .always : Self.compare(op, false)
                default:
                    return .unknown
                }
            case let .ctOriginal(key):
                guard key == "proto-dst" else { return .unknown }
                return portTruth(op, right)
            case .fibDestinationType:
                guard let names = Self.strings(right) else { return .unknown }
                return Self.compare(op, names.contains("local"))
            case let .payload(protocolName, field):
                switch protocolName {
                case "ip", "ip6":
                    let family: IPFamily = protocolName == "ip" ? .ipv4 : .ipv6
                    switch field {
                    case "saddr":
                        guard let sources = Self.sourceValue(right, family: family, table: table) else { return .unknown }
                        return Self.compareSources(op, sources, within: [family])
                    case "protocol" where family == .ipv4, "nexthdr" where family == .ipv6:
                        switch Self.compare(op, Self.isProtocol(right, proto)) {
                        case .always: return .sources(.every([family]))
                        default: return .never
                        }
                    default:
                        return .unknown
                    }
                case "tcp", "udp":
                    guard protocolName == proto.rawValue else { return .never }
                    return field == "dport" ? portTruth(op, right) : .unknown
                case "th":
                    return field == "dport" ? portTruth(op, right) : .unknown
                case "icmp", "icmpv6", "sctp", "dccp", "udplite", "esp", "ah", "comp", "igmp", "gre":
                    return .never
                default:
                    return .unknown
                }
            }
        }

        func portTruth(_ op: String, _ right: Value) -> Truth {
            let number = Int(port)
            func holds(_ value: Value) -> Bool? {
                switch value {
                case let .number(value): return value == number
                case let .range(low, high): return low <= number && number <= high
                case let .string(text): return Int(text).map { $0 == number }
                case let .set(values):
                    var found = false
                    for value in values {
                        guard let hit = holds(value) else { return nil }
                        found = found || hit
                    }
                    return found
                case .flags: return nil
                }
            }
            if case let .number(bound) = right, ["<", ">", "<=", ">="].contains(op) {
                let hit = switch op {
                case "<": number < bound
                case ">": number > bound
                case "<=": number <= bound
                default: number >= bound
                }
                return Self.bool(hit)
            }
            guard let hit = holds(right) else { return .unknown }
            return Self.compare(op, hit)
        }

        static func bool(_ value: Bool) -> Truth { value ? .always : .never }

        /// `==` and `in` hold when the value matches, `!=` when it does not.
        static func compare(_ op: String, _ hit: Bool) -> Truth {
            switch op {
            case "==", "in": bool(hit)
            case "!=": bool(!hit)
            default: .unknown
            }
        }

        static func compareSources(_ op: String, _ sources: SourceSet, within families: [IPFamily]) -> Truth {
            switch op {
            case "==", "in": .sources(sources.restricted(to: families))
            case "!=": .sources(sources.complement(within: families))
            default: .unknown
            }
        }

        static func strings(_ value: Value) -> [String]? {
            switch value {
            case let .string(text): return [text]
            case let .flags(flags): return flags
            case let .set(values):
                var all: [String] = []
                for value in values {
                    guard let some = strings(value) else { return nil }
                    all += some
                }
                return all
            default: return nil
            }
        }

        static func isProtocol(_ value: Value, _ proto: TransportProtocol) -> Bool {
            let number = proto == .tcp ? 6 : 17
            switch value {
            case let .string(text): return text == proto.rawValue || Int(text) == number
            case let .number(value): return value == number
            case let .set(values): return values.contains { isProtocol($0, proto) }
            default: return false
            }
        }

        /// The sources a right-hand side names: `@SET`, or addresses written in the line.
        static func sourceValue(_ value: Value, family: IPFamily, table: Table) -> SourceSet? {
            switch value {
            case let .string(text) where text.hasPrefix("@"):
                let name = String(text.dropFirst())
                if Renderer.isBanSet(name) { return SourceSet.none }
                guard let set = table.set(name), set.family == family else { return nil }
                if case .meter = set.kind { return nil }
                return SourceSet(set.elements)
            case let .string(text):
                guard let address = IPAddress(text), address.family == family else { return nil }
                return SourceSet([try! IPNetwork(address: address, prefixLength: family.bitWidth)])
            case let .set(values):
                var all = SourceSet.none
                for value in values {
                    guard let some = sourceValue(value, family: family, table: table) else { return nil }
                    all = all.union(some)
                }
                return all
            default:
                return nil
            }
        }

        /// What portctl can still say about a statement its reader keeps as JSON.
        enum Unread {
            /// It never decides anything (`log group 5`, a counter in another form).
            case sideEffect
            /// A set update: it never decides, but when the set is full the rest of the line does
            /// not run.
            case setUpdate
            /// `ip saddr 10.0.0.0/8` and the like: addresses nft lists as prefixes, ranges or sets.
            case sourceMatch(SourceSet)
            /// Anything else.
            case unknown
        }

        static func classify(_ json: String) -> Unread {
            guard let data = json.data(using: .utf8),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], object.count == 1,
                  let (kind, body) = object.first else { return .unknown }
            switch kind {
            case "log", "counter":
                return .sideEffect
            case "set":
                guard let update = body as? [String: Any], ["add", "update"].contains(update["op"] as? String ?? ""),
                      (update["stmt"] as? [Any] ?? []).allSatisfy({ (($0 as? [String: Any])?.keys).map { Set($0) == ["counter"] } ?? false })
                else { return .unknown }
                return .setUpdate
            case "match":
                guard let match = body as? [String: Any], let op = match["op"] as? String,
                      let payload = (match["left"] as? [String: Any])?["payload"] as? [String: Any],
                      payload["field"] as? String == "saddr", let name = payload["protocol"] as? String, name == "ip" || name == "ip6",
                      let right = match["right"] else { return .unknown }
                let family: IPFamily = name == "ip" ? .ipv4 : .ipv6
                let items = ((right as? [String: Any])?["set"] as? [Any]) ?? [right]
                var networks: [IPNetwork] = []
                for item in items {
                    guard let read = LiveTable.readElement(item, family: family) else { return .unknown }
                    networks += read
                }
                switch compareSources(op, SourceSet(networks), within: [family]) {
                case let .sources(sources): return .sourceMatch(sources)
                default: return .unknown
                }
            default:
                return .unknown
            }
        }
    }
}
