public import Foundation

/// What an admin asks for with `open`, `close`, `deny` or `reject`: ports, and from whom.
public struct PortRequest: Sendable, Hashable {
    /// The ports and protocol.
    public var spec: PortSpec
    /// The remote addresses; empty means any.
    public var sources: [IPNetwork]
    /// Inbound (default) or outbound.
    public var direction: Direction
    /// The interface the traffic must use, if any.
    public var interface: String?
    /// A note for people.
    public var comment: String?
    /// The id to give a new rule; derived from the ports when nil.
    public var id: String?
    /// A per-source rate limit on new connections (open only).
    public var limit: RateLimit?
    /// When the opening ends by itself (open only).
    public var expires: Date?
    /// Whether to log matches.
    public var log = false
    /// Address files (`--from @FILE`), read: their paths go into the policy, their addresses
    /// into the rule's sources.
    public var sourceFiles: [SourceFile] = []
    /// The rule's sources become exactly these (`--only`), in one change, instead of being
    /// added to what it has: restricting a rule never passes through a moment where it admits
    /// neither list or both.
    public var only = false

    /// Makes a request.
    public init(spec: PortSpec, sources: [IPNetwork] = [], direction: Direction = .in,
                interface: String? = nil, comment: String? = nil, id: String? = nil) {
        self.spec = spec
        self.sources = sources
        self.direction = direction
        self.interface = interface
        self.comment = comment
        self.id = id
    }
}

/// What an edit did to the policy, for the CLI to report.
public enum PolicyChange: Sendable, Hashable {
    /// A new rule.
    case added(PortRule)
    /// An existing rule gained sources, or was widened to any source.
    case widened(PortRule, addedSources: [IPNetwork])
    /// A rule was removed.
    case removed(PortRule)
    /// A rule lost sources or ports and stays with the rest.
    case narrowed(PortRule)
    /// A rule's limit, expiry, logging or comment changed.
    case updated(PortRule)
    /// A default changed (`inbound`, `outbound` or `published`).
    case defaultChanged(String, from: String, to: String)
    /// A forward or routed rule was added: its id and summary.
    case addedEntry(id: String, summary: String)
    /// A forward or routed rule was removed: its id and summary.
    case removedEntry(id: String, summary: String)
    /// A forward's sources changed (a second `forward` of the same ports and target extends
    /// the first; `--only` replaces them): its id and new summary.
    case updatedEntry(id: String, summary: String)
    /// Nothing needed doing; the reason says why.
    case unchanged(String)
}

extension PortPolicy {
    /// Removes the rules that have expired by `now` and returns them.
    public mutating func removeExpired(at now: Date) -> [PortRule] {
        let expired = rules.filter { $0.isExpired(at: now) }
        rules.removeAll { $0.isExpired(at: now) }
        return expired
    }

    /// Allows the request's ports from its sources: extends a rule of the same shape if there is
    /// one, otherwise adds a rule. Validates everything before changing anything.
    @discardableResult
    public mutating func open(_ request: PortRequest) throws(PolicyError) -> PolicyChange {
        try add(request, action: .allow)
    }

    /// Adds a block (`deny` drops, `reject` refuses) for the request's ports and sources; blocks
    /// win over allows for the same traffic.
    @discardableResult
    public mutating func block(_ request: PortRequest, action: RuleAction) throws(PolicyError) -> PolicyChange {
        precondition(action != .allow, "use open(_:) to allow")
        return try add(request, action: action)
    }

    /// Removes a rule by id: an inbound or outbound rule, a forward or a routed rule.
    @discardableResult
    public mutating func remove(id: String) throws(PolicyError) -> PolicyChange {
        if let index = forwards.firstIndex(where: { $0.id == id }) {
            let forward = forwards.remove(at: index)
            return .removedEntry(id: forward.id, summary: forward.summary)
        }
        if let index = routes.firstIndex(where: { $0.id == id }) {
            let route = routes.remove(at: index)
            return .removedEntry(id: route.id, summary: route.summary)
        }
        guard let index = rules.firstIndex(where: { $0.id == id }) else {
            throw .invalidID(id, reason: "no rule has this id (portctl list shows the ids)")
        }
        return .removed(rules.remove(at: index))
    }

