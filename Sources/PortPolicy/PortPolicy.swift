public import Foundation

/// What a rule does with the traffic it matches.
public enum RuleAction: String, Sendable, Hashable, Codable, CaseIterable {
    /// Accept the traffic.
    case allow
    /// Drop it silently (clients see "filtered").
    case deny
    /// Refuse it: a TCP reset for TCP, ICMP port-unreachable for UDP (clients see "closed").
    case reject
}

/// Which way the traffic flows, seen from this host.
public enum Direction: String, Sendable, Hashable, Codable, CaseIterable {
    /// Inbound: the rule matches the source address and the local destination port.
    case `in`
    /// Outbound: the rule matches the remote destination address and port.
    case out
}

/// What happens to inbound traffic that no rule matches.
public enum InboundDefault: String, Sendable, Hashable, Codable, CaseIterable {
    /// Drop silently (the default).
    case drop
    /// Refuse with a TCP reset or ICMP unreachable.
    case reject
    /// Accept: only deny and reject rules then have an effect.
    case accept
}

/// What happens to outbound traffic that no rule matches.
public enum OutboundDefault: String, Sendable, Hashable, Codable, CaseIterable {
    /// Accept (the default).
    case accept
    /// Drop.
    case drop
}

/// What happens to connections to this host that the host DNATs elsewhere (Docker's, Podman's
/// or libvirt's published ports, anyone's DNAT): they never reach the input hook.
public enum PublishedDefault: String, Sendable, Hashable, Codable, CaseIterable {
    /// The inbound rules and default govern them, as for a local listener (the default).
    case filter
    /// Left to whoever published them; portctl only reports them.
    case accept
}

/// A per-source rate limit on new connections: `6/minute` lets each source address open six new
/// connections a minute (after a burst of as many); the rest are dropped.
public struct RateLimit: Sendable, Hashable, CustomStringConvertible {
    /// The time units nftables accepts.
    public enum Unit: String, Sendable, Hashable, CaseIterable {
        /// Per second.
        case second
        /// Per minute.
        case minute
        /// Per hour.
        case hour
        /// Per day.
        case day

        /// The unit's length in seconds.
        public var seconds: Int {
            switch self {
            case .second: 1
            case .minute: 60
            case .hour: 3600
            case .day: 86400
            }
        }
    }

    /// New connections allowed per unit, per source address.
    public var count: Int
    /// The unit.
    public var unit: Unit

    /// Makes a limit; `count` runs from 1 to 1,000,000.
    public init(count: Int, per unit: Unit) throws(PolicyError) {
        guard (1...1_000_000).contains(count) else {
            throw .invalidValue("\(count)/\(unit.rawValue)", field: "rate limit", allowed: ["1 to 1000000 connections per second, minute, hour or day"])
        }
        self.count = count
        self.unit = unit
    }

    /// Parses `6/minute` (also `6/min`, `6/m`, `10/s`, `100/hour`, `1000/day`).
    public init(parsing text: String) throws(PolicyError) {
        let parts = text.lowercased().split(separator: "/", omittingEmptySubsequences: false)
        let units: [String: Unit] = ["second": .second, "sec": .second, "s": .second, "minute": .minute, "min": .minute, "m": .minute,
                                     "hour": .hour, "h": .hour, "day": .day, "d": .day]
        guard parts.count == 2, parts[0].count <= 7, parts[0].allSatisfy({ $0.isASCII && $0.isNumber }),
              let count = Int(parts[0]), let unit = units[String(parts[1])] else {
            throw .invalidValue(text, field: "rate limit", allowed: ["COUNT/UNIT like 6/minute, 10/second, 100/hour or 1000/day"])
        }
        try self.init(count: count, per: unit)
    }

    /// `6/minute`.
    public var description: String { "\(count)/\(unit.rawValue)" }
}

/// A file a rule reads addresses from: one address or CIDR per line, `#` comments.
public struct SourceFile: Sendable, Hashable {
    /// The file's absolute path, as the policy names it (after `@`).
    public var path: String
    /// The addresses read from it, or nil while it has not been read: such a rule does not
    /// validate (it would otherwise look like a rule for any source).
    public var networks: [IPNetwork]?

    /// Names a file, read or not yet.
    public init(path: String, networks: [IPNetwork]? = nil) {
        self.path = path
        self.networks = networks
    }
}

