/// One trace event from the kernel (`NFT_MSG_TRACE`, sent on nfnetlink's `NFNLGRP_NFTRACE` group
/// for every packet marked with `meta nftrace set 1`): the packet met a rule, a chain's policy or
/// a return, in one table and chain. A packet's events share its ``id``.
///
/// Decoded from the netlink bytes by ``decode(_:)``; pure, no socket (the driver reads them).
public struct TraceEvent: Sendable, Hashable {
    /// What the packet met.
    public enum Kind: UInt32, Sendable, Hashable {
        /// Unknown (`NFT_TRACETYPE_UNSPEC`).
        case unspecified = 0
        /// The end of a base chain: its policy decided (`NFT_TRACETYPE_POLICY`).
        case policy = 1
        /// The end of a regular chain: back to the chain that jumped to it (`NFT_TRACETYPE_RETURN`).
        case `return` = 2
        /// A rule matched (`NFT_TRACETYPE_RULE`); without a rule handle, the end of the chain's rules.
        case rule = 3
    }

    /// The pseudo-id the kernel gives one packet (the same for each of its events; an id can come
    /// back for a later packet).
    public var id: UInt32
    /// What the packet met.
    public var kind: Kind
    /// The table's family: `ip`, `ip6`, `inet`, `arp`, `bridge`, `netdev`.
    public var family: String
    /// The table.
    public var table: String
    /// The chain.
    public var chain: String
    /// The rule's handle, for a rule that matched.
    public var ruleHandle: UInt64?
    /// The rule's verdict (for ``Kind/rule`` and ``Kind/return``).
    public var verdict: TraceVerdict?
    /// The chain policy's verdict (for ``Kind/policy``).
    public var policy: TraceVerdict?
    /// The packet's own family as netfilter handles it (2 IPv4, 10 IPv6), when sent.
    public var packetFamily: UInt32?
    /// The network header's bytes (sent with a chain's first event for the packet).
    public var networkHeader: [UInt8]?
    /// The transport header's bytes (at most 20).
    public var transportHeader: [UInt8]?
    /// The interface index the packet came in on.
    public var inInterface: UInt32?
    /// The interface index it goes out on.
    public var outInterface: UInt32?
    /// The packet mark.
    public var mark: UInt32?
    /// The connection's state bits (`ct state`: 1 invalid, 2 established, 4 related, 8 new,
    /// 64 untracked), sent by kernels from 6.8 on.
    public var connectionState: UInt32?

    /// Makes an event from its parts.
    public init(id: UInt32, kind: Kind, family: String, table: String, chain: String, ruleHandle: UInt64? = nil,
                verdict: TraceVerdict? = nil, policy: TraceVerdict? = nil, packetFamily: UInt32? = nil,
                networkHeader: [UInt8]? = nil, transportHeader: [UInt8]? = nil, inInterface: UInt32? = nil,
                outInterface: UInt32? = nil, mark: UInt32? = nil, connectionState: UInt32? = nil) {
        self.id = id
        self.kind = kind
        self.family = family
        self.table = table
        self.chain = chain
        self.ruleHandle = ruleHandle
        self.verdict = verdict
        self.policy = policy
        self.packetFamily = packetFamily
        self.networkHeader = networkHeader
        self.transportHeader = transportHeader
        self.inInterface = inInterface
        self.outInterface = outInterface
        self.mark = mark
        self.connectionState = connectionState
    }

    /// The verdict this event reports: the rule's, or the policy's.
    public var outcome: TraceVerdict? { kind == .policy ? policy : verdict }

    /// `ip other`, `inet portctl`.
    public var tableName: String { "\(family) \(table)" }

    /// Whether this is the kernel's note that the chain's rules ran out (a rule event without a
    /// handle that continues): nothing matched there, `nft monitor trace` prints nothing for it.
    public var isEndOfRules: Bool { kind == .rule && ruleHandle == nil && verdict == .continue }
}

/// A verdict as the kernel reports it in a trace (`NFTA_VERDICT_CODE`, with the chain of a jump).
public enum TraceVerdict: Sendable, Hashable, CustomStringConvertible {
    /// `NF_ACCEPT`.
    case accept
    /// `NF_DROP` (a `reject` is a drop after the reply is sent).
    case drop
    /// `NF_STOLEN`: the kernel took the packet over.
    case stolen
    /// `NF_QUEUE`: handed to a user-space queue.
    case queue
    /// `NF_REPEAT`.
    case `repeat`
    /// `NFT_CONTINUE`: on to the next rule.
    case `continue`
    /// `NFT_BREAK`.
    case `break`
    /// `NFT_JUMP` to a chain.
    case jump(String)
    /// `NFT_GOTO` a chain.
    case goto(String)
    /// `NFT_RETURN`.
    case `return`
    /// A code this reader does not know.
    case other(Int32)

