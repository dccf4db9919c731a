public import Foundation

/// The events of one packet, in the order the kernel sent them.
public struct PacketTrace: Sendable, Hashable {
    /// The kernel's pseudo-id for the packet.
    public var id: UInt32
    /// Its events, marking included.
    public var events: [TraceEvent]
    /// Whether the trace began with the marking rule of the trace table (else its first events
    /// were lost, or it was marked by someone else's `meta nftrace set 1`).
    public var markedHere: Bool
    /// When its first event was read, on the caller's clock.
    public var firstSeen: Double

    /// Makes a trace from its events.
    public init(id: UInt32, events: [TraceEvent], markedHere: Bool, firstSeen: Double = 0) {
        self.id = id
        self.events = events
        self.markedHere = markedHere
        self.firstSeen = firstSeen
    }
}

/// Groups trace events into packets. A packet's events share an id, but the kernel reuses ids
/// (the next packet of a flow often gets the same one), so a packet begins at the trace table's
/// marking rule and ends at a verdict that ends its journey (drop, queue, stolen) or when no
/// event came for it for a while (``expire(now:idle:)``). Pure: the caller gives the time.
public struct TraceAssembler: Sendable {
    /// The trace table (family `inet`) whose rule marks the packets.
    public let traceTable: String
    private var open: [UInt32: (trace: PacketTrace, lastSeen: Double)] = [:]
    private var order: [UInt32] = []
    /// Ids of packets another trace or watch marked and this one did not: another session's, so
    /// their events are not this one's (bounded: cleared when it grows past 4,096).
    private var others: Set<UInt32> = []

    /// Groups events for the trace table `inet TRACETABLE`.
    public init(traceTable: String) {
        self.traceTable = traceTable
    }

    /// How many packets are waiting for more events.
    public var pending: Int { open.count }

    /// When the oldest packet still waiting began (on the caller's clock), or nil.
    public var oldestPending: Double? { open.values.lazy.map(\.trace.firstSeen).min() }

    /// How many of them began at the marking rule.
    public var pendingMarked: Int { open.values.count { $0.trace.markedHere } }

    /// Adds one event seen at `time` (seconds on any monotonic clock); returns the packets it
    /// completed (a packet whose id begins a new one, or this one when its journey ended).
    public mutating func add(_ event: TraceEvent, at time: Double) -> [PacketTrace] {
        var finished: [PacketTrace] = []
        let marks = event.family == "inet" && event.table == traceTable && event.kind == .rule && event.ruleHandle != nil
        let marksForAnother = event.family == "inet" && event.table != traceTable && event.table.hasPrefix(TraceTable.prefix)
            && event.kind == .rule && event.ruleHandle != nil
        if marksForAnother && open[event.id] == nil {
            // Another session's packet (unless this session marks it too, later in its path).
            if others.count > 4096 { others.removeAll() }
            others.insert(event.id)
            return finished
        }
        if !marks && open[event.id] == nil && others.contains(event.id) {
            if event.outcome?.isFinal == true { others.remove(event.id) }
            return finished
        }
        if marks { others.remove(event.id) }
        if marks, let previous = open.removeValue(forKey: event.id) {
            finished.append(previous.trace)
        }
        if var current = open[event.id] {
            current.trace.events.append(event)
            current.lastSeen = time
            open[event.id] = current
        } else {
            open[event.id] = (PacketTrace(id: event.id, events: [event], markedHere: marks, firstSeen: time), time)
            order.append(event.id)
        }
        if event.outcome?.isFinal == true, let done = open.removeValue(forKey: event.id) {
            finished.append(done.trace)
        }
        compactOrder()
        return finished
    }

    /// The packets that got no event for `idle` seconds by `now`, oldest first.
    public mutating func expire(now: Double, idle: Double) -> [PacketTrace] {
        var finished: [PacketTrace] = []
        for id in order {
            if let entry = open[id], now - entry.lastSeen >= idle {
                finished.append(entry.trace)
                open.removeValue(forKey: id)
            }
        }
        compactOrder()
        return finished
    }

