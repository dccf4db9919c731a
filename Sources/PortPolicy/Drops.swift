public import Foundation

/// How long portctl's table remembers each connection it refused (`defaults.drops` in the
/// policy file: a duration such as `10m`, or `off`).
///
/// With recording on, every new TCP or UDP connection that a default, a deny or reject rule, a
/// ban or a rate limit refuses is kept in a dynamic set of the table (``Renderer/dropSetName(_:)``)
/// as one element per source, protocol, destination port and ``DropReason``, with a packet
/// counter; an element goes `seconds` after its last packet. `portctl drops` reads them.
public enum DropRecording: Sendable, Hashable {
    /// Nothing is recorded.
    case off
    /// Each refused (source, protocol, port, reason) is kept this many seconds after its last packet.
    case keep(seconds: Int)

    /// What a policy that says nothing gets: ten minutes.
    public static let standard = DropRecording.keep(seconds: 600)
    /// The longest a refused connection can be kept: one day.
    public static let longest = 86_400

    /// Whether anything is recorded.
    public var isOn: Bool { self != .off }

    /// The policy file's text: `off` or a duration (`10m`).
    public var text: String {
        switch self {
        case .off: "off"
        case let .keep(seconds): Planner.duration(seconds)
        }
    }

    /// Reads the policy file's text: `off`, or a duration from 1 second to one day.
    public init(text: String) throws(PolicyError) {
        let allowed = ["off", "a duration from 1s to 1d, such as 10m"]
        if text == "off" { self = .off; return }
        let seconds: Int
        do {
            seconds = try parseDuration(text)
        } catch {
            throw .invalidValue(text, field: "defaults.drops", allowed: allowed)
        }
        guard seconds <= Self.longest else { throw .invalidValue(text, field: "defaults.drops", allowed: allowed) }
        self = .keep(seconds: seconds)
    }
}

/// What refused a recorded connection, as the 32-bit code each drop-record element carries.
///
/// The top four bits say the kind; for rules and rate limits, the other 28 bits are a hash of
/// the rule id (FNV-1a), so the code stays the same when other rules come and go, and an
/// element recorded before an edit still names its rule.
public struct DropReason: Sendable, Hashable, Comparable {
    /// What kind of thing refused the connection.
    public enum Kind: UInt32, Sendable, Hashable, Codable {
        /// The inbound default (drop or reject): no rule admitted it.
        case inboundDefault = 1
        /// The inbound default, for a published (DNATed) port.
        case publishedDefault = 2
        /// The routed default (drop).
        case routedDefault = 3
        /// A deny or reject rule (inbound, published or routed).
        case rule = 4
        /// A ban (`portctl ban`).
        case ban = 5
        /// A rule's rate limit (`--limit`): the source was over its rate.
        case limit = 6
    }

    /// The kind.
    public var kind: Kind
    /// The rule, for ``Kind/rule`` and ``Kind/limit``; nil when the code names a rule that is no
    /// longer in the policy.
    public var ruleID: String?
    /// The code in the kernel.
    public var code: UInt32

    /// The reason for a kind without a rule (a default or a ban).
    public init(_ kind: Kind) {
        self.kind = kind
        self.ruleID = nil
        self.code = kind.rawValue << 28
    }

    /// The reason for a rule's refusal (``Kind/rule``) or its rate limit (``Kind/limit``).
    public init(_ kind: Kind, ruleID: String) {
        self.kind = kind
        self.ruleID = ruleID
        self.code = kind.rawValue << 28 | Self.hash(ruleID)
    }

    /// Reads a code, naming the rule among `ruleIDs` whose hash it carries; nil for a code
    /// portctl never writes.
    public init?(code: UInt32, ruleIDs: [String]) {
        guard let kind = Kind(rawValue: code >> 28) else { return nil }
        self.kind = kind
        self.code = code
        switch kind {
        case .rule, .limit:
            ruleID = ruleIDs.first { Self.hash($0) == code & 0x0FFF_FFFF }
        case .inboundDefault, .publishedDefault, .routedDefault, .ban:
            guard code & 0x0FFF_FFFF == 0 else { return nil }
            ruleID = nil
        }
    }