    /// Reads a verdict code (the queue number and errno bits of the upper 16 bits dropped for
    /// accept/drop/queue) and the jump's chain.
    public init(code: Int32, chain: String?) {
        switch code {
        case -1: self = .continue
        case -2: self = .break
        case -3: self = .jump(chain ?? "?")
        case -4: self = .goto(chain ?? "?")
        case -5: self = .return
        default:
            switch code & 0xff {
            case 0: self = .drop
            case 1: self = .accept
            case 2: self = .stolen
            case 3: self = .queue
            case 4: self = .repeat
            default: self = .other(code)
            }
        }
    }

    /// Whether the packet's journey ends here (it does not go on to another chain or hook).
    public var isFinal: Bool {
        switch self {
        case .drop, .stolen, .queue: true
        default: false
        }
    }

    /// nft's word for it: `accept`, `drop`, `jump CHAIN`, ...
    public var description: String {
        switch self {
        case .accept: "accept"
        case .drop: "drop"
        case .stolen: "stolen"
        case .queue: "queue"
        case .repeat: "repeat"
        case .continue: "continue"
        case .break: "break"
        case let .jump(chain): "jump \(chain)"
        case let .goto(chain): "goto \(chain)"
        case .return: "return"
        case let .other(code): "verdict \(code)"
        }
    }
}

/// The netlink bytes could not be read as trace events (a length that runs past the end).
public struct TraceDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong, and where.
    public var reason: String

    /// One line.
    public var description: String { "cannot read a trace message from the kernel: \(reason)" }
}

extension TraceDecodingError: PortctlError {
    /// Bytes the kernel sent that do not read: a runtime failure.
    public var category: ErrorCategory { .runtime }
}

extension TraceEvent {
    /// nfnetlink's subsystem for nf_tables (`NFNL_SUBSYS_NFTABLES`) and its trace message
    /// (`NFT_MSG_TRACE`): the netlink message type is `10 << 8 | 17`.
    public static let messageType: UInt16 = 10 << 8 | 17
    /// The multicast group that carries trace events (`NFNLGRP_NFTRACE`).
    public static let multicastGroup: Int32 = 9

    /// Decodes the trace events in one buffer read from a netfilter netlink socket: any number of
    /// netlink messages; messages of other types are skipped. Never traps: a length that runs
    /// past the end throws ``TraceDecodingError``.
    public static func decode(_ bytes: [UInt8]) throws(TraceDecodingError) -> [TraceEvent] {
        var events: [TraceEvent] = []
        let malformed = try Netlink.forEachMessage(bytes) { (type, start, end) throws(TraceDecodingError) in
            if type == messageType, end - start >= 4 {
                events.append(try decodeMessage(bytes, from: start, to: end))
            }
        }
        if let malformed {
            throw TraceDecodingError(reason: "a netlink message of \(bytes.host32(at: malformed)) bytes at offset \(malformed) in \(bytes.count)")
        }
        return events
    }

    /// One `NFT_MSG_TRACE` message's payload: nfgenmsg (family, version, resource id), then
    /// attributes.
    static func decodeMessage(_ bytes: [UInt8], from start: Int, to end: Int) throws(TraceDecodingError) -> TraceEvent {
        var event = TraceEvent(id: 0, kind: .unspecified, family: familyName(bytes[start]), table: "", chain: "")
        var verdictCode: Int32?
        var verdictChain: String?
        var policyCode: UInt32?
        try forEachAttribute(bytes, from: start + 4, to: end) { (type, from, to) throws(TraceDecodingError) in
            switch type {
            case 1: event.table = bytes.string(from: from, to: to)
            case 2: event.chain = bytes.string(from: from, to: to)
            case 3: if to - from >= 8 { event.ruleHandle = bytes.bigEndian64(at: from) }
            case 4: if to - from >= 4 { event.kind = Kind(rawValue: bytes.bigEndian32(at: from)) ?? .unspecified }
            case 5:
                try forEachAttribute(bytes, from: from, to: to) { (inner, innerFrom, innerTo) throws(TraceDecodingError) in
                    if inner == 1, innerTo - innerFrom >= 4 { verdictCode = Int32(bitPattern: bytes.bigEndian32(at: innerFrom)) }
                    if inner == 2 { verdictChain = bytes.string(from: innerFrom, to: innerTo) }
                }
            case 6: if to - from >= 4 { event.id = bytes.bigEndian32(at: from) }
            case 8: event.networkHeader = Array(bytes[from..<to])
            case 9: event.transportHeader = Array(bytes[from..<to])
            case 10: if to - from >= 4 { event.inInterface = bytes.bigEndian32(at: from) }
            case 12: if to - from >= 4 { event.outInterface = bytes.bigEndian32(at: from) }
            case 14: if to - from >= 4 { event.mark = bytes.bigEndian32(at: from) }
            case 15: if to - from >= 4 { event.packetFamily = bytes.bigEndian32(at: from) }
            case 16: if to - from >= 4 { policyCode = bytes.bigEndian32(at: from) }
            case 21: if to - from >= 4 { event.connectionState = bytes.bigEndian32(at: from) }
            default: break
            }
        }
        if let verdictCode { event.verdict = TraceVerdict(code: verdictCode, chain: verdictChain) }
        if let policyCode { event.policy = TraceVerdict(code: Int32(bitPattern: policyCode), chain: nil) }
        return event
    }