/// One rule of a policy: which ports, from whom, and what to do.
public struct PortRule: Sendable, Hashable {
    /// The stable id; it names the rule's nftables counter and sets and is its nftables comment.
    public var id: String
    /// The ports, as single ports and ranges.
    public var ports: [PortRange]
    /// The transport protocol.
    public var proto: TransportProtocol
    /// Inbound or outbound.
    public var direction: Direction
    /// Allow, deny or reject.
    public var action: RuleAction
    /// The remote addresses the rule applies to: sources for inbound rules, destinations for
    /// outbound ones. Empty means any address.
    public var sources: [IPNetwork]
    /// The interface the traffic must use (`iifname` inbound, `oifname` outbound), if any.
    public var interface: String?
    /// A free-text note for people; it is shown in listings and in the nftables comment.
    public var comment: String?
    /// A per-source rate limit on new connections (allow rules only).
    public var limit: RateLimit?
    /// When the rule stops applying, for time-boxed openings; the kernel forgets it by itself
    /// (set element timeouts) and later applies do not bring it back.
    public var expires: Date?
    /// Whether matches are logged (rate-limited) with a `portctl` prefix.
    public var log: Bool = false
    /// Files the rule's addresses are also read from (`@PATH` in `from:`), in order. Their
    /// contents are part of ``sources`` once read (``resolveSourceFiles(_:)``); the policy file
    /// keeps only the paths.
    public var sourceFiles: [SourceFile] = []
    /// For a rule that reads files: the addresses written in the policy itself (``sources`` is
    /// these followed by every file's). Unused otherwise.
    public var inlineSources: [IPNetwork] = []

    /// Makes a rule; call ``PortPolicy/validate()`` (or ``validate()``) before using it.
    public init(id: String, ports: [PortRange], proto: TransportProtocol = .tcp,
                direction: Direction = .in, action: RuleAction = .allow,
                sources: [IPNetwork] = [], interface: String? = nil, comment: String? = nil) {
        self.id = id
        self.ports = ports
        self.proto = proto
        self.direction = direction
        self.action = action
        self.sources = sources
        self.interface = interface
        self.comment = comment
    }

    /// Reads the rule's source files with `read` and makes ``sources`` the inline addresses
    /// followed by theirs. Errors name the file.
    public mutating func resolveSourceFiles(_ read: (String) throws(PolicyError) -> [IPNetwork]) throws(PolicyError) {
        guard !sourceFiles.isEmpty else { return }
        for index in sourceFiles.indices { sourceFiles[index].networks = try read(sourceFiles[index].path) }
        recomputeSources()
    }

    /// ``sources`` from ``inlineSources`` and the files read.
    mutating func recomputeSources() {
        guard !sourceFiles.isEmpty else { return }
        sources = inlineSources + sourceFiles.flatMap { $0.networks ?? [] }
    }

    /// Its addresses for people: `any`, up to five and how many more, or for a rule whose
    /// address files are empty, `no one`. Addresses that cover a whole family say so:
    /// `0.0.0.0/0, ::/0 (every address)`.
    public var addressesDescription: String {
        if readsFiles && sources.isEmpty {
            return "no one (its address files are empty: " + sourceFiles.map { "@" + $0.path }.joined(separator: ", ") + ")"
        }
        let list = Planner.addressList(IPNetwork.merged(sources))
        guard !isFromAnywhere, let whole = wholeFamiliesDescription else { return list }
        return list + " (" + whole + ")"
    }

    /// Its addresses in a table cell (`status`): `any`, up to two and how many more
    /// (`198.51.100.0/24, 2001:db8::/32 +3`), and for a rule that reads files, each file with what
    /// it holds: `@/etc/portctl/relays.txt (3 addresses: 198.51.100.10, 198.51.100.11, ...)`.
    public var addressesCell: String {
        if isFromAnywhere { return "any" }
        func some(_ list: [IPNetwork], more: (Int) -> String) -> String {
            list.prefix(2).map(\.description).joined(separator: ", ") + (list.count > 2 ? more(list.count - 2) : "")
        }
        var parts: [String] = []
        let inline = readsFiles ? inlineSources : sources
        if !inline.isEmpty { parts.append(some(inline) { " +\($0)" }) }
        for file in sourceFiles {
            let held = file.networks ?? []
            parts.append("@\(file.path) (" + (held.isEmpty ? "empty: no one" : Counted.text(held.count, "address", plural: "addresses") + ": " + some(held) { _ in ", ..." }) + ")")
        }
        let listed = parts.joined(separator: ", ")
        return wholeFamiliesDescription.map { listed + " (" + $0 + ")" } ?? listed
    }