    /// Adds a port forward. Without an id, one is derived from the ports (`fwd-tcp-26`). A
    /// forward of the same ports to the same target (and interface and masquerading) as one the
    /// policy has extends that one's sources, as `open` does (with `only`, its sources become
    /// exactly these); another forward of the same id is refused.
    @discardableResult
    public mutating func add(_ forward: PortForward, only: Bool = false) throws(PolicyError) -> PolicyChange {
        var forward = forward
        let sameTarget: (PortForward) -> Bool = {
            $0.proto == forward.proto && PortRange.merged($0.ports) == PortRange.merged(forward.ports) && $0.to == forward.to
                && $0.toPort == forward.toPort && $0.interface == forward.interface && $0.masquerade == forward.masquerade
                && (forward.id.isEmpty || $0.id == forward.id)
        }
        if only && forward.sources.isEmpty {
            throw .invalidRule("--only names the sources the forward keeps: give them with --from")
        }
        if let index = forwards.firstIndex(where: sameTarget) {
            var existing = forwards[index]
            let original = existing
            if only {
                existing.sources = forward.sources
            } else if existing.sources.isEmpty {
                return .unchanged("forward \(existing.id) already admits any source (\(existing.summary))")
            } else if forward.sources.isEmpty {
                existing.sources = []
            } else {
                var seen = Set(existing.sources)
                existing.sources += forward.sources.filter { seen.insert($0).inserted }
            }
            if let comment = forward.comment { existing.comment = comment }
            if existing == original { return .unchanged("forward \(existing.id) is already \(existing.summary)") }
            try existing.validate()
            forwards[index] = existing
            return .updatedEntry(id: existing.id, summary: existing.summary)
        }
        if forward.id.isEmpty { forward.id = uniqueID("fwd-\(forward.proto.rawValue)-\(Self.portsLabel(forward.ports))") }
        if let existing = forwards.first(where: { $0.id == forward.id }) {
            if existing == forward { return .unchanged("forward \(forward.id) is already \(forward.summary)") }
            throw .invalidID(forward.id, reason: "forward \(quoted(forward.id)) already exists (\(existing.summary)); remove it first or choose another id")
        }
        try forward.validate()
        if rules.contains(where: { $0.id == forward.id }) || routes.contains(where: { $0.id == forward.id }) { throw .duplicateID(forward.id) }
        forwards.append(forward)
        return .addedEntry(id: forward.id, summary: forward.summary)
    }

    /// Adds a routed rule (`route`, `deny --routed`, `reject --routed`); ids as for forwards.
    @discardableResult
    public mutating func add(_ route: RoutedRule) throws(PolicyError) -> PolicyChange {
        var route = route
        let verb = route.action == .allow ? "route" : route.action.rawValue + "-routed"
        if route.id.isEmpty { route.id = uniqueID("\(verb)-\(route.proto.rawValue)-\(Self.portsLabel(route.ports))") }
        if let existing = routes.first(where: { $0.id == route.id }) {
            if existing == route { return .unchanged("rule \(route.id) is already \(route.summary)") }
            throw .invalidID(route.id, reason: "rule \(quoted(route.id)) already exists (\(existing.summary)); remove it first or choose another id")
        }
        try route.validate()
        if rules.contains(where: { $0.id == route.id }) || forwards.contains(where: { $0.id == route.id }) { throw .duplicateID(route.id) }
        routes.append(route)
        return .addedEntry(id: route.id, summary: route.summary)
    }