    /// Calls `body` with each netlink attribute's type (flags cleared) and value range; an
    /// attribute that runs past `end` is an error.
    static func forEachAttribute(_ bytes: [UInt8], from start: Int, to end: Int,
                                 _ body: (UInt16, Int, Int) throws(TraceDecodingError) -> Void) throws(TraceDecodingError) {
        if let malformed = try Netlink.forEachAttribute(bytes, from: start, to: end, body) {
            throw TraceDecodingError(reason: "an attribute of \(bytes.host16(at: malformed)) bytes at offset \(malformed) runs past its message's end at \(end)")
        }
    }

    /// nfgenmsg's family byte as nft names it.
    static func familyName(_ value: UInt8) -> String {
        switch value {
        case 1: "inet"
        case 2: "ip"
        case 3: "arp"
        case 5: "netdev"
        case 7: "bridge"
        case 10: "ip6"
        default: "family\(value)"
        }
    }
}

/// What a trace says about the packet itself, read from the headers the kernel sent.
public struct PacketHeaders: Sendable, Hashable {
    /// The source address.
    public var source: IPAddress
    /// The destination address.
    public var destination: IPAddress
    /// The IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    public var protocolNumber: UInt8
    /// The source port (TCP and UDP).
    public var sourcePort: UInt16?
    /// The destination port (TCP and UDP).
    public var destinationPort: UInt16?
    /// The TCP flags byte (FIN 1, SYN 2, RST 4, PSH 8, ACK 16).
    public var tcpFlags: UInt8?

    /// Reads an IPv4 or IPv6 header and the transport header after it; nil when the bytes are not
    /// one.
    public init?(network: [UInt8], transport: [UInt8]?) {
        guard let first = network.first else { return nil }
        switch first >> 4 {
        case 4:
            guard network.count >= 20 else { return nil }
            protocolNumber = network[9]
            source = IPAddress(family: .ipv4, bits: UInt128(network.bigEndian32(at: 12)))!
            destination = IPAddress(family: .ipv4, bits: UInt128(network.bigEndian32(at: 16)))!
        case 6:
            guard network.count >= 40 else { return nil }
            protocolNumber = network[6]
            source = IPAddress(family: .ipv6, bits: network.bigEndian128(at: 8))!
            destination = IPAddress(family: .ipv6, bits: network.bigEndian128(at: 24))!
        default:
            return nil
        }
        if let transport, transport.count >= 4, protocolNumber == 6 || protocolNumber == 17 {
            sourcePort = transport.bigEndian16(at: 0)
            destinationPort = transport.bigEndian16(at: 2)
            if protocolNumber == 6, transport.count >= 14 { tcpFlags = transport[13] }
        }
    }

    /// `tcp`, `udp`, `icmp`, `icmpv6`, or the number.
    public var protocolName: String {
        switch protocolNumber {
        case 6: "tcp"
        case 17: "udp"
        case 1: "icmp"
        case 58: "icmpv6"
        default: "protocol \(protocolNumber)"
        }
    }

    /// The TCP flags as nft writes them (`syn`, `syn,ack`), or nil for other protocols.
    public var tcpFlagNames: String? {
        guard let tcpFlags else { return nil }
        let names = [(1, "fin"), (2, "syn"), (4, "rst"), (8, "psh"), (16, "ack"), (32, "urg"), (64, "ecn"), (128, "cwr")]
        let set = names.filter { tcpFlags & UInt8($0.0) != 0 }.map(\.1)
        return set.isEmpty ? "none" : set.joined(separator: ",")
    }
}
