public import Foundation

/// Reading and writing the policy file: YAML (the default) or JSON, strictly.
///
/// Unknown or misspelled keys, wrong types and out-of-range values are refused with one line
/// that names the key or value. The writer emits YAML itself (Yams' encoder is quadratic on long
/// lists) and its output always reads back to the same policy.
public enum PolicyFile {
    /// The schema version this build reads and writes.
    public static let version = 1

    /// Parses policy text (YAML, or JSON when it starts with `{`) and validates the result.
    /// Rules that name address files (`@PATH`) have them read with `readSourceFile`; without a
    /// reader such a policy does not validate.
    public static func decode(_ text: String, readSourceFile: ((String) throws(PolicyError) -> [IPNetwork])? = nil) throws(PolicyError) -> PortPolicy {
        if text.utf8.contains(0) {
            throw .invalidDocument("the policy file holds NUL bytes: it is not a YAML or JSON text file")
        }
        let trimmed = text.drop { $0.isWhitespace }
        if trimmed.isEmpty {
            throw .invalidDocument("the policy file is empty: it needs at least `version: 1` (see docs/policy.md)")
        }
        let document: DocumentValue
        if trimmed.first == "{" {
            document = try DocumentValue.parseJSON(text)
        } else {
            guard let value = try DocumentValue.parseYAML(text) else {
                throw .invalidDocument("the policy file holds only comments: it needs at least `version: 1`")
            }
            document = value
        }
        guard case .mapping = document else {
            throw .invalidDocument("the policy file must be a mapping of keys (version, defaults, rules), not \(document.kindDescription)")
        }
        var policy = try PortPolicy(document: document)
        if let readSourceFile { try policy.resolveSourceFiles(readSourceFile) }
        try policy.validate()
        return policy
    }

    /// Parses policy data, refusing anything that is not UTF-8 text.
    public static func decode(_ data: Data, readSourceFile: ((String) throws(PolicyError) -> [IPNetwork])? = nil) throws(PolicyError) -> PortPolicy {
        guard let text = String(data: data, encoding: .utf8) else {
            throw .invalidDocument("the policy file is not UTF-8 text (is it a binary file?)")
        }
        return try decode(text, readSourceFile: readSourceFile)
    }

    /// Writes a policy as YAML. Every string is double-quoted, so no value can change the
    /// document's structure.
    public static func encode(_ policy: PortPolicy) -> String {
        var out = """
        # portctl policy (docs/policy.md). portctl rewrites this file on every change:
        # edit values freely, but comments you add here are not kept.
        version: \(version)
        table: \(yamlString(policy.table))
        defaults:
          inbound: \(policy.inbound.rawValue)
          outbound: \(policy.outbound.rawValue)
          published: \(policy.published.rawValue)

        """
        if policy.routed != .accept { out += "  routed: \(policy.routed.rawValue)\n" }
        if policy.logDefault { out += "  log: true\n" }
        if policy.drops != .standard { out += "  drops: \(policy.drops.text)\n" }
        if policy.rules.isEmpty && policy.forwards.isEmpty && policy.routes.isEmpty {
            out += "rules: []\n"
            return out
        }
        out += "rules:\n"
        for rule in policy.rules {
            out += "  - id: \(yamlString(rule.id))\n"
            out += "    action: \(rule.action.rawValue)\n"
            if rule.direction == .out { out += "    direction: out\n" }
            out += "    protocol: \(rule.proto.rawValue)\n"
            let ports = rule.ports.map { $0.first == $0.last ? "\($0.first)" : yamlString($0.description) }
            out += "    ports: [\(ports.joined(separator: ", "))]\n"
            let written = rule.sourceFiles.isEmpty ? rule.sources.map(\.description)
                : rule.inlineSources.map(\.description) + rule.sourceFiles.map { "@" + $0.path }
            if !written.isEmpty {
                let key = rule.direction == .in ? "from" : "to"
                if written.count <= 4 {
                    out += "    \(key): [\(written.map(yamlString).joined(separator: ", "))]\n"
                } else {
                    out += "    \(key):\n"
                    for source in written { out += "      - \(yamlString(source))\n" }
                }
            }
            if let interface = rule.interface { out += "    interface: \(yamlString(interface))\n" }
            if let limit = rule.limit { out += "    limit: \(yamlString(limit.description))\n" }
            if let expires = rule.expires { out += "    expires: \(yamlString(timestamp(expires)))\n" }
            if rule.log { out += "    log: true\n" }
            if let comment = rule.comment { out += "    comment: \(yamlString(comment))\n" }
        }
        func addresses(_ key: String, _ list: [IPNetwork]) {
            guard !list.isEmpty else { return }
            out += "    \(key): [\(list.map { yamlString($0.description) }.joined(separator: ", "))]\n"
        }
        func ports(_ list: [PortRange]) -> String {
            "[" + list.map { $0.first == $0.last ? "\($0.first)" : yamlString($0.description) }.joined(separator: ", ") + "]"
        }
        for forward in policy.forwards {
            out += "  - id: \(yamlString(forward.id))\n    action: forward\n    protocol: \(forward.proto.rawValue)\n"
            out += "    ports: \(ports(forward.ports))\n"
            addresses("from", forward.sources)
            out += "    to: \(yamlString(forward.to.description))\n"
            if let toPort = forward.toPort { out += "    to-port: \(toPort)\n" }
            if forward.masquerade { out += "    masquerade: true\n" }
            if let interface = forward.interface { out += "    interface: \(yamlString(interface))\n" }
            if let comment = forward.comment { out += "    comment: \(yamlString(comment))\n" }
        }
        for route in policy.routes {
            out += "  - id: \(yamlString(route.id))\n    action: \(route.action.rawValue)\n    direction: routed\n"
            out += "    protocol: \(route.proto.rawValue)\n    ports: \(ports(route.ports))\n"
            addresses("from", route.sources)
            addresses("to", route.destinations)
            if let interface = route.inInterface { out += "    interface: \(yamlString(interface))\n" }
            if let interface = route.outInterface { out += "    out-interface: \(yamlString(interface))\n" }
            if let comment = route.comment { out += "    comment: \(yamlString(comment))\n" }
        }
        return out
    }

