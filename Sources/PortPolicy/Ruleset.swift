/// One nftables table, as a value: what portctl renders and what it reads back from the kernel,
/// normalized so that the two compare equal exactly when the kernel does what the policy says.
///
/// Counter values and handles are not part of it; set elements are merged and sorted; one rule
/// is a list of ``Statement``s, the same whether it came from rendering or from a listing.
public struct Table: Sendable, Hashable {
    /// The table name (the family is always `inet`).
    public var name: String
    /// The named counters, in definition order.
    public var counters: [String]
    /// The address sets, in definition order.
    public var sets: [AddressSet]
    /// The chains, in definition order.
    public var chains: [Chain]
    /// Anything in a listed table portctl never renders (maps, quotas, other sets...).
    public var unknownObjects: [UnknownObject]
    /// The table's flags (`NFT_TABLE_F_*`); portctl renders none. Bit 0, `dormant`, switches the
    /// whole table off: its chains see no packets.
    public var flags: UInt32

    /// The `dormant` table flag.
    public static let dormantFlag: UInt32 = 1

    /// Makes a table.
    public init(name: String, counters: [String] = [], sets: [AddressSet] = [], chains: [Chain] = [],
                unknownObjects: [UnknownObject] = [], flags: UInt32 = 0) {
        self.name = name
        self.counters = counters
        self.sets = sets
        self.chains = chains
        self.unknownObjects = unknownObjects
        self.flags = flags
    }

    /// Whether every name in the table (chains, sets, counters, other objects) is one that can be
    /// written back into an nft command as it is. A table holding an object someone named
    /// `"x\ndelete table inet other"` is rewritten whole, never edited by name.
    public var namesAreSafe: Bool {
        (chains.map(\.name) + sets.map(\.name) + counters + unknownObjects.map(\.name)).allSatisfy(Self.isSafeName)
    }

    /// A name nft reads back as the same one name in a `delete` command: ``isPlainName(_:)``, and
    /// no keyword.
    public static func isSafeName(_ name: String) -> Bool {
        isPlainName(name) && !NftKeywords.words.contains(name)
    }

    /// A letter or `_`, then letters, digits, `_`, `.`, `-`: a name that cannot carry anything
    /// else into a command (at worst nft refuses it as a keyword).
    public static func isPlainName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.utf8.count <= 64,
              first.isASCII, first.properties.isAlphabetic || first == "_" else { return false }
        return name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.-".unicodeScalars.contains($0))
        }
    }

    /// Whether the table is switched off (`flags dormant`): it filters nothing.
    public var isDormant: Bool { flags & Self.dormantFlag != 0 }

    /// Whether portctl made this table. Every table portctl renders holds the named counter
    /// ``Renderer/inboundDefaultCounter``; portctl changes or deletes no table without it.
    public var isPortctls: Bool { counters.contains(Renderer.inboundDefaultCounter) }

    /// The chain with this name.
    public func chain(_ name: String) -> Chain? { chains.first { $0.name == name } }

    /// The set with this name.
    public func set(_ name: String) -> AddressSet? { sets.first { $0.name == name } }

    /// A SHA-256 fingerprint of the table's content that ignores what the kernel may reorder
    /// (counters and sets) and what changes by itself (counter values, expiry countdowns):
    /// equal fingerprints mean equal tables, whether rendered or read back.
    public var fingerprint: String {
        var text = "table \(name)\n"
        if flags != 0 { text += "flags \(flags)\n" }
        for counter in counters.sorted() { text += "counter \(counter)\n" }
        for set in sets.sorted(by: { $0.name < $1.name }) {
            text += "set \(set.name) \(set.typeName) \(set.kind)\(set.countsElements ? " counter" : "") \(AddressSet.elementList(set.elements, separator: ","))\n"
        }
        for chain in chains.sorted(by: { $0.name < $1.name }) { text += chain.text }
        for object in unknownObjects { text += object.json + "\n" }
        return "sha256:" + SHA256.hex(Array(text.utf8))
    }

    /// Whether any set counts down to an expiry (such a table is never taken from a cache).
    ///
    /// The ban sets do not count: their elements are state, which no fingerprint covers.
    public var hasTimedSets: Bool { sets.contains { $0.kind == .timed && !Renderer.isBanSet($0.name) } }

    /// The table as an nftables script (`table inet NAME { ... }`).
    public var text: String {
        var out = "table inet \(name) {\n"
        for counter in counters { out += "\tcounter \(counter) {\n\t}\n\n" }
        for set in sets { out += set.text + "\n" }
        for (index, chain) in chains.enumerated() {
            if index > 0 { out += "\n" }
            out += chain.text
        }
        return out + "}\n"
    }
}