    /// Every packet still waiting, oldest first (at the end of a trace).
    public mutating func finishAll() -> [PacketTrace] {
        let finished = order.compactMap { open[$0]?.trace }
        open.removeAll()
        order.removeAll()
        return finished
    }

    private mutating func compactOrder() {
        // Ids leave `open` in any order; `order` is trimmed once it holds twice what is open.
        if order.count > 64 && order.count > 2 * open.count {
            var seen = Set<UInt32>()
            order = order.filter { open[$0] != nil && seen.insert($0).inserted }
        }
    }
}

/// The ruleset's rules by handle, read from nft's text listing with handles
/// (`nft -a -s -t list ruleset`): a trace names a rule only by its table, chain and handle.
public struct TraceRuleset: Sendable, Hashable {
    /// One rule's place.
    public struct RuleKey: Sendable, Hashable {
        /// The table's family.
        public var family: String
        /// The table.
        public var table: String
        /// The chain.
        public var chain: String
        /// The handle.
        public var handle: UInt64

        /// Makes a key.
        public init(family: String, table: String, chain: String, handle: UInt64) {
            self.family = family
            self.table = table
            self.chain = chain
            self.handle = handle
        }
    }

    /// A base chain's declaration: `type filter hook input priority filter; policy drop;`.
    public struct ChainInfo: Sendable, Hashable {
        /// The hook (`prerouting`, `input`, ...), nil for a regular chain.
        public var hook: String?
        /// The priority as listed (`filter`, `dstnat`, `-350`).
        public var priority: String?
        /// The policy (`accept`, `drop`).
        public var policy: String?
    }

    /// Each rule's text as nft lists it (without its handle).
    public var rules: [RuleKey: String] = [:]
    /// Each chain's declaration, keyed by family, table and chain.
    public var chains: [String: ChainInfo] = [:]

    /// No rules.
    public init() {}

    /// Reads nft's text listing with handles. Lines it does not understand are skipped.
    public init(listing: String) {
        var family: String?, table: String?, chain: String?
        var depth = 0
        var chainDepth = -1
        for rawLine in listing.split(whereSeparator: \.isNewline) {
            var line = rawLine.trimmingASCIISpaces()
            var handle: UInt64?
            if let range = line.range(of: " # handle ", options: .backwards) {
                handle = UInt64(line[range.upperBound...])
                line = String(line[..<range.lowerBound])
            } else if line.hasPrefix("# ") {
                continue
            }
            if line == "}" {
                if depth == chainDepth { chain = nil; chainDepth = -1 }
                depth -= 1
                if depth <= 0 { depth = 0; table = nil; family = nil }
                continue
            }
            if line.hasSuffix("{") && !line.hasSuffix("{ {") {
                let words = line.dropLast().split(separator: " ").map(String.init)
                if depth == 0, words.count == 3, words[0] == "table" {
                    family = words[1]
                    table = Self.unquoted(words[2])
                } else if depth == 1, words.count == 2, words[0] == "chain" {
                    chain = Self.unquoted(words[1])
                    chainDepth = depth + 1
                    if let family, let table, let chain { chains[Self.chainKey(family, table, chain)] = ChainInfo() }
                }
                depth += 1
                continue
            }
            guard let family, let table, let chain, depth == chainDepth else { continue }
            if let handle {
                rules[RuleKey(family: family, table: table, chain: chain, handle: handle)] = line
            } else if line.hasPrefix("type ") {
                var info = ChainInfo()
                for clause in line.split(separator: ";") {
                    let words = clause.split(separator: " ").map(String.init)
                    if let index = words.firstIndex(of: "hook"), index + 1 < words.count { info.hook = words[index + 1] }
                    if let index = words.firstIndex(of: "priority"), index + 1 < words.count {
                        info.priority = words[(index + 1)...].joined(separator: " ")
                    }
                    if words.first == "policy", words.count == 2 { info.policy = words[1] }
                }
                chains[Self.chainKey(family, table, chain)] = info
            }
        }
    }