    /// An instant as the file writes it: ISO 8601, UTC, whole seconds (`2026-11-29T05:00:00Z`).
    public static func timestamp(_ date: Date) -> String {
        Timestamp.format(date)
    }

    /// Parses an ISO 8601 instant with a time zone (`2026-11-29T05:00:00Z`, `...+01:00`).
    public static func parseTimestamp(_ text: String) -> Date? {
        Timestamp.parse(text)
    }

    /// A double-quoted YAML scalar with every special character escaped.
    static func yamlString(_ value: String) -> String {
        doubleQuoted(value)
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .joined(separator: " ").prefix(300).description
    }

    static func path(_ codingPath: [any CodingKey]) -> String {
        var out = ""
        for key in codingPath {
            if let index = key.intValue { out += "[\(index)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
        }
        return out.isEmpty ? "the top level" : out
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case let .typeMismatch(type, context):
            return "\(path(context.codingPath)): expected \(typeName(type))"
        case let .valueNotFound(type, context):
            return "\(path(context.codingPath)): expected \(typeName(type)), found nothing"
        case let .keyNotFound(key, context):
            return "\(path(context.codingPath + [key])): this key is required"
        case let .dataCorrupted(context):
            let underlying = context.underlyingError.map { ": " + oneLine(String(describing: $0)) } ?? ""
            if context.codingPath.isEmpty {
                return "the policy file is not valid JSON or YAML" + underlying
            }
            return "\(path(context.codingPath)): \(oneLine(context.debugDescription))"
        @unknown default:
            return oneLine(String(describing: error))
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "a number"
        case is [Any].Type: "a list"
        default: "a \(type)"
        }
    }
}

/// A coding key for reading whatever keys a mapping holds, so unknown ones can be named.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

extension PortPolicy: Codable {
    /// Reads a policy in the policy file's shape from any decoder (to embed one in another
    /// document), strictly: unknown keys, unknown versions and bad values are errors.
    public init(from decoder: any Decoder) throws {
        self = try PortPolicy(document: DocumentValue(from: decoder))
    }