    /// Removes the forwards of any of these ports (`portctl close PORTS`).
    public mutating func closeForwards(_ ports: [PortRange], proto: TransportProtocol) -> [PolicyChange] {
        let wanted = PortRange.merged(ports)
        let gone = forwards.filter { protocolsOverlap($0.proto, proto) && portsOverlap($0.ports, wanted) }
        forwards.removeAll { forward in gone.contains(forward) }
        return gone.map { .removedEntry(id: $0.id, summary: $0.summary) }
    }

    /// After an `--only` edit: the other allow rules that still admit the request's ports from
    /// sources it did not list (`--only` makes one rule's sources exactly the list, not the
    /// port's), one note each.
    public func othersAdmitting(_ request: PortRequest) -> [PolicyChange] {
        let wanted = PortRange.merged(request.spec.ports)
        let listed = Set(request.sources)
        let target = rules.last { rule in
            rule.action == .allow && rule.direction == request.direction && rule.proto == request.spec.proto
                && PortRange.merged(rule.ports) == wanted && (request.id == nil || rule.id == request.id)
                && rule.interface == request.interface
        }
        return rules.filter { rule in
            rule.id != target?.id && rule.action == .allow && rule.direction == request.direction
                && protocolsOverlap(rule.proto, request.spec.proto) && portsOverlap(rule.ports, wanted)
                && (rule.isFromAnywhere || rule.readsFiles || !Set(rule.sources).isSubset(of: listed))
        }.map { rule in
            .unchanged("rule \(quoted(rule.id)) also admits \(rule.portsDescription) from \(rule.addressesDescription); --only changed \(target.map { quoted($0.id) } ?? "one rule") alone")
        }
    }

    /// `base`, or `base-2`, `base-3`... when an id is taken.
    func uniqueID(_ base: String) -> String {
        let taken = Set(rules.map(\.id) + forwards.map(\.id) + routes.map(\.id))
        if !taken.contains(base) { return base }
        var number = 2
        while taken.contains("\(base)-\(number)") { number += 1 }
        return "\(base)-\(number)"
    }

    /// `26`, `8000-8100`, `25-26-587`: ports in an id.
    static func portsLabel(_ ports: [PortRange]) -> String {
        String(PortRange.merged(ports).map(\.description).joined(separator: "-").prefix(20))
    }

    /// Undoes `open` (`portctl close`): without sources, removes the request's ports from the
    /// allow rules that open them (a rule left with no ports goes); with sources, removes those
    /// addresses from the rule for these ports, splitting a wider listed network when only part
    /// of it is named (a rule left with no sources goes: it never widens to any).
    ///
    /// Closing a port closes it whatever way it was opened: an inbound request without sources
    /// also removes the forwards of those ports (``closeForwards(_:proto:)``). When only forwards
    /// held them, the changes are the forwards' alone (no "not opened by any rule" line).
    public mutating func close(_ request: PortRequest) throws(PolicyError) -> [PolicyChange] {
        // Edited on a copy: a refusal leaves the policy as it was, forwards included.
        var edited = self
        let forwards = request.direction == .in && request.sources.isEmpty && request.sourceFiles.isEmpty
            ? edited.closeForwards(request.spec.ports, proto: request.spec.proto) : []
        let closed = try edited.closeRules(request)
        self = edited
        if !forwards.isEmpty, closed.allSatisfy({ if case .unchanged = $0 { true } else { false } }) { return forwards }
        return closed + forwards
    }