/// An object in a listed table that portctl does not render: found only in drift.
public struct UnknownObject: Sendable, Hashable {
    /// The listing's object kind (`set`, `map`, `quota`, `flowtable`, ...).
    public var kind: String
    /// Its name.
    public var name: String
    /// Its listing, as stable JSON (handles removed).
    public var json: String

    /// Makes an unknown object.
    public init(kind: String, name: String, json: String) {
        self.kind = kind
        self.name = name
        self.json = json
    }

    /// Whether `delete KIND inet TABLE NAME` removes it (once nothing references it).
    public var isDeletable: Bool {
        ["set", "map", "counter", "quota", "limit", "flowtable", "secmark", "synproxy"].contains(kind)
    }
}

/// A named set of IPv4 or IPv6 addresses.
public struct AddressSet: Sendable, Hashable {
    /// What the set is for.
    public enum Kind: Sendable, Hashable {
        /// An interval set of networks (a rule's sources).
        case interval
        /// An interval set whose elements time out (a time-boxed rule's sources).
        case timed
        /// A plain set of single addresses whose elements time out one by one (bans): adding one
        /// element costs the same whatever the set holds, unlike an interval set.
        case hosts
        /// A dynamic set the packet path fills, one entry per source address, each with its own
        /// rate-limit state (a rule's `limit`). Its elements are never compared.
        case meter(timeout: Int, size: Int)
        /// A dynamic set the packet path fills with the connections portctl refused: one element
        /// per source address, protocol, destination port and ``DropReason`` code (`mark`), each
        /// with its own packet counter, dropped `timeout` seconds after its last packet. At most
        /// `size` elements. Its elements are state (`portctl drops`), never compared.
        case drops(timeout: Int, size: Int)

        /// Whether the packet path fills the set (a meter or the drop record): its elements are
        /// never part of the policy.
        public var isDynamic: Bool {
            switch self {
            case .meter, .drops: true
            case .interval, .timed, .hosts: false
            }
        }
    }

    /// The set name.
    public var name: String
    /// `ipv4_addr` or `ipv6_addr`.
    public var family: IPFamily
    /// The elements, merged and sorted (as the kernel keeps them); empty for meters.
    public var elements: [IPNetwork]
    /// The kind.
    public var kind: Kind
    /// For timed sets, seconds until the elements expire (the earliest, when read back).
    /// Not part of equality: it changes every second; see ``sameAs(_:tolerance:)``.
    public var expiresIn: Int?

    /// Makes a set; the elements are merged.
    public init(name: String, family: IPFamily, elements: [IPNetwork], kind: Kind = .interval, expiresIn: Int? = nil) {
        self.name = name
        self.family = family
        self.elements = IPNetwork.merged(elements)
        self.kind = kind
        self.expiresIn = expiresIn
    }

    /// Makes a set from elements that went through ``IPNetwork/merged(_:)`` already.
    init(name: String, family: IPFamily, merged elements: [IPNetwork], kind: Kind = .interval, expiresIn: Int? = nil) {
        self.name = name
        self.family = family
        self.elements = elements
        self.kind = kind
        self.expiresIn = expiresIn
    }

    /// Whether the kernel listed some element as a range (`{"range": [...]}`) rather than a
    /// prefix or an address: such a set is replaced whole, since a piece of a range cannot be
    /// deleted on its own. Not part of equality.
    public var listsRanges = false

    /// Whether every element carries its own packet and byte counter (`counter` in the set):
    /// the ban sets do, so `portctl bans` can say how often each ban was hit.
    public var countsElements = false

