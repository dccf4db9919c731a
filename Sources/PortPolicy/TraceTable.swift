/// Which packets a trace marks with `meta nftrace set 1`.
public struct TraceMarking: Sendable, Hashable {
    /// Sources to mark (none: any).
    public var sources: [IPNetwork]
    /// Original destinations to mark (none: any), matched before any DNAT.
    public var destinations: [IPNetwork]
    /// TCP destination ports (nil: TCP is not marked; empty: any port).
    public var tcpPorts: [PortRange]?
    /// UDP destination ports (nil: UDP is not marked; empty: any port).
    public var udpPorts: [PortRange]?
    /// Whether every UDP datagram is marked (`trace`), or only those that open a new connection in
    /// conntrack (`watch`: marked after conntrack, at priority -199).
    public var everyDatagram: Bool

    /// Makes a marking from its parts.
    public init(sources: [IPNetwork], destinations: [IPNetwork] = [], tcpPorts: [PortRange]?, udpPorts: [PortRange]?, everyDatagram: Bool) {
        self.sources = sources
        self.destinations = destinations
        self.tcpPorts = tcpPorts
        self.udpPorts = udpPorts
        self.everyDatagram = everyDatagram
    }

    /// `portctl trace`: TCP connection attempts (SYN without ACK) or every UDP datagram from
    /// `sources` to `port`, and to `destination` when given.
    public static func trace(from sources: [IPNetwork], port: UInt16, proto: TransportProtocol, to destination: IPNetwork?) -> TraceMarking {
        let ports = [try! PortRange(Int(port))]
        return TraceMarking(sources: sources, destinations: destination.map { [$0] } ?? [],
                            tcpPorts: proto.members.contains(.tcp) ? ports : nil,
                            udpPorts: proto.members.contains(.udp) ? ports : nil, everyDatagram: true)
    }

    /// `portctl watch`: new connections (TCP SYN without ACK, UDP `ct state new`) to `ports` (any
    /// port when empty), from `sources` (any when empty).
    public static func watch(ports: [PortSpec], from sources: [IPNetwork]) -> TraceMarking {
        if ports.isEmpty {
            return TraceMarking(sources: sources, tcpPorts: [], udpPorts: [], everyDatagram: false)
        }
        let tcp = ports.filter { $0.proto.members.contains(.tcp) }.flatMap(\.ports)
        let udp = ports.filter { $0.proto.members.contains(.udp) }.flatMap(\.ports)
        return TraceMarking(sources: sources, tcpPorts: tcp.isEmpty ? nil : PortRange.merged(tcp),
                            udpPorts: udp.isEmpty ? nil : PortRange.merged(udp), everyDatagram: false)
    }
}

/// The table a trace adds while it runs (and only then): `table inet portctl-trace-PID-START`,
/// named after the process that owns it (its id and start time), with chains that mark the
/// packets to trace at priority -350 (before conntrack, DNAT and every usual chain) and, for UDP
/// in `watch`, -199 (just after conntrack, so `ct state new` is known). The table changes no
/// verdict: its chains accept and their rules only mark.
public enum TraceTable {
    /// What every trace table's name starts with. A policy's table cannot be named so (a policy
    /// table name holds no `-`).
    public static let prefix = "portctl-trace-"
    /// The named counter every marking rule counts into: how many packets were marked (the
    /// reader compares it with the packets it saw, to say how many were lost).
    public static let markCounter = "marked"
    /// The chain that marks TCP (and, for `trace`, UDP) at priority -350.
    public static let markChain = "prerouting"
    /// The chain that marks new UDP connections for `watch`, after conntrack.
    public static let newUDPChain = "prerouting-udp"

    /// `portctl-trace-PID-START`: the owning process's id and its start time (clock ticks after
    /// boot, field 22 of `/proc/PID/stat`; 0 when unknown).
    public static func name(pid: Int32, startTime: UInt64) -> String {
        "\(prefix)\(pid)-\(startTime)"
    }

    /// The owner a trace table's name gives, or nil when the name is not a trace table's.
    public static func owner(of table: String) -> (pid: Int32, startTime: UInt64)? {
        guard table.hasPrefix(prefix) else { return nil }
        let parts = table.dropFirst(prefix.count).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let pid = Int32(parts[0]), pid > 0, let start = UInt64(parts[1]) else { return nil }
        return (pid, start)
    }