    /// The address families every address of which the rule admits: both for a rule that names
    /// no address; otherwise each family its addresses (inline and from its files) cover
    /// completely, however they are spelled (`0.0.0.0/0`, or `0.0.0.0/1` with `128.0.0.0/1`).
    public var wholeFamilies: [IPFamily] {
        if isFromAnywhere { return IPFamily.allCases }
        return IPFamily.allCases.filter { IPNetwork.coverWholeFamily(sources, $0) }
    }

    /// Whether the rule admits every address of at least one family: it is open to "any source"
    /// (of that family) wherever portctl judges exposure (warnings, audit, metrics, Nagios).
    public var admitsAnySource: Bool { isFromAnywhere || !wholeFamilies.isEmpty }

    /// Whether the rule admits every address of both families.
    public var admitsEveryAddress: Bool { wholeFamilies.count == IPFamily.allCases.count }

    /// Who "any" is for this rule: `any source address, IPv4 and IPv6`, `any IPv4 source address`,
    /// `any IPv6 source address` (destination for outbound rules), or nil when its addresses
    /// cover no whole family.
    public var anySourceDescription: String? {
        let whom = direction == .in ? "source" : "destination"
        switch wholeFamilies {
        case []: return nil
        case [.ipv4]: return "any IPv4 \(whom) address"
        case [.ipv6]: return "any IPv6 \(whom) address"
        default: return "any \(whom) address, IPv4 and IPv6"
        }
    }

    /// `every address`, `every IPv4 address` or `every IPv6 address` for addresses that cover
    /// whole families; nil otherwise.
    var wholeFamiliesDescription: String? {
        switch wholeFamilies {
        case []: nil
        case [.ipv4]: "every IPv4 address"
        case [.ipv6]: "every IPv6 address"
        default: "every address"
        }
    }

    /// The file an address of this rule comes from, when it is in none of the inline ones.
    public func sourceFile(of network: IPNetwork) -> String? {
        guard !sourceFiles.isEmpty, !inlineSources.contains(network) else { return nil }
        return sourceFiles.first { $0.networks?.contains(network) ?? false }?.path
    }

    /// Whether the rule has expired at `now`.
    public func isExpired(at now: Date) -> Bool {
        expires.map { $0 <= now } ?? false
    }

    /// Whether this is the SSH rule portctl's first run wrote (its id and comment), not one an
    /// admin made: an opening nothing listens on is then for the record, not a warning.
    public var isFirstRunRule: Bool {
        id == PortPolicy.firstRunRuleID && comment == PortPolicy.firstRunComment && action == .allow && direction == .in
    }

    /// Whether the rule applies to any remote address.
    public var isFromAnywhere: Bool { sources.isEmpty && sourceFiles.isEmpty }

    /// Whether the rule reads addresses from files: it then always matches through its address
    /// sets, which an empty file leaves empty (no one), never "any".
    public var readsFiles: Bool { !sourceFiles.isEmpty }

    /// The ports in admin notation: `26/tcp`, `25,26,587/tcp`, `8000-8100/both`.
    public var portsDescription: String {
        PortRange.merged(ports).map(\.description).joined(separator: ",") + "/" + proto.rawValue
    }

    /// The remote addresses, merged and sorted, split by family.
    public func mergedSources(_ family: IPFamily) -> [IPNetwork] {
        IPNetwork.merged(sources.filter { $0.family == family })
    }

    /// Checks the rule on its own: id, ports, comment and interface.
    public func validate() throws(PolicyError) {
        do throws(PolicyError) {
            try Self.validateID(id)
            if ports.isEmpty { throw .invalidPort("", reason: "a rule needs at least one port") }
            if let comment { try Self.validateComment(comment) }
            if let interface { try Self.validateInterface(interface) }
            if limit != nil && (action != .allow || direction != .in) {
                throw .invalidRule("a rate limit applies to inbound allow rules only")
            }
            if expires != nil && direction != .in {
                throw .invalidRule("an expiry applies to inbound rules only")
            }
            if let expires, expires.timeIntervalSinceNow >= Double(NftTimeout.maximumSeconds) {
                throw .invalidValue(PolicyFile.timestamp(expires), field: "expires",
                                    allowed: ["a time less than \(NftTimeout.maximumSeconds / 86_400) days (about 584 years) from now: the longest timeout nftables holds"])
            }
            for file in sourceFiles {
                try Self.validateSourceFilePath(file.path)
                if file.networks == nil {
                    throw .invalidSource("@" + file.path, reason: "the file was not read, so the rule's sources are unknown")
                }
            }
            if !sourceFiles.isEmpty && sources != inlineSources + sourceFiles.flatMap({ $0.networks ?? [] }) {
                throw .invalidRule("its sources do not match its inline addresses and files")
            }
        } catch {
            throw .inRule(id, error)
        }
    }