    /// A rule's text, or nil when the listing does not hold it.
    public func text(family: String, table: String, chain: String, handle: UInt64) -> String? {
        rules[RuleKey(family: family, table: table, chain: chain, handle: handle)]
    }

    /// A chain's declaration, or nil.
    public func chain(family: String, table: String, chain: String) -> ChainInfo? {
        chains[Self.chainKey(family, table, chain)]
    }

    /// Whether the listing names every rule these events name.
    public func knowsEvery(_ events: [TraceEvent]) -> Bool {
        events.allSatisfy { event in
            event.ruleHandle.map { text(family: event.family, table: event.table, chain: event.chain, handle: $0) != nil } ?? true
        }
    }

    /// The rule text's comment (`comment "..."` at its end), if any.
    public static func comment(ofRule text: String) -> String? {
        guard text.hasSuffix("\""), let range = text.range(of: " comment \"", options: .backwards) else {
            return text.hasPrefix("comment \"") && text.hasSuffix("\"") ? String(text.dropFirst(9).dropLast()) : nil
        }
        return String(text[range.upperBound...].dropLast())
    }

    static func chainKey(_ family: String, _ table: String, _ chain: String) -> String {
        "\(family) \(table) \(chain)"
    }

    static func unquoted(_ word: String) -> String {
        word.count >= 2 && word.hasPrefix("\"") && word.hasSuffix("\"") ? String(word.dropFirst().dropLast()) : word
    }
}

/// What a rule of portctl's own table is, read from its comment and text.
public enum PortctlRuleRole: Sendable, Hashable {
    /// A policy rule's line (its id is the start of its comment).
    case rule(id: String)
    /// A rate-limited rule's line that drops sources over their rate (or the line of its own
    /// chain that does).
    case limit(id: String)
    /// A default's line (comment `portctl: default`), or a base chain's policy.
    case `default`
    /// A ban line (its source is in a ban set).
    case ban
    /// A baseline line every server needs (replies, invalid, loopback, ICMP), or a dispatch jump.
    case baseline
    /// Another line portctl makes (comment `portctl: WHAT`).
    case other(String)

    /// Reads a rule's role from its listed text.
    public static func of(ruleText text: String) -> PortctlRuleRole {
        guard let comment = TraceRuleset.comment(ofRule: text) else {
            let bans = text.split(separator: " ").contains { $0.hasPrefix("@") && Renderer.isBanSet(String($0.dropFirst())) }
            return bans ? .ban : .baseline
        }
        if comment == Renderer.defaultComment { return .default }
        if comment.hasPrefix("portctl: ") { return .other(String(comment.dropFirst(9))) }
        let id = comment.split(separator: ":", maxSplits: 1).first.map(String.init) ?? comment
        // The line over the rate drops (`limit rate over ... drop`), or jumps to the rule's own
        // chain that counts and drops (`counter name "portctl-limited-ID" drop`).
        let limits = text.contains("limit rate over") || text.contains("counter name \"portctl-limited-")
        return limits ? .limit(id: id) : .rule(id: id)
    }
}

/// One step of a packet's path: a rule that matched, or a chain's end.
public struct TraceHop: Sendable, Hashable, Codable {
    /// `ip`, `ip6`, `inet`, ...
    public var family: String
    /// The table.
    public var table: String
    /// The chain.
    public var chain: String
    /// The chain's hook, when the listing names it (a base chain).
    public var hook: String?
    /// `rule`, `policy` (the base chain's end) or `return` (a regular chain's end).
    public var kind: String
    /// The rule's handle.
    public var handle: UInt64?
    /// The rule's text as nft lists it; nil for a chain's end, or a rule deleted meanwhile.
    public var rule: String?
    /// The verdict: `accept`, `drop`, `continue`, `jump CHAIN`, ...
    public var verdict: String
    /// For portctl's table: the rule id this line belongs to.
    public var ruleID: String?
    /// For portctl's table: `rule`, `limit`, `default`, `ban`, `baseline` or `other`.
    public var role: String?