    /// The allow rules' part of ``close(_:)``.
    private mutating func closeRules(_ request: PortRequest) throws(PolicyError) -> [PolicyChange] {
        let wanted = PortRange.merged(request.spec.ports)
        let candidates = rules.indices.filter {
            let rule = rules[$0]
            return rule.action == .allow && rule.direction == request.direction
                && (request.interface == nil || rule.interface == request.interface)
                && protocolsOverlap(rule.proto, request.spec.proto)
                && portsOverlap(rule.ports, wanted)
        }
        let what = PortRule(id: "x", ports: wanted, proto: request.spec.proto).portsDescription
        if candidates.isEmpty { return [.unchanged("\(what) is not opened by any rule")] }
        for index in candidates where rules[index].proto != request.spec.proto && request.spec.proto != .both {
            throw .invalidRule("rule \(quoted(rules[index].id)) opens \(rules[index].portsDescription); close \(rules[index].portsDescription) or remove the rule by id")
        }
        if !request.sources.isEmpty || !request.sourceFiles.isEmpty {
            let exact = candidates.filter { PortRange.merged(rules[$0].ports) == wanted }
            guard exact.count == 1, let index = exact.first else {
                throw .invalidRule("to close \(what) for some sources, name the ports exactly as one rule opens them (portctl list)")
            }
            var rule = rules[index]
            if rule.isFromAnywhere {
                throw .invalidRule("rule \(quoted(rule.id)) opens \(what) to any source; close it without --from, then open it for the sources that should keep access")
            }
            // A source removes what it covers of the networks written in the policy: the whole
            // network when it is one, a part of a wider one by splitting it (198.51.100.0/24
            // without 198.51.100.128/25 is 198.51.100.0/25). Addresses from files stay the files'.
            let inline = rule.readsFiles ? rule.inlineSources : rule.sources
            for source in request.sources where !inline.contains(where: { $0.overlaps(source) }) {
                if let file = rule.sourceFiles.first(where: { $0.networks?.contains { $0.overlaps(source) } ?? false }) {
                    throw .invalidSource(source.description, reason: "rule \(quoted(rule.id)) reads it from @\(file.path); remove it there, or close --from @FILE to drop the whole file")
                }
                throw .invalidSource(source.description, reason: "rule \(quoted(rule.id)) does not list it; it allows \(Planner.addressList(rule.sources))")
            }
            for file in request.sourceFiles where !rule.sourceFiles.contains(where: { $0.path == file.path }) {
                throw .invalidSource("@" + file.path, reason: "rule \(quoted(rule.id)) does not read that file")
            }
            let carve = { (networks: [IPNetwork]) -> [IPNetwork] in
                networks.flatMap { network in
                    let cuts = request.sources.filter { $0.overlaps(network) }
                    return cuts.isEmpty ? [network] : IPNetwork.subtracting(cuts, from: [network])
                }
            }
            if rule.readsFiles {
                let dropped = Set(request.sourceFiles.map(\.path))
                for source in request.sources {
                    if let file = rule.sourceFiles.first(where: { !dropped.contains($0.path) && ($0.networks?.contains(source) ?? false) }) {
                        throw .invalidSource(source.description, reason: "rule \(quoted(rule.id)) also reads it from @\(file.path), so it would keep access; remove it there too")
                    }
                }
                rule.inlineSources = carve(rule.inlineSources)
                rule.sourceFiles.removeAll { file in request.sourceFiles.contains { $0.path == file.path } }
                if rule.sourceFiles.isEmpty {
                    rule.sources = rule.inlineSources
                    rule.inlineSources = []
                } else {
                    rule.recomputeSources()
                }
            } else {
                rule.sources = carve(rule.sources)
            }
            if rule.isFromAnywhere {
                // Reported as it was: a rule left with no sources goes, it never reads "from any".
                return [.removed(rules.remove(at: index))]
            }
            rules[index] = rule
            // A wider network the rule keeps still lets a closed address in: say so.
            let still = request.sources.compactMap { source -> PolicyChange? in
                guard let wider = rule.sources.first(where: { $0.prefixLength < source.prefixLength && $0.contains(source.address) }) else { return nil }
                let place = rule.sourceFile(of: wider).map { " (from @\($0))" } ?? ""
                return .unchanged("\(source) is still allowed by rule \(quoted(rule.id)) through \(wider)\(place)")
            }
            return [.narrowed(rule)] + still
        }
        var changes: [PolicyChange] = []
        for index in candidates.reversed() {
            var rule = rules[index]
            rule.ports = subtract(rule.ports, wanted)
            if rule.ports.isEmpty {
                changes.append(.removed(rules.remove(at: index)))
            } else {
                rules[index] = rule
                changes.append(.narrowed(rule))
            }
        }
        return changes.reversed()
    }