    /// The whole table, as `nft -f` reads it: one batch creates it.
    public static func text(name: String, marking: TraceMarking) -> String {
        let mark = "counter name \"\(markCounter)\" meta nftrace set 1"
        var early: [String] = []
        var afterConntrack: [String] = []
        for prefix in addressPrefixes(marking) {
            if let tcp = marking.tcpPorts {
                early.append(prefix + (tcp.isEmpty ? "" : "tcp dport \(portText(tcp)) ") + "tcp flags & (fin | syn | rst | ack) == syn \(mark)")
            }
            if let udp = marking.udpPorts {
                let match = prefix + (udp.isEmpty ? "meta l4proto udp " : "udp dport \(portText(udp)) ")
                if marking.everyDatagram {
                    early.append(match + mark)
                } else {
                    afterConntrack.append(match + "ct state new " + mark)
                }
            }
        }
        var text = "table inet \(name) {\n\tcounter \(markCounter) {\n\t}\n"
        text += "\tchain \(markChain) {\n\t\ttype filter hook prerouting priority -350; policy accept;\n"
        text += early.map { "\t\t\($0)\n" }.joined() + "\t}\n"
        if !afterConntrack.isEmpty {
            text += "\tchain \(newUDPChain) {\n\t\ttype filter hook prerouting priority -199; policy accept;\n"
            text += afterConntrack.map { "\t\t\($0)\n" }.joined() + "\t}\n"
        }
        return text + "}\n"
    }

    /// One match prefix per address family the marking names (`ip saddr ... ip daddr ... `), or
    /// one empty prefix when it names no address.
    static func addressPrefixes(_ marking: TraceMarking) -> [String] {
        let families = Set((marking.sources + marking.destinations).map(\.family))
        if families.isEmpty { return [""] }
        return IPFamily.allCases.compactMap { family -> String? in
            guard families.contains(family) else { return nil }
            let keyword = family == .ipv4 ? "ip" : "ip6"
            let sources = marking.sources.filter { $0.family == family }
            let destinations = marking.destinations.filter { $0.family == family }
            // A family named on one side but not the other has nothing to mark.
            if !marking.sources.isEmpty && sources.isEmpty { return nil }
            if !marking.destinations.isEmpty && destinations.isEmpty { return nil }
            var prefix = ""
            if !sources.isEmpty { prefix += "\(keyword) saddr \(setText(sources)) " }
            if !destinations.isEmpty { prefix += "\(keyword) daddr \(setText(destinations)) " }
            return prefix
        }
    }

    static func setText(_ networks: [IPNetwork]) -> String {
        let merged = IPNetwork.merged(networks)
        return merged.count == 1 ? merged[0].description : "{ " + merged.map(\.description).joined(separator: ", ") + " }"
    }

    static func portText(_ ports: [PortRange]) -> String {
        let merged = PortRange.merged(ports)
        return merged.count == 1 ? merged[0].description : "{ " + merged.map(\.description).joined(separator: ", ") + " }"
    }
}

/// What `explain` says against what the kernel did with one packet.
public struct TraceComparison: Sendable, Hashable, Codable {
    /// Whether the packet was one explain judges: the first packet of a connection (a packet of an
    /// established connection is accepted by portctl's baseline before any rule).
    public var judged: Bool
    /// Whether the kernel's fate for the packet is the one explain gives (and, where portctl's
    /// table decided, by the same rule or default).
    public var agrees: Bool
    /// What explain says: `accept by allow-tcp-26`.
    public var explain: String
    /// What the kernel did: `dropped by table ip other, chain in`.
    public var kernel: String
    /// One line: `explain: accept by allow-tcp-26; kernel: dropped by table ip other, chain in`.
    public var message: String

    /// A packet explain does not judge, and why (`message`).
    public init(notJudged message: String, outcome: TraceOutcome) {
        judged = false
        agrees = true
        explain = message
        kernel = outcome.sentence
        self.message = message
    }