    /// Refuses a source file path that is not absolute or could not be written back as it is.
    public static func validateSourceFilePath(_ path: String) throws(PolicyError) {
        // Controls (C0, DEL, C1) and noncharacters would make the policy file unreadable YAML.
        guard path.hasPrefix("/"), path.utf8.count <= 4096,
              !path.unicodeScalars.contains(where: {
                  $0.value < 0x20 || (0x7f...0x9f).contains($0.value) || $0.properties.isNoncharacterCodePoint
                      || $0 == "\"" || $0 == "\\"
              }) else {
            throw .invalidSource("@" + path, reason: "an address file is named by its absolute path, like @/etc/portctl/relays.txt, without quotes, backslashes or control characters")
        }
    }

    /// The longest id, in bytes; it keeps the nftables comment and object names within limits.
    public static let maximumIDLength = 32
    /// The longest comment, in UTF-8 bytes (nftables allows 128 for the whole comment).
    public static let maximumCommentLength = 90

    /// Checks a rule id: a letter first, then letters, digits, `.`, `_` or `-`, at most 32.
    public static func validateID(_ id: String) throws(PolicyError) {
        guard !id.isEmpty else { throw .invalidID(id, reason: "an id cannot be empty") }
        guard id.utf8.count <= maximumIDLength else {
            throw .invalidID(id, reason: "at most \(maximumIDLength) characters")
        }
        let allowed = id.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0))
        }
        guard allowed, let first = id.unicodeScalars.first, first.properties.isAlphabetic else {
            throw .invalidID(id, reason: "use a letter first, then letters, digits, '.', '_' or '-'")
        }
        guard !NftKeywords.words.contains(id) else {
            throw .invalidID(id, reason: "nftables reads \(quoted(id)) as a keyword and cannot take it as a counter name; choose another id, such as \(quoted(id + "-rule"))")
        }
        guard !id.lowercased().hasPrefix("portctl") else {
            throw .invalidID(id, reason: "ids starting with \"portctl\" are reserved")
        }
    }

    /// Checks a comment: printable text without `"` or `\`, at most 90 bytes.
    public static func validateComment(_ comment: String) throws(PolicyError) {
        guard comment.utf8.count <= maximumCommentLength else {
            throw .invalidComment(comment, reason: "at most \(maximumCommentLength) bytes")
        }
        for scalar in comment.unicodeScalars {
            let category = scalar.properties.generalCategory
            if [.control, .lineSeparator, .paragraphSeparator, .format, .surrogate, .unassigned,
                .privateUse].contains(category) {
                throw .invalidComment(comment, reason: "control and invisible characters are not allowed")
            }
            if scalar == "\"" || scalar == "\\" {
                throw .invalidComment(comment, reason: "quotes (\") and backslashes are not allowed")
            }
        }
    }

    /// Checks an interface name: 1 to 15 of letters, digits, `.`, `_`, `-`, `:`, `@`, with an
    /// optional `*` at the end to match a prefix (`eth*`).
    public static func validateInterface(_ name: String) throws(PolicyError) {
        let body = name.hasSuffix("*") ? String(name.dropLast()) : name
        guard !body.isEmpty, name.utf8.count <= 15 else {
            throw .invalidInterface(name, reason: "interface names are 1 to 15 characters")
        }
        let allowed = body.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-:@".unicodeScalars.contains($0))
        }
        guard allowed, body != ".", body != ".." else {
            throw .invalidInterface(name, reason: "use letters, digits, '.', '_', '-', ':', '@', and an optional '*' at the end")
        }
    }
}