    private mutating func add(_ request: PortRequest, action: RuleAction) throws(PolicyError) -> PolicyChange {
        let ports = PortRange.merged(request.spec.ports)
        if let comment = request.comment { try PortRule.validateComment(comment) }
        if let interface = request.interface { try PortRule.validateInterface(interface) }
        if let id = request.id { try PortRule.validateID(id) }
        if action != .allow && (request.limit != nil || request.expires != nil) {
            throw .invalidRule("rate limits and expiry apply to openings (portctl open) only")
        }
        if request.only && request.sources.isEmpty && request.sourceFiles.isEmpty {
            throw .invalidRule("--only names the sources the rule keeps: give them with --from")
        }
        // A time-boxed opening joins only a time-boxed rule, so permanent sources never expire.
        let sameShape: (PortRule) -> Bool = {
            $0.action == action && $0.direction == request.direction && $0.proto == request.spec.proto
                && PortRange.merged($0.ports) == ports && $0.interface == request.interface
                && ($0.expires == nil) == (request.expires == nil)
        }
        let existing: Int?
        if let id = request.id, let index = rules.firstIndex(where: { $0.id == id }) {
            guard sameShape(rules[index]) else {
                throw .invalidID(id, reason: "rule \(quoted(id)) already exists for \(rules[index].action.rawValue) \(rules[index].portsDescription); choose another id")
            }
            existing = index
        } else if request.id == nil {
            existing = rules.firstIndex(where: sameShape)
        } else {
            existing = nil
        }
        if let index = existing {
            var rule = rules[index]
            let original = rule
            if let limit = request.limit { rule.limit = limit }
            if let expires = request.expires { rule.expires = expires }
            if request.log { rule.log = true }
            if let comment = request.comment { rule.comment = comment }
            var added: [IPNetwork] = []
            if request.only {
                // Exactly these sources, inline and from files: one edit, one batch.
                if request.sourceFiles.isEmpty {
                    rule.sources = request.sources
                    rule.inlineSources = []
                    rule.sourceFiles = []
                } else {
                    rule.inlineSources = request.sources
                    rule.sourceFiles = request.sourceFiles
                    rule.recomputeSources()
                }
                added = rule.sources.filter { !original.sources.contains($0) }
            } else if !rule.isFromAnywhere {
                if request.sources.isEmpty && request.sourceFiles.isEmpty {
                    rule.sources = []
                    rule.sourceFiles = []
                    rule.inlineSources = []
                } else {
                    let have = Set(rule.sources)
                    var seen = Set<IPNetwork>()
                    added = request.sources.filter { !have.contains($0) && seen.insert($0).inserted }
                    if rule.readsFiles || !request.sourceFiles.isEmpty {
                        if !rule.readsFiles { rule.inlineSources = rule.sources }
                        rule.inlineSources += added
                        for file in request.sourceFiles where !rule.sourceFiles.contains(where: { $0.path == file.path }) {
                            rule.sourceFiles.append(file)
                            added += (file.networks ?? []).filter { !have.contains($0) && seen.insert($0).inserted }
                        }
                        rule.recomputeSources()
                    } else {
                        rule.sources += added
                    }
                }
            }
            if rule == original {
                return .unchanged("rule \(quoted(rule.id)) already applies \(rule.portsDescription) to "
                    + (rule.isFromAnywhere ? "any source" : "every source given"))
            }
            var candidate = self
            candidate.rules[index] = rule
            try candidate.validate()
            self = candidate
            if request.only && !Set(original.sources).isSubset(of: rule.sources) { return .updated(rule) }
            if rule.sources != original.sources || rule.sourceFiles != original.sourceFiles { return .widened(rule, addedSources: added) }
            return .updated(rule)
        }
        var rule = PortRule(id: request.id ?? derivedID(action: action, direction: request.direction, proto: request.spec.proto, ports: ports),
                            ports: ports, proto: request.spec.proto, direction: request.direction,
                            action: action, sources: request.sources, interface: request.interface,
                            comment: request.comment)
        rule.limit = request.limit
        rule.expires = request.expires
        rule.log = request.log
        if !request.sourceFiles.isEmpty {
            rule.inlineSources = request.sources
            rule.sourceFiles = request.sourceFiles
            rule.recomputeSources()
        }
        var candidate = self
        candidate.rules.append(rule)
        try candidate.validate()
        self = candidate
        return .added(rule)
    }