    /// FNV-1a of the id, folded to 28 bits.
    static func hash(_ id: String) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for byte in id.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return (hash >> 28 ^ hash) & 0x0FFF_FFFF
    }

    /// What refused it, for people: `rule deny-26`, `rate limit of allow-26`, `the inbound default`.
    public var description: String {
        let rule = ruleID.map { "rule \($0)" } ?? "a rule no longer in the policy"
        switch kind {
        case .inboundDefault: return "the inbound default"
        case .publishedDefault: return "the inbound default (published port)"
        case .routedDefault: return "the routed default"
        case .rule: return rule
        case .ban: return "a ban"
        case .limit: return ruleID.map { "the rate limit of \($0)" } ?? "the rate limit of a rule no longer in the policy"
        }
    }

    /// A short label for tables and metrics: `default`, `published-default`, `routed-default`,
    /// `rule`, `ban`, `limit`.
    public var label: String {
        switch kind {
        case .inboundDefault: "default"
        case .publishedDefault: "published-default"
        case .routedDefault: "routed-default"
        case .rule: "rule"
        case .ban: "ban"
        case .limit: "limit"
        }
    }

    /// Orders by code.
    public static func < (lhs: DropReason, rhs: DropReason) -> Bool { lhs.code < rhs.code }
}

/// One element of the drop record: a source refused on one port, and how often.
public struct DroppedConnection: Sendable, Hashable {
    /// The source address.
    public var source: IPAddress
    /// `tcp` or `udp`.
    public var proto: TransportProtocol
    /// The destination port the source asked for (before any DNAT).
    public var port: UInt16
    /// What refused it.
    public var reason: DropReason
    /// The packets refused (the element's counter: SYNs and retries for TCP, datagrams for UDP,
    /// of new connections only).
    public var packets: Int
    /// When the last of them arrived (to the second: the kernel's countdown).
    public var lastSeen: Date

    /// Makes one.
    public init(source: IPAddress, proto: TransportProtocol, port: UInt16, reason: DropReason, packets: Int, lastSeen: Date) {
        self.source = source
        self.proto = proto
        self.port = port
        self.reason = reason
        self.packets = packets
        self.lastSeen = lastSeen
    }
}

/// What `portctl drops` reports: the recorded refusals, and what recording missed.
public struct DropReport: Sendable, Hashable {
    /// The recorded refusals, most packets first.
    public var connections: [DroppedConnection]
    /// How long each element is kept after its last packet; nil when recording is off in the
    /// kernel (no drop record in the table).
    public var keptSeconds: Int?
    /// How many elements each family's set holds at most.
    public var capacity: Int
    /// New refused connections the table saw but could not record since the table was last
    /// made (the set was full).
    public var unrecorded: Int

    /// Makes one.
    public init(connections: [DroppedConnection], keptSeconds: Int?, capacity: Int, unrecorded: Int) {
        self.connections = connections
        self.keptSeconds = keptSeconds
        self.capacity = capacity
        self.unrecorded = unrecorded
    }