    /// Equality without the expiry countdown.
    public static func == (lhs: AddressSet, rhs: AddressSet) -> Bool {
        lhs.name == rhs.name && lhs.family == rhs.family && lhs.elements == rhs.elements && lhs.kind == rhs.kind
            && lhs.countsElements == rhs.countsElements
    }

    /// Hashes what equality compares.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(family)
        hasher.combine(elements)
        hasher.combine(kind)
        hasher.combine(countsElements)
    }

    /// Equal, and for timed sets expiring within `tolerance` seconds of each other.
    public func sameAs(_ other: AddressSet, tolerance: Int = 5) -> Bool {
        guard self == other else { return false }
        guard kind == .timed, let mine = expiresIn, let theirs = other.expiresIn else { return true }
        return abs(mine - theirs) <= tolerance
    }

    /// The nftables type name.
    public var typeName: String {
        let address = family == .ipv4 ? "ipv4_addr" : "ipv6_addr"
        if case .drops = kind { return address + " . inet_proto . inet_service . mark" }
        return address
    }

    /// The set's body, as `;`-separated declarations.
    func declarations(separator: String, elementSeparator: String) -> [String] {
        switch kind {
        case let .meter(timeout, size):
            return ["type \(typeName)", "size \(size)", "flags dynamic,timeout", "timeout \(timeout)s"]
        case let .drops(timeout, size):
            return ["type \(typeName)", "size \(size)", "flags dynamic,timeout", "counter", "timeout \(timeout)s"]
        case .hosts:
            return ["type \(typeName)", "flags timeout"] + (countsElements ? ["counter"] : [])
        case .interval, .timed:
            var lines = ["type \(typeName)", kind == .timed ? "flags interval,timeout" : "flags interval"] + (countsElements ? ["counter"] : [])
            if !elements.isEmpty {
                let suffix = kind == .timed ? " timeout " + NftTimeout.text(max(1, expiresIn ?? 1)) : ""
                lines.append("elements = { " + Self.elementList(elements, suffix: suffix, separator: elementSeparator) + " }")
            }
            return lines
        }
    }

    /// The elements' texts, each followed by `suffix`, joined by `separator` (built in one
    /// string: sets hold up to 100,000 elements).
    static func elementList(_ elements: [IPNetwork], suffix: String = "", separator: String) -> String {
        var out = ""
        out.reserveCapacity(elements.count * (16 + suffix.utf8.count + separator.utf8.count))
        for (index, element) in elements.enumerated() {
            if index > 0 { out += separator }
            out += element.description
            out += suffix
        }
        return out
    }

    /// The set definition, as it appears inside a table block.
    public var text: String {
        "\tset \(name) {\n" + declarations(separator: "\n", elementSeparator: ",\n\t\t\t     ").map { "\t\t\($0)\n" }.joined() + "\t}\n"
    }

    /// A standalone `add set` command with the elements.
    public func addCommand(table: String) -> String {
        "add set inet \(table) \(name) { " + declarations(separator: "; ", elementSeparator: ", ").map { $0 + "; " }.joined() + "}\n"
    }
}

/// A chain. portctl's chains are base chains of type `filter`.
public struct Chain: Sendable, Hashable {
    /// The chain name.
    public var name: String
    /// The hook (`input`, `output`), or nil for a regular chain.
    public var hook: String?
    /// The chain type (`filter`).
    public var type: String?
    /// The priority.
    public var priority: Int
    /// The policy (`accept` or `drop`).
    public var policy: String?
    /// The rules, in order.
    public var rules: [Rule]

    /// Makes a chain.
    public init(name: String, hook: String?, type: String? = "filter", priority: Int = 0, policy: String?, rules: [Rule] = []) {
        self.name = name
        self.hook = hook
        self.type = type
        self.priority = priority
        self.policy = policy
        self.rules = rules
    }

    /// The `type ... hook ... priority ...; policy ...;` line, or nil for a regular chain.
    public var header: String? {
        guard let hook, let type else { return nil }
        let priorityText = priority == 0 ? "filter" : "\(priority)"
        return "type \(type) hook \(hook) priority \(priorityText); policy \(policy ?? "accept");"
    }