    /// A readable id that no rule uses yet: `allow-tcp-26`, `deny-udp-53`, `allow-tcp-8000-8100`,
    /// and for outbound rules `allow-out-tcp-26` (ids in existing files are read as they are).
    func derivedID(action: RuleAction, direction: Direction = .in, proto: TransportProtocol, ports: [PortRange]) -> String {
        let prefix = (action == .allow ? "allow" : action.rawValue) + (direction == .out ? "-out" : "")
        var base = "\(prefix)-\(proto.rawValue)-" + ports.map(\.description).joined(separator: ".")
        if base.utf8.count > PortRule.maximumIDLength - 3 {
            base = String(base.prefix(PortRule.maximumIDLength - 3))
        }
        let used = Set(rules.map(\.id) + forwards.map(\.id) + routes.map(\.id))
        if !used.contains(base) { return base }
        var number = 2
        while used.contains("\(base)-\(number)") { number += 1 }
        return "\(base)-\(number)"
    }
}

func protocolsOverlap(_ a: TransportProtocol, _ b: TransportProtocol) -> Bool {
    !Set(a.members).isDisjoint(with: b.members)
}

func portsOverlap(_ a: [PortRange], _ b: [PortRange]) -> Bool {
    a.contains { x in b.contains { y in x.first <= y.last && y.first <= x.last } }
}

/// The ports of `ranges` that are not in `removed`, as merged ranges.
func subtract(_ ranges: [PortRange], _ removed: [PortRange]) -> [PortRange] {
    var result: [PortRange] = []
    for range in PortRange.merged(ranges) {
        var pieces = [(Int(range.first), Int(range.last))]
        for cut in removed {
            pieces = pieces.flatMap { piece -> [(Int, Int)] in
                let (low, high) = piece
                if Int(cut.last) < low || Int(cut.first) > high { return [piece] }
                var kept: [(Int, Int)] = []
                if Int(cut.first) > low { kept.append((low, Int(cut.first) - 1)) }
                if Int(cut.last) < high { kept.append((Int(cut.last) + 1, high)) }
                return kept
            }
        }
        result += pieces.map { try! PortRange($0.0, $0.1) }
    }
    return result
}

/// Parses a duration like `90s`, `30m`, `2h`, `1d` or `1h30m` into whole seconds (1 second to
/// 365 days).
public func parseDuration(_ text: String) throws(PolicyError) -> Int {
    let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
    var total = 0, number = "", sawUnit = false
    for character in text.lowercased() {
        if character.isASCII && character.isNumber {
            number.append(character)
            guard number.count <= 6 else { break }
        } else if let unit = units[character], let value = Int(number) {
            total += value * unit
            number = ""
            sawUnit = true
        } else {
            sawUnit = false
            number = "x"
            break
        }
    }
    guard sawUnit, number.isEmpty, (1...365 * 86400).contains(total) else {
        throw .invalidValue(text, field: "duration", allowed: ["a time like 90s, 30m, 2h, 1d or 1h30m, up to 365d"])
    }
    return total
}

extension PortPolicy {
    /// The defaults in force, for the line that reports an applied change: `inbound default
    /// drop`, and the outbound default when it matters (`outbound default drop`; it is in force
    /// only while the policy has an outbound rule, the output chain being made for them).
    public var defaultsSummary: String {
        var text = "inbound default \(inbound.rawValue)"
        if hasOutboundRules || outbound != .accept {
            text += ", outbound default \(outbound.rawValue)" + (hasOutboundRules ? "" : " (not in force until an outbound rule exists)")
        }
        return text
    }