    /// Reads the elements of a drop record's `list set` JSON listing (either family). `now` is
    /// when the listing was made; `keptSeconds` the set's timeout; codes are named from `ruleIDs`.
    /// Elements portctl does not write are skipped.
    public static func connections(json: String, keptSeconds: Int, ruleIDs: [String], now: Date) -> [DroppedConnection] {
        var result: [DroppedConnection] = []
        for set in LiveTable.objects(json, kind: "set") {
            for element in set["elem"] as? [Any] ?? [] {
                guard let inner = (element as? [String: Any])?["elem"] as? [String: Any],
                      let parts = (inner["val"] as? [String: Any])?["concat"] as? [Any], parts.count == 4,
                      let address = (parts[0] as? String).flatMap({ IPAddress($0) }),
                      let proto = TransportProtocol(listed: parts[1]),
                      let port = parts[2] as? Int, let port16 = UInt16(exactly: port),
                      let code = (parts[3] as? Int).flatMap(UInt32.init(exactly:)),
                      let reason = DropReason(code: code, ruleIDs: ruleIDs)
                else { continue }
                let packets = (inner["counter"] as? [String: Any])?["packets"] as? Int ?? 0
                let expires = inner["expires"] as? Int ?? keptSeconds
                let timeout = inner["timeout"] as? Int ?? keptSeconds
                let lastSeen = now.addingTimeInterval(-Double(max(0, timeout - expires)))
                result.append(DroppedConnection(source: address, proto: proto, port: port16, reason: reason, packets: packets, lastSeen: lastSeen))
            }
        }
        return sorted(result)
    }

    /// Sorts connections: most packets first, then by source, port and protocol.
    public static func sorted(_ connections: [DroppedConnection]) -> [DroppedConnection] {
        connections.sorted {
            if $0.packets != $1.packets { return $0.packets > $1.packets }
            if $0.source != $1.source { return $0.source < $1.source }
            if $0.port != $1.port { return $0.port < $1.port }
            if $0.proto != $1.proto { return $0.proto.rawValue < $1.proto.rawValue }
            return $0.reason < $1.reason
        }
    }

    /// The report narrowed: last seen at or after `since`, to one of `ports` (any when empty) over
    /// `proto`, from inside one of `from` (any when empty), of one of `reasons` (any when empty), at most
    /// `top` connections (the busiest).
    public func filtered(since: Date? = nil, ports: [PortRange] = [], proto: TransportProtocol = .both, from: [IPNetwork] = [],
                         reasons: Set<DropReason.Kind> = [], top: Int? = nil) -> DropReport {
        var report = self
        report.connections = connections.filter { connection in
            (since.map { connection.lastSeen >= $0 } ?? true)
                && (ports.isEmpty || ports.contains { $0.first <= connection.port && connection.port <= $0.last })
                && proto.members.contains(connection.proto)
                && (from.isEmpty || from.contains { $0.contains(connection.source) })
                && (reasons.isEmpty || reasons.contains(connection.reason.kind))
        }
        if let top { report.connections = Array(report.connections.prefix(top)) }
        return report
    }

    /// A sum of packet counts that stops at `Int.max` (the kernel's counters are 64-bit and
    /// anyone with root can set them: a sum must never trap).
    static func adding(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int.max : sum
    }

    /// Packets refused per port, protocol and reason label (what `metrics` exports: no source,
    /// so the number of series stays bounded by the ports).
    public var packetsByPort: [(port: UInt16, proto: TransportProtocol, reason: String, packets: Int)] {
        var sums: [String: (UInt16, TransportProtocol, String, Int)] = [:]
        for connection in connections {
            let key = "\(connection.port)/\(connection.proto.rawValue)/\(connection.reason.label)"
            let old = sums[key]?.3 ?? 0
            sums[key] = (connection.port, connection.proto, connection.reason.label, Self.adding(old, connection.packets))
        }
        return sums.values.sorted { ($0.0, $0.1.rawValue, $0.2) < ($1.0, $1.1.rawValue, $1.2) }
            .map { (port: $0.0, proto: $0.1, reason: $0.2, packets: $0.3) }
    }

    /// Packets refused per port and protocol, whatever refused them but bans (a banned source is
    /// dealt with already), busiest first: what `status --nagios --warn-drops` judges, and what
    /// the PortctlBruteForce alert sums from ``packetsByPort``.
    public var refusedPerPort: [(port: UInt16, proto: TransportProtocol, packets: Int)] {
        var sums: [String: (UInt16, TransportProtocol, Int)] = [:]
        for connection in connections where connection.reason.kind != .ban {
            let key = "\(connection.port)/\(connection.proto.rawValue)"
            sums[key] = (connection.port, connection.proto, Self.adding(sums[key]?.2 ?? 0, connection.packets))
        }
        return sums.values.sorted { ($1.2, $0.0, $0.1.rawValue) < ($0.2, $1.0, $1.1.rawValue) }
            .map { (port: $0.0, proto: $0.1, packets: $0.2) }
    }