    /// The chain definition, as it appears inside a table block.
    public var text: String {
        var out = "\tchain \(name) {\n"
        if let header { out += "\t\t\(header)\n" }
        for rule in rules { out += "\t\t\(rule.text)\n" }
        return out + "\t}\n"
    }
}

/// One rule: statements in order and an optional comment.
public struct Rule: Sendable, Hashable {
    /// The statements.
    public var statements: [Statement]
    /// The comment (portctl puts the rule id there).
    public var comment: String?

    /// Makes a rule.
    public init(_ statements: [Statement], comment: String? = nil) {
        self.statements = statements
        self.comment = comment
    }

    /// The policy rule id this rule belongs to, read from its comment (`ID` or `ID: note`).
    public var ruleID: String? {
        guard let comment else { return nil }
        let id = comment.split(separator: ":", maxSplits: 1).first.map(String.init) ?? comment
        return id.isEmpty ? nil : id
    }

    /// The rule in nftables syntax.
    public var text: String {
        var parts = statements.map(\.text)
        if let comment { parts.append("comment \"\(comment)\"") }
        return parts.joined(separator: " ")
    }
}

/// The left side of a match, what is inspected: one of nft's expressions (payload, meta, ct, fib).
/// (Not `Expression`: Foundation has one since macOS 15, and an embedder importing both could
/// not name either.)
public enum NftExpression: Sendable, Hashable {
    /// `meta KEY` (`iifname`, `oifname`, `l4proto`).
    case meta(String)
    /// `ct KEY` (`state`, `status`).
    case ct(String)
    /// `ct original KEY` (`proto-dst`: a DNATed connection's destination port before the DNAT).
    case ctOriginal(String)
    /// `fib daddr type`: what kind of address the destination is here (`local`: one of this host's).
    case fibDestinationType
    /// `PROTOCOL FIELD` (`ip saddr`, `tcp dport`, `icmp type`).
    case payload(String, String)

    /// nftables syntax (`meta l4proto` is written `meta l4proto`; interface names bare).
    public var text: String {
        switch self {
        case let .meta(key): ["iifname", "oifname"].contains(key) ? key : "meta \(key)"
        case let .ct(key): "ct \(key)"
        case let .ctOriginal(key): "ct original \(key)"
        case .fibDestinationType: "fib daddr type"
        case let .payload(proto, field): "\(proto) \(field)"
        }
    }
}

/// The right side of a match.
public indirect enum Value: Sendable, Hashable {
    /// A word or a quoted string, by context.
    case string(String)
    /// A number.
    case number(Int)
    /// An inclusive range of numbers.
    case range(Int, Int)
    /// An anonymous set of values.
    case set([Value])
    /// A list of flags (`established,related`).
    case flags([String])

    func text(quoted: Bool) -> String {
        switch self {
        case let .string(text): quoted ? "\"\(text)\"" : text
        case let .number(number): "\(number)"
        case let .range(low, high): "\(low)-\(high)"
        case let .set(values): "{ " + values.map { $0.text(quoted: quoted) }.joined(separator: ", ") + " }"
        case let .flags(flags): flags.joined(separator: ",")
        }
    }
}

/// One element of a ``Statement/dispatch(_:)`` map.
public struct DispatchEntry: Sendable, Hashable, Comparable {
    /// `tcp` or `udp`.
    public var proto: String
    /// The ports.
    public var ports: PortRange
    /// The chain to jump to.
    public var chain: String

    /// Makes an entry.
    public init(proto: String, ports: PortRange, chain: String) {
        self.proto = proto
        self.ports = ports
        self.chain = chain
    }

    /// The kernel's order: protocol number, then port.
    public static func < (lhs: DispatchEntry, rhs: DispatchEntry) -> Bool {
        let order = ["tcp": 6, "udp": 17]
        return (order[lhs.proto] ?? 255, lhs.ports.first, lhs.ports.last) < (order[rhs.proto] ?? 255, rhs.ports.first, rhs.ports.last)
    }
}

/// What a rule does with a packet at its end.
public enum Verdict: Sendable, Hashable {
    /// `accept`.
    case accept
    /// `drop`.
    case drop
    /// `reject with tcp reset`.
    case rejectTCPReset
    /// `reject with icmpx TYPE`.
    case rejectICMPX(String)