    /// What the admin should know about outbound traffic after these changes: an outbound allow
    /// under the outbound default accept changes nothing, and an outbound default of drop stops
    /// everything this host sends that no rule allows (DNS, NTP, updates).
    public func outboundNotes(after changes: [PolicyChange]) -> [String] {
        var notes: [String] = []
        let stops = "this host's own DNS (53), NTP (123/udp), package updates (80, 443) and everything else it sends stop unless an outbound rule allows them"
        for change in changes {
            switch change {
            case let .added(rule) where rule.direction == .out && rule.action == .allow && outbound == .accept:
                notes.append("outbound rule \(rule.id) allows \(rule.portsDescription) to \(rule.addressesDescription), but the outbound default is accept, so it changes nothing: all outbound traffic leaves anyway ('portctl default outbound drop' makes outbound rules the only way out)")
            case let .added(rule) where rule.direction == .out && outbound == .drop && rules.filter({ $0.direction == .out }).count == 1:
                notes.append("with its first outbound rule, the outbound default drop is in force: \(stops)")
            case .defaultChanged("outbound", _, "drop"):
                notes.append(hasOutboundRules ? "the outbound default is now drop: \(stops)"
                    : "the outbound default drop is not in force until the policy has an outbound rule (portctl open PORT --out); from then on \(stops)")
            default:
                break
            }
        }
        return notes
    }
}

/// One of the defaults a policy sets for traffic no rule matches (`portctl default NAME VALUE`).
public enum PolicyDefault: String, Sendable, Hashable, CaseIterable {
    /// Inbound traffic: ``InboundDefault``.
    case inbound
    /// Traffic this host sends: ``OutboundDefault``.
    case outbound
    /// Ports another table publishes by DNAT: ``PublishedDefault``.
    case published
    /// Traffic this host routes without DNAT: ``RoutedDefault``.
    case routed

    /// The values this default takes, the first being the one a new policy has (inbound drop,
    /// outbound accept, published filter, routed accept).
    public var allowedValues: [String] {
        switch self {
        case .inbound: InboundDefault.allCases.map(\.rawValue)
        case .outbound: OutboundDefault.allCases.map(\.rawValue)
        case .published: PublishedDefault.allCases.map(\.rawValue)
        case .routed: RoutedDefault.allCases.map(\.rawValue)
        }
    }

    /// Checks that `value` is one of ``allowedValues``; the error names the value and lists them.
    public func check(_ value: String) throws(PolicyError) {
        guard allowedValues.contains(value) else {
            throw .invalidValue(value, field: "\(rawValue) default", allowed: allowedValues)
        }
    }
}

extension PortPolicy {
    /// The current value of a default, as the policy file writes it.
    public func value(of setting: PolicyDefault) -> String {
        switch setting {
        case .inbound: inbound.rawValue
        case .outbound: outbound.rawValue
        case .published: published.rawValue
        case .routed: routed.rawValue
        }
    }

    /// Sets a default from its text form (`portctl default`): `.defaultChanged`, or `.unchanged`
    /// when it already has that value. A value the default does not take is refused
    /// (``PolicyDefault/check(_:)``) and the policy stays as it was.
    public mutating func setDefault(_ setting: PolicyDefault, to value: String) throws(PolicyError) -> PolicyChange {
        try setting.check(value)
        let before = self.value(of: setting)
        if before == value { return .unchanged("the \(setting.rawValue) default is already \(value)") }
        switch setting {
        case .inbound: inbound = InboundDefault(rawValue: value)!
        case .outbound: outbound = OutboundDefault(rawValue: value)!
        case .published: published = PublishedDefault(rawValue: value)!
        case .routed: routed = RoutedDefault(rawValue: value)!
        }
        return .defaultChanged(setting.rawValue, from: before, to: value)
    }
}