    /// Reads the parsed policy file.
    init(document: DocumentValue) throws(PolicyError) {
        let top = try DocumentMapping(document, place: "policy")
        try top.refuseUnknownKeys(["version", "table", "defaults", "rules"])
        let version = try top.int("version") ?? PolicyFile.version
        guard version == PolicyFile.version else {
            throw .invalidDocument("version: \(version) is not supported; this portctl reads version \(PolicyFile.version)")
        }
        self.init(table: try top.string("table") ?? PortPolicy.defaultTable)
        if let value = top["defaults"], value != .null {
            let defaults = try DocumentMapping(value, place: "defaults")
            try defaults.refuseUnknownKeys(["inbound", "outbound", "published", "routed", "log", "drops"])
            inbound = try defaults.closed("inbound", InboundDefault.self, field: "defaults.inbound") ?? .drop
            outbound = try defaults.closed("outbound", OutboundDefault.self, field: "defaults.outbound") ?? .accept
            published = try defaults.closed("published", PublishedDefault.self, field: "defaults.published") ?? .filter
            routed = try defaults.closed("routed", RoutedDefault.self, field: "defaults.routed") ?? .accept
            logDefault = try defaults.bool("log") ?? false
            drops = try defaults.string("drops").map { text throws(PolicyError) in try DropRecording(text: text) } ?? .standard
        }
        switch top["rules"] {
        case nil, .null?:
            break
        case let .list(items)?:
            rules.reserveCapacity(items.count)
            for (index, item) in items.enumerated() {
                let place = "rules[\(index)]"
                // Forwards and routed rules are rules in the file, kinds of their own in the model.
                let mapping = try DocumentMapping(item, place: place)
                if case let .scalar(action, _)? = mapping["action"], action == "forward" {
                    forwards.append(try PortForward(document: mapping))
                } else if case let .scalar(direction, _)? = mapping["direction"], direction == "routed" {
                    routes.append(try RoutedRule(document: mapping))
                } else {
                    rules.append(try PortRule(document: item, place: place))
                }
            }
        case let other?:
            throw .invalidDocument("rules: expected a list of rules, found \(other.kindDescription)")
        }
    }

    /// Encodes in the same shape the YAML writer uses (for JSON output).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        try container.encode(PolicyFile.version, forKey: AnyKey("version"))
        try container.encode(table, forKey: AnyKey("table"))
        var defaults = container.nestedContainer(keyedBy: AnyKey.self, forKey: AnyKey("defaults"))
        try defaults.encode(inbound, forKey: AnyKey("inbound"))
        try defaults.encode(outbound, forKey: AnyKey("outbound"))
        try defaults.encode(published, forKey: AnyKey("published"))
        if routed != .accept { try defaults.encode(routed, forKey: AnyKey("routed")) }
        if logDefault { try defaults.encode(true, forKey: AnyKey("log")) }
        if drops != .standard { try defaults.encode(drops.text, forKey: AnyKey("drops")) }
        var list = container.nestedUnkeyedContainer(forKey: AnyKey("rules"))
        for rule in rules { try list.encode(rule) }
        for forward in forwards { try list.encode(forward) }
        for route in routes { try list.encode(route) }
    }
}

extension PortRule: Codable {
    static let keys = ["id", "action", "direction", "protocol", "ports", "from", "to", "interface", "comment",
                       "limit", "expires", "log"]

    /// Reads one rule in the policy file's shape from any decoder.
    public init(from decoder: any Decoder) throws {
        self = try PortRule(document: DocumentValue(from: decoder), place: PolicyFile.path(decoder.codingPath))
    }

    /// Reads one rule of the parsed policy file; `ports` takes a number, a string (`"25,26"`,
    /// `"8000-8100"`) or a list of them.
    init(document: DocumentValue, place: String) throws(PolicyError) {
        let rule = try DocumentMapping(document, place: place)
        try rule.refuseUnknownKeys(Self.keys)
        guard let id = try rule.string("id") else {
            throw .invalidDocument("\(place): every rule needs an id")
        }
        self.init(id: id, ports: [])
        do throws(PolicyError) {
            action = try rule.closed("action", RuleAction.self, field: "action") ?? .allow
            direction = try rule.closed("direction", Direction.self, field: "direction") ?? .in
            if let text = try rule.string("protocol") { proto = try TransportProtocol(parsing: text) }
            guard let ports = rule["ports"] else {
                throw PolicyError.invalidPort("", reason: "a rule needs `ports`: a port, a range like 8000-8100, or a list")
            }
            self.ports = try Self.ports(ports, path: rule.path("ports"))
            let right = direction == .in ? "from" : "to", wrong = direction == .in ? "to" : "from"
            if rule.contains(wrong) {
                throw PolicyError.invalidRule("`\(wrong)` is for \(direction == .in ? "outbound" : "inbound") rules; an \(direction == .in ? "inbound" : "outbound") rule names addresses with `\(right)`")
            }
            if let value = rule[right] {
                let (networks, files) = try Self.addresses(value, key: right, path: rule.path(right), files: true)
                sources = networks
                if !files.isEmpty {
                    inlineSources = networks
                    sourceFiles = files.map { SourceFile(path: $0) }
                }
            }
            interface = try rule.string("interface")
            comment = try rule.string("comment")
            if let text = try rule.string("limit") { limit = try RateLimit(parsing: text) }
            if let text = try rule.string("expires") {
                guard let date = PolicyFile.parseTimestamp(text) else {
                    throw PolicyError.invalidValue(text, field: "expires", allowed: ["an ISO 8601 time with a zone, like 2026-11-29T05:00:00Z"])
                }
                expires = date
            }
            log = try rule.bool("log") ?? false
        } catch {
            throw .inRule(id, error)
        }
    }