    /// nftables syntax.
    public var text: String {
        switch self {
        case .accept: "accept"
        case .drop: "drop"
        case .rejectTCPReset: "reject with tcp reset"
        case let .rejectICMPX(type): "reject with icmpx \(type)"
        }
    }
}

/// One statement of a rule.
public enum Statement: Sendable, Hashable {
    /// `LEFT [OP] RIGHT`; `op` is `==` (written as nothing), `in`, or another nftables operator.
    case match(NftExpression, op: String, Value)
    /// `counter name "NAME"`.
    case counter(String)
    /// An anonymous `counter`.
    case anonymousCounter
    /// `limit rate N/PER burst B packets`.
    case limit(rate: Int, per: String, burst: Int)
    /// A verdict.
    case verdict(Verdict)
    /// `update @SET { KEY limit rate over N/PER burst B packets }`: true when the packet's key
    /// (its source address) is over its own rate.
    case overRate(set: String, key: NftExpression, rate: Int, per: String, burst: Int)
    /// `update @SET { ip saddr . meta l4proto . ct original proto-dst . REASON }` (`ip6 saddr`
    /// for IPv6): records the connection in the drop record with the code of what refuses it.
    /// The original destination port is the one the client asked for, also when a DNAT (a
    /// published port) changed it.
    case record(set: String, family: IPFamily, reason: UInt32)
    /// `log prefix "PREFIX" level LEVEL`.
    case log(prefix: String, level: String)
    /// `jump CHAIN`.
    case jump(String)
    /// `goto CHAIN`: the chain's verdict is final; without one, the base chain's policy applies.
    case goto(String)
    /// `dnat ip to ADDR[:PORT]` (`ip6`, `[ADDR]:PORT` for IPv6): a port forward.
    case dnat(family: String, address: String, port: Int?)
    /// `masquerade`: rewrite the source to this host's address on the way out.
    case masquerade
    /// `meta l4proto . th dport vmap { tcp . 26 : jump CHAIN, ... }`: one lookup dispatches a
    /// packet to the chain for its protocol and port. Entries are kept sorted (as listed).
    case dispatch([DispatchEntry])
    /// A statement portctl never renders, as the listing's JSON (found only in drift).
    case unknown(String)

    /// nftables syntax.
    public var text: String {
        switch self {
        case let .match(left, op, right):
            let quoted = left == .meta("iifname") || left == .meta("oifname")
            let opText = (op == "==" || op == "in") ? "" : op + " "
            return "\(left.text) \(opText)\(right.text(quoted: quoted))"
        case let .goto(chain): return "goto \(chain)"
        case let .dnat(family, address, port):
            guard let port else { return "dnat \(family) to \(address)" }
            return family == "ip6" ? "dnat ip6 to [\(address)]:\(port)" : "dnat \(family) to \(address):\(port)"
        case .masquerade: return "masquerade"
        case let .counter(name): return "counter name \"\(name)\""
        case .anonymousCounter: return "counter"
        case let .limit(rate, per, burst): return "limit rate \(rate)/\(per) burst \(burst) packets"
        case let .verdict(verdict): return verdict.text
        case let .overRate(set, key, rate, per, burst):
            return "update @\(set) { \(key.text) limit rate over \(rate)/\(per) burst \(burst) packets }"
        case let .record(set, family, reason):
            let hex = String(reason, radix: 16)
            return "update @\(set) { \(family == .ipv4 ? "ip" : "ip6") saddr . meta l4proto . ct original proto-dst . 0x"
                + String(repeating: "0", count: 8 - hex.count) + hex + " }"
        case let .log(prefix, level): return "log prefix \"\(prefix)\" level \(level)"
        case let .jump(chain): return "jump \(chain)"
        case let .dispatch(entries):
            return "meta l4proto . th dport vmap { " + entries.map { "\($0.proto) . \($0.ports) : jump \($0.chain)" }.joined(separator: ", ") + " }"
        case let .unknown(json): return "<unknown \(json)>"
        }
    }
}