    /// For each connection (in order), the command that would admit its source when a default
    /// refused it, else nil: `portctl open PORT/PROTO --from SOURCE`, the source alone. Never a
    /// wider network: a TCP source is only what the SYN claimed (no handshake happened), and a
    /// few forged SYNs must not talk an admin into opening a /24. With `policy`, a source the
    /// policy now admits on that port (opened since) gets none.
    public func admittingCommands(policy: PortPolicy? = nil, now: Date = Date()) -> [String?] {
        let admits = policy.map { AdmissionIndex($0.effective(at: now)) }
        var rulesByPort: [String: (allow: [Int], block: [Int])] = [:]
        return connections.map { connection in
            guard Self.admittable(connection) else { return nil }
            if let admits {
                let key = "\(connection.port)/\(connection.proto.rawValue)"
                let rules = rulesByPort[key] ?? admits.rules(connection.port, connection.proto)
                rulesByPort[key] = rules
                if admits.admits(connection.source, allow: rules.allow, block: rules.block) { return nil }
            }
            return "portctl open \(connection.port)/\(connection.proto.rawValue) --from \(connection.source)"
        }
    }

    /// Which sources a policy's inbound rules admit on a port, answered in logarithmic time (a
    /// full record against a 10,000-source rule: 65,536 questions). A source is admitted when an
    /// allow rule without an interface covers it and no deny or reject rule does, as
    /// ``PortPolicy/evaluate(_:at:)`` judges a packet with no interface named.
    struct AdmissionIndex {
        /// The inbound rules without an interface, each with its merged sources per family (nil:
        /// from anywhere).
        let rules: [(rule: PortRule, v4: [IPNetwork]?, v6: [IPNetwork]?)]

        init(_ policy: PortPolicy) {
            rules = policy.rules.filter { $0.direction == .in && $0.interface == nil }.map { rule in
                rule.isFromAnywhere ? (rule, nil, nil) : (rule, rule.mergedSources(.ipv4), rule.mergedSources(.ipv6))
            }
        }

        /// The allow and the block rules (indices) that cover a port and protocol.
        func rules(_ port: UInt16, _ proto: TransportProtocol) -> (allow: [Int], block: [Int]) {
            let covering = rules.indices.filter { index in
                let rule = rules[index].rule
                return rule.proto.members.contains(proto) && rule.ports.contains { $0.first <= port && port <= $0.last }
            }
            return (covering.filter { rules[$0].rule.action == .allow }, covering.filter { rules[$0].rule.action != .allow })
        }

        func admits(_ source: IPAddress, allow: [Int], block: [Int]) -> Bool {
            func covers(_ index: Int) -> Bool {
                let entry = rules[index]
                guard let networks = source.family == .ipv4 ? entry.v4 : entry.v6 else { return true }
                return Self.contains(networks, source)
            }
            return allow.contains(where: covers) && !block.contains(where: covers)
        }

        /// Whether merged, sorted networks hold the address (binary search for the last network
        /// starting at or before it).
        static func contains(_ networks: [IPNetwork], _ address: IPAddress) -> Bool {
            var low = 0, high = networks.count
            while low < high {
                let middle = (low + high) / 2
                if networks[middle].address <= address { low = middle + 1 } else { high = middle }
            }
            return low > 0 && networks[low - 1].contains(address)
        }
    }

    /// Whether a default refused it (a rule's or a ban's refusal is meant).
    static func admittable(_ connection: DroppedConnection) -> Bool {
        [.inboundDefault, .publishedDefault].contains(connection.reason.kind)
    }
}