    /// `inet portctl`.
    public var tableName: String { "\(family) \(table)" }
}

/// What the kernel did with a packet, and what decided it.
public struct TraceOutcome: Sendable, Hashable, Codable {
    /// `accept`, `drop`, `reject`, `queue` or `stolen`.
    public var verdict: String
    /// Dropped by a rate limit (a portctl rule's line for sources over their rate).
    public var limited: Bool
    /// Dropped by one of portctl's bans.
    public var banned: Bool
    /// Where a DNAT sent it (`192.0.2.2:80`), when its destination changed on the way.
    public var forwardedTo: String?
    /// The hop that decided: the verdict that ended its journey, or for an accepted packet
    /// portctl's accepting line (else the last accepting one). Nil when no chain decided.
    public var decidedBy: TraceHop?

    /// Whether portctl's own table decided.
    public var decidedByPortctl: Bool { decidedBy?.role != nil }

    /// What decided, in words: `rule allow-tcp-26`, `portctl's default`, `a ban`,
    /// `table ip other, chain in`.
    public var decider: String {
        guard let hop = decidedBy else { return "no chain (nothing on its path decided)" }
        switch hop.role {
        case "rule": return "rule \(hop.ruleID ?? "?")"
        case "limit": return "rule \(hop.ruleID ?? "?")'s rate limit"
        case "default": return "portctl's default"
        case "ban": return "portctl's ban list"
        case "baseline": return "portctl's baseline (\(hop.rule ?? hop.verdict))"
        case "other": return "portctl's \(hop.rule.flatMap(TraceRuleset.comment(ofRule:)) ?? "table")"
        default:
            return "table \(hop.tableName), chain \(hop.chain)" + (hop.kind == "policy" ? " (its policy)" : "")
        }
    }

    /// The word `watch` prints: `accept`, `drop`, `reject`, `limited`, `banned`, or
    /// `forwarded to ADDR:PORT`.
    public var word: String {
        if banned { return "banned" }
        if limited { return "limited" }
        if verdict == "accept", let forwardedTo { return "forwarded to \(forwardedTo)" }
        return verdict
    }

    /// `accepted by rule allow-tcp-26`, `dropped by table ip other, chain in`.
    public var sentence: String {
        let participle = switch verdict {
        case "accept": "accepted"
        case "drop": "dropped"
        case "reject": "rejected"
        case "queue": "queued"
        default: verdict
        }
        var text = "\(participle) by \(decider)"
        if let forwardedTo, verdict == "accept" { text += ", forwarded to \(forwardedTo)" }
        return text
    }
}

/// One packet's path through every table and chain, its rules named, and its fate.
public struct TracedPacket: Sendable, Hashable {
    /// The kernel's pseudo-id.
    public var id: UInt32
    /// The packet as it arrived.
    public var headers: PacketHeaders?
    /// The packet as last seen (after a DNAT, its new destination).
    public var lastHeaders: PacketHeaders?
    /// The interface index it came in on.
    public var inInterface: UInt32?
    /// The connection's state bits when the kernel sent them (8: new).
    public var connectionState: UInt32?
    /// The path, the trace table's marking left out.
    public var hops: [TraceHop]
    /// What the kernel did with it.
    public var outcome: TraceOutcome
    /// Whether the trace began at the marking rule (else some of its events were lost).
    public var complete: Bool
    /// When its first event was read (set by the reader).
    public var seenAt: Date?
    /// The name of the interface it came in on (set by the reader).
    public var inInterfaceName: String?