    static func ports(_ value: DocumentValue, path: String) throws(PolicyError) -> [PortRange] {
        switch value {
        case let .scalar(text, _):
            return PortRange.merged(try PortRange.parseList(text))
        case let .list(items):
            if items.isEmpty { throw .invalidPort("", reason: "`ports` is empty; give at least one port") }
            var ranges: [PortRange] = []
            for item in items {
                guard case let .scalar(text, _) = item else {
                    throw .invalidDocument("\(path): expected ports like 26 or 8000-8100, found \(item.kindDescription)")
                }
                ranges.append(try PortRange(parsing: text))
            }
            return PortRange.merged(ranges)
        case .null:
            throw .invalidPort("", reason: "`ports` is empty; give at least one port")
        case .mapping:
            throw .invalidDocument("\(path): expected a port, a range like 8000-8100, or a list of them, found a mapping")
        }
    }

    static func addresses(_ value: DocumentValue, key: String, path: String) throws(PolicyError) -> [IPNetwork] {
        try addresses(value, key: key, path: path, files: false).networks
    }

    /// The addresses of a `from`/`to` value, and with `files`, the paths of `@FILE` items.
    static func addresses(_ value: DocumentValue, key: String, path: String, files allowFiles: Bool) throws(PolicyError) -> (networks: [IPNetwork], files: [String]) {
        var files: [String] = []
        func item(_ text: String) throws(PolicyError) -> IPNetwork? {
            guard text.hasPrefix("@") else { return try IPNetwork(parsing: text) }
            guard allowFiles else { throw .invalidSource(text, reason: "address files (@FILE) are for the `from` of rules") }
            let file = String(text.dropFirst())
            try PortRule.validateSourceFilePath(file)
            if !files.contains(file) { files.append(file) }
            return nil
        }
        switch value {
        case let .scalar(text, _):
            return (try item(text).map { [$0] } ?? [], files)
        case let .list(items):
            if items.isEmpty {
                throw .invalidRule("`\(key): []` would match nobody; leave `\(key)` out to mean any address")
            }
            var networks: [IPNetwork] = []
            networks.reserveCapacity(items.count)
            for entry in items {
                guard case let .scalar(text, _) = entry else {
                    throw .invalidDocument("\(path): expected addresses like 10.0.0.0/8, found \(entry.kindDescription)")
                }
                if let network = try item(text) { networks.append(network) }
            }
            return (networks, files)
        case .null:
            throw .invalidRule("`\(key):` with no value would match nobody; leave `\(key)` out to mean any address")
        case .mapping:
            throw .invalidDocument("\(path): expected an address or a list of addresses, found a mapping")
        }
    }

    /// Encodes in the file's shape (`from` or `to` by direction).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        try container.encode(id, forKey: AnyKey("id"))
        try container.encode(action, forKey: AnyKey("action"))
        try container.encode(direction, forKey: AnyKey("direction"))
        try container.encode(proto, forKey: AnyKey("protocol"))
        try container.encode(ports.map(\.description), forKey: AnyKey("ports"))
        if !sourceFiles.isEmpty {
            try container.encode(inlineSources.map(\.description) + sourceFiles.map { "@" + $0.path }, forKey: AnyKey(direction == .in ? "from" : "to"))
        } else if !sources.isEmpty {
            try container.encode(sources, forKey: AnyKey(direction == .in ? "from" : "to"))
        }
        try container.encodeIfPresent(interface, forKey: AnyKey("interface"))
        try container.encodeIfPresent(comment, forKey: AnyKey("comment"))
        try container.encodeIfPresent(limit?.description, forKey: AnyKey("limit"))
        try container.encodeIfPresent(expires.map(PolicyFile.timestamp), forKey: AnyKey("expires"))
        if log { try container.encode(true, forKey: AnyKey("log")) }
    }
}

extension PortForward: Encodable {
    static let keys = ["id", "action", "protocol", "ports", "from", "to", "to-port", "masquerade", "interface", "comment"]