/// The whole firewall policy portctl owns: defaults plus rules, read as a set (deny and reject
/// rules win over allow rules for the same traffic, whatever their order).
public struct PortPolicy: Sendable, Hashable {
    /// The nftables table portctl owns, in the `inet` family.
    public var table: String
    /// What happens to inbound traffic no rule matches.
    public var inbound: InboundDefault
    /// What happens to outbound traffic no rule matches.
    public var outbound: OutboundDefault
    /// The rules, in file order.
    public var rules: [PortRule]
    /// Whether packets that reach the inbound default are logged (rate-limited).
    public var logDefault: Bool = false
    /// Whether the inbound rules and default also govern published (DNATed) ports.
    public var published: PublishedDefault = .filter
    /// Port forwards (`action: forward` in the file).
    public var forwards: [PortForward] = []
    /// Rules for routed traffic (`direction: routed` in the file).
    public var routes: [RoutedRule] = []
    /// What happens to routed traffic no route rule matches.
    public var routed: RoutedDefault = .accept
    /// How long the table remembers each connection it refused (`portctl drops`).
    public var drops: DropRecording = .standard

    /// The table name used when a policy names none.
    public static let defaultTable = "portctl"

    /// Makes a policy; inbound drop and outbound accept unless told otherwise.
    public init(table: String = PortPolicy.defaultTable, inbound: InboundDefault = .drop,
                outbound: OutboundDefault = .accept, rules: [PortRule] = []) {
        self.table = table
        self.inbound = inbound
        self.outbound = outbound
        self.rules = rules
    }

    /// The policy a first run writes: inbound drop, with SSH allowed (port 22, and the port of
    /// the SSH connection portctl runs over when that differs) so the admin is not locked out.
    public static func firstRun(sshPort: UInt16? = nil) -> PortPolicy {
        var ports = [try! PortRange(22)]
        if let sshPort, sshPort != 22, sshPort != 0 { ports.append(try! PortRange(Int(sshPort))) }
        return PortPolicy(rules: [
            PortRule(id: firstRunRuleID, ports: PortRange.merged(ports), comment: firstRunComment),
        ])
    }

    /// The id of the rule a first run writes.
    public static let firstRunRuleID = "ssh"
    /// The comment of the rule a first run writes: with the id, it tells portctl's own rule
    /// from one an admin made.
    public static let firstRunComment = "added on first run so the admin keeps access"

    /// The rule with this id.
    public func rule(id: String) -> PortRule? { rules.first { $0.id == id } }

    /// Reads every rule's address files (see ``PortRule/resolveSourceFiles(_:)``); a file named
    /// by several rules is read once.
    public mutating func resolveSourceFiles(_ read: (String) throws(PolicyError) -> [IPNetwork]) throws(PolicyError) {
        var cache: [String: [IPNetwork]] = [:]
        for index in rules.indices where !rules[index].sourceFiles.isEmpty {
            try rules[index].resolveSourceFiles { path throws(PolicyError) in
                if let known = cache[path] { return known }
                let networks = try read(path)
                cache[path] = networks
                return networks
            }
        }
    }

    /// The policy as it applies at `now`: without the rules that have expired.
    public func effective(at now: Date) -> PortPolicy {
        var policy = self
        policy.rules.removeAll { $0.isExpired(at: now) }
        return policy
    }

    /// Whether any rule is outbound (the rendered table then has an output chain).
    public var hasOutboundRules: Bool { rules.contains { $0.direction == .out } }

    /// Checks the whole policy: the table name, every rule, and unique ids.
    public func validate() throws(PolicyError) {
        try Self.validateTable(table)
        var seen: Set<String> = []
        for rule in rules {
            try rule.validate()
            guard seen.insert(rule.id).inserted else { throw .duplicateID(rule.id) }
        }
        for forward in forwards {
            try forward.validate()
            guard seen.insert(forward.id).inserted else { throw .duplicateID(forward.id) }
        }
        for route in routes {
            try route.validate()
            guard seen.insert(route.id).inserted else { throw .duplicateID(route.id) }
        }
        // The drop record names a rule by a 28-bit hash of its id: two ids with one hash would
        // read as the same rule (about one pair in 268 million).
        var codes: [UInt32: String] = [:]
        for id in rules.map(\.id) + routes.map(\.id) {
            if let other = codes.updateValue(id, forKey: DropReason.hash(id)) {
                throw .invalidID(id, reason: "its drop-record code is the same as rule \(quoted(other))'s, so 'portctl drops' could not tell them apart; choose another id")
            }
        }
    }

    /// Checks a table name: a letter first, then letters, digits or `_`, at most 32.
    public static func validateTable(_ name: String) throws(PolicyError) {
        let ok = !name.isEmpty && name.utf8.count <= 32
            && name.unicodeScalars.first!.properties.isAlphabetic
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }
        if !ok {
            throw .invalidValue(name, field: "table name", allowed: ["a letter then letters, digits or '_' (at most 32)"])
        }
    }
}