    /// Names the rules of `trace` from `ruleset` and works out the packet's fate. `portctlTable`
    /// is portctl's table (family `inet`); `traceTable` the table that marked it, left out of the path.
    public init(_ trace: PacketTrace, ruleset: TraceRuleset, portctlTable: String, traceTable: String) {
        id = trace.id
        complete = trace.markedHere
        let withHeaders = trace.events.filter { $0.networkHeader != nil }
        headers = withHeaders.first.flatMap { PacketHeaders(network: $0.networkHeader!, transport: $0.transportHeader) }
        lastHeaders = withHeaders.last.flatMap { PacketHeaders(network: $0.networkHeader!, transport: $0.transportHeader) }
        inInterface = trace.events.lazy.compactMap(\.inInterface).first
        connectionState = trace.events.lazy.compactMap(\.connectionState).first
        hops = trace.events.compactMap { event -> TraceHop? in
            // Trace tables (this one's, and another session's running at the same time) only mark.
            if event.family == "inet" && (event.table == traceTable || event.table.hasPrefix(TraceTable.prefix)) { return nil }
            if event.isEndOfRules || event.kind == .unspecified { return nil }
            let text = event.ruleHandle.flatMap { ruleset.text(family: event.family, table: event.table, chain: event.chain, handle: $0) }
            let kind = switch event.kind {
            case .policy: "policy"
            case .return: "return"
            default: "rule"
            }
            var hop = TraceHop(family: event.family, table: event.table, chain: event.chain,
                               hook: ruleset.chain(family: event.family, table: event.table, chain: event.chain)?.hook,
                               kind: kind, handle: event.ruleHandle, rule: text, verdict: event.outcome?.description ?? "continue")
            if event.family == "inet" && event.table == portctlTable {
                let role: PortctlRuleRole = event.kind == .policy ? .default : text.map(PortctlRuleRole.of(ruleText:)) ?? .baseline
                switch role {
                case let .rule(id): hop.role = "rule"; hop.ruleID = id
                case let .limit(id): hop.role = "limit"; hop.ruleID = id
                case .default: hop.role = "default"
                case .ban: hop.role = "ban"
                case .baseline: hop.role = "baseline"
                case .other: hop.role = "other"
                }
            }
            return hop
        }
        var outcome = TraceOutcome(verdict: "accept", limited: false, banned: false, forwardedTo: nil, decidedBy: nil)
        if let final = hops.last(where: { ["drop", "queue", "stolen"].contains($0.verdict) }) {
            outcome.verdict = final.verdict
            if final.verdict == "drop", final.rule.map(Self.rejects) == true { outcome.verdict = "reject" }
            outcome.decidedBy = final
            outcome.limited = final.role == "limit"
            outcome.banned = final.role == "ban"
        } else {
            outcome.decidedBy = hops.last { $0.verdict == "accept" && $0.role != nil } ?? hops.last { $0.verdict == "accept" }
        }
        if let first = headers, let last = lastHeaders,
           first.destination != last.destination || first.destinationPort != last.destinationPort {
            let port = last.destinationPort.map(String.init) ?? ""
            outcome.forwardedTo = last.destination.family == .ipv4 ? "\(last.destination):\(port)" : "[\(last.destination)]:\(port)"
        }
        self.outcome = outcome
    }

    /// Whether a rule's text sends a reject (the kernel reports it as a drop).
    static func rejects(_ text: String) -> Bool {
        text.split(separator: " ").contains("reject")
    }

    /// `198.51.100.2:33438 -> 198.51.100.1:26/tcp` (IPv6 addresses in brackets).
    public var summary: String {
        guard let headers else { return "packet \(String(id, radix: 16)) (its headers were not seen)" }
        func endpoint(_ address: IPAddress, _ port: UInt16?) -> String {
            guard let port else { return address.description }
            return address.family == .ipv4 ? "\(address):\(port)" : "[\(address)]:\(port)"
        }
        return "\(endpoint(headers.source, headers.sourcePort)) -> \(endpoint(headers.destination, headers.destinationPort))/\(headers.protocolName)"
    }
}