    /// Reads a forward (`action: forward`) of the parsed policy file.
    init(document rule: DocumentMapping) throws(PolicyError) {
        guard let id = try rule.string("id") else { throw .invalidDocument("\(rule.place): every rule needs an id") }
        do throws(PolicyError) {
            try rule.refuseUnknownKeys(Self.keys)
            guard let ports = rule["ports"] else {
                throw PolicyError.invalidPort("", reason: "a forward needs `ports`: a port, a range like 8000-8100, or a list")
            }
            guard let target = try rule.string("to") else {
                throw PolicyError.invalidRule("a forward needs `to`: the address connections go to")
            }
            let (address, port) = try PortForward.parseTarget(target)
            var toPort = port
            if let text = try rule.string("to-port") {
                guard toPort == nil else { throw PolicyError.invalidRule("give the target port once: in `to` or in `to-port`") }
                toPort = try PortForward.parseTarget("0.0.0.1:" + text).port
            }
            self.init(id: id, ports: try PortRule.ports(ports, path: rule.path("ports")), to: address, toPort: toPort)
            if let text = try rule.string("protocol") { proto = try TransportProtocol(parsing: text) }
            if let value = rule["from"] { sources = try PortRule.addresses(value, key: "from", path: rule.path("from")) }
            masquerade = try rule.bool("masquerade") ?? false
            interface = try rule.string("interface")
            comment = try rule.string("comment")
        } catch {
            throw .inRule(id, error)
        }
    }

    /// Encodes in the file's shape.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        try container.encode(id, forKey: AnyKey("id"))
        try container.encode("forward", forKey: AnyKey("action"))
        try container.encode(proto, forKey: AnyKey("protocol"))
        try container.encode(ports.map(\.description), forKey: AnyKey("ports"))
        if !sources.isEmpty { try container.encode(sources, forKey: AnyKey("from")) }
        try container.encode(to.description, forKey: AnyKey("to"))
        if let toPort { try container.encode(String(toPort), forKey: AnyKey("to-port")) }
        if masquerade { try container.encode(true, forKey: AnyKey("masquerade")) }
        try container.encodeIfPresent(interface, forKey: AnyKey("interface"))
        try container.encodeIfPresent(comment, forKey: AnyKey("comment"))
    }
}

extension RoutedRule: Encodable {
    static let keys = ["id", "action", "direction", "protocol", "ports", "from", "to", "interface", "out-interface", "comment"]

    /// Reads a routed rule (`direction: routed`) of the parsed policy file.
    init(document rule: DocumentMapping) throws(PolicyError) {
        guard let id = try rule.string("id") else { throw .invalidDocument("\(rule.place): every rule needs an id") }
        do throws(PolicyError) {
            try rule.refuseUnknownKeys(Self.keys)
            guard let ports = rule["ports"] else {
                throw PolicyError.invalidPort("", reason: "a rule needs `ports`: a port, a range like 8000-8100, or a list")
            }
            self.init(id: id, ports: try PortRule.ports(ports, path: rule.path("ports")))
            action = try rule.closed("action", RuleAction.self, field: "action") ?? .allow
            if let text = try rule.string("protocol") { proto = try TransportProtocol(parsing: text) }
            if let value = rule["from"] { sources = try PortRule.addresses(value, key: "from", path: rule.path("from")) }
            if let value = rule["to"] { destinations = try PortRule.addresses(value, key: "to", path: rule.path("to")) }
            inInterface = try rule.string("interface")
            outInterface = try rule.string("out-interface")
            comment = try rule.string("comment")
        } catch {
            throw .inRule(id, error)
        }
    }

    /// Encodes in the file's shape.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        try container.encode(id, forKey: AnyKey("id"))
        try container.encode(action, forKey: AnyKey("action"))
        try container.encode("routed", forKey: AnyKey("direction"))
        try container.encode(proto, forKey: AnyKey("protocol"))
        try container.encode(ports.map(\.description), forKey: AnyKey("ports"))
        if !sources.isEmpty { try container.encode(sources, forKey: AnyKey("from")) }
        if !destinations.isEmpty { try container.encode(destinations, forKey: AnyKey("to")) }
        try container.encodeIfPresent(inInterface, forKey: AnyKey("interface"))
        try container.encodeIfPresent(outInterface, forKey: AnyKey("out-interface"))
        try container.encodeIfPresent(comment, forKey: AnyKey("comment"))
    }
}