    /// Compares the policy's explanation of a packet (`banned` when a ban in the state folder
    /// covers its source) with the kernel's outcome for it.
    public init(explanation: Explanation, banned: Bool, outcome: TraceOutcome) {
        self.init(verdict: explanation.verdict, rule: explanation.rule, banned: banned,
                  baseline: explanation.rule == nil && explanation.message.contains("(baseline"), outcome: outcome)
    }

    /// Compares what the policy decides for a packet (`rule`: the deciding rule's id, nil for the
    /// default or, with `baseline`, the baseline; `banned`: a ban covers its source) with the
    /// kernel's outcome for it.
    public init(verdict: Decision.Verdict, rule: String?, banned: Bool, baseline: Bool = false, outcome: TraceOutcome) {
        let explained: String
        if banned {
            explained = "drop (banned)"
        } else if let rule {
            explained = "\(verdict.rawValue) by \(rule)"
        } else if baseline {
            explained = "\(verdict.rawValue) by the baseline (loopback)"
        } else {
            explained = "\(verdict.rawValue) by the default"
        }
        explain = explained
        kernel = outcome.sentence
        let hop = outcome.decidedBy
        if hop?.role == "baseline", let rule = hop?.rule, rule.hasPrefix("ct state established") {
            judged = false
            agrees = true
            message = "not the first packet of a connection: \(kernel); explain judges new connections (\(explained))"
            return
        }
        judged = true
        let expected = banned ? "drop" : verdict.rawValue
        var same: Bool
        var note = ""
        if outcome.limited {
            // Over the rate limit of the rule explain names: that is what the rule does.
            same = !banned && verdict == .accept && rule == hop?.ruleID
            if same { note = " (accepted under its rate limit; this one was over it)" }
        } else if outcome.banned {
            same = banned
        } else {
            same = outcome.verdict == expected
            if same, outcome.decidedByPortctl, !banned {
                let kernelRule = hop?.role == "default" ? nil : hop?.ruleID
                if hop?.role == "rule" || hop?.role == "default" {
                    same = kernelRule == rule
                }
            } else if same, !outcome.decidedByPortctl, outcome.verdict != "accept", hop != nil {
                note = "; the verdict agrees, but \(outcome.decider) decided before portctl's rules did"
            }
        }
        agrees = same
        message = same ? "explain agrees: \(explained)\(note)" : "explain: \(explained); kernel: \(kernel)"
    }
}

/// The busiest keys (sources, ports) of a stream, in bounded memory (the Space-Saving scheme):
/// at most `capacity` keys are kept; a new key when all places are taken replaces the least
/// counted one and inherits its count as a head start for ranking (never in its own counts), so
/// a key that keeps coming back stays, while a flood of one-off keys (random sources) cannot
/// push it out. A key's counts are exact from when it was last taken in.
public struct TopCounts<Key: Hashable & Sendable>: Sendable {
    /// Counts for one key.
    public struct Counts: Sendable, Hashable {
        /// Every attempt.
        public var total = 0
        /// Accepted ones.
        public var accepted = 0
        /// Dropped, rejected, limited or banned ones.
        public var refused = 0
        /// The count inherited from the key it replaced (ranking only).
        var headStart = 0

        var rank: Int { headStart + total }
    }

    /// How many keys are kept.
    public let capacity: Int
    private var counts: [Key: Counts] = [:]

    /// Keeps at most `capacity` keys.
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// How many keys are held now.
    public var count: Int { counts.count }

    /// Counts one attempt of `key`.
    public mutating func add(_ key: Key, accepted: Bool) {
        if counts[key] == nil, counts.count >= capacity, let least = counts.min(by: { $0.value.rank < $1.value.rank }) {
            counts.removeValue(forKey: least.key)
            counts[key] = Counts(headStart: least.value.rank)
        }
        counts[key, default: Counts()].total += 1
        if accepted { counts[key]!.accepted += 1 } else { counts[key]!.refused += 1 }
    }

    /// The `limit` busiest keys, busiest first.
    public func top(_ limit: Int) -> [(key: Key, counts: Counts)] {
        counts.sorted { $0.value.rank > $1.value.rank }.prefix(limit).map { ($0.key, $0.value) }
    }
}
