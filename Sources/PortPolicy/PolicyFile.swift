public import Foundation
import Yams

/// Reading and writing the policy file: YAML (the default) or JSON, strictly.
///
/// Unknown or misspelled keys, wrong types and out-of-range values are refused with one line
/// that names the key or value. The writer emits YAML itself (Yams' encoder is quadratic on long
/// lists) and its output always reads back to the same policy.
public enum PolicyFile {
    /// The schema version this build reads and writes.
    public static let version = 1

    /// Parses policy text (YAML, or JSON when it starts with `{`) and validates the result.
    public static func decode(_ text: String) throws(PolicyError) -> PortPolicy {
        if text.utf8.contains(0) {
            throw .invalidDocument("the policy file holds NUL bytes: it is not a YAML or JSON text file")
        }
        let trimmed = text.drop { $0.isWhitespace }
        if trimmed.isEmpty {
            throw .invalidDocument("the policy file is empty: it needs at least `version: 1` (see docs/policy.md)")
        }
        let policy: PortPolicy
        do {
            if trimmed.first == "{" {
                policy = try JSONDecoder().decode(PortPolicy.self, from: Data(text.utf8))
            } else {
                guard let node = try Yams.compose(yaml: text) else {
                    throw PolicyError.invalidDocument("the policy file holds only comments: it needs at least `version: 1`")
                }
                guard node.mapping != nil else {
                    throw PolicyError.invalidDocument("the policy file must be a mapping of keys (version, defaults, rules), not a \(kind(of: node))")
                }
                policy = try YAMLDecoder().decode(PortPolicy.self, from: node)
            }
        } catch let error as PolicyError {
            throw error
        } catch let error as DecodingError {
            throw .invalidDocument(describe(error))
        } catch let error as YamlError {
            throw .invalidDocument("the policy file is not valid YAML: " + oneLine(String(describing: error)))
        } catch {
            throw .invalidDocument("the policy file could not be read: " + oneLine(String(describing: error)))
        }
        try policy.validate()
        return policy
    }

    /// Parses policy data, refusing anything that is not UTF-8 text.
    public static func decode(_ data: Data) throws(PolicyError) -> PortPolicy {
        guard let text = String(data: data, encoding: .utf8) else {
            throw .invalidDocument("the policy file is not UTF-8 text (is it a binary file?)")
        }
        return try decode(text)
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

        """
        if policy.logDefault { out += "  log: true\n" }
        if policy.rules.isEmpty {
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
            if !rule.sources.isEmpty {
                let key = rule.direction == .in ? "from" : "to"
                if rule.sources.count <= 4 {
                    out += "    \(key): [\(rule.sources.map { yamlString($0.description) }.joined(separator: ", "))]\n"
                } else {
                    out += "    \(key):\n"
                    for source in rule.sources { out += "      - \(yamlString(source.description))\n" }
                }
            }
            if let interface = rule.interface { out += "    interface: \(yamlString(interface))\n" }
            if let limit = rule.limit { out += "    limit: \(yamlString(limit.description))\n" }
            if let expires = rule.expires { out += "    expires: \(yamlString(timestamp(expires)))\n" }
            if rule.log { out += "    log: true\n" }
            if let comment = rule.comment { out += "    comment: \(yamlString(comment))\n" }
        }
        return out
    }

    /// An instant as the file writes it: ISO 8601, UTC, whole seconds (`2026-11-29T05:00:00Z`).
    public static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// Parses an ISO 8601 instant with a time zone (`2026-11-29T05:00:00Z`, `...+01:00`).
    public static func parseTimestamp(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    /// A double-quoted YAML scalar with every special character escaped.
    static func yamlString(_ value: String) -> String {
        doubleQuoted(value)
    }

    private static func kind(of node: Node) -> String {
        switch node {
        case .scalar: "single value"
        case .sequence: "list"
        case .mapping: "mapping"
        case .alias: "alias"
        }
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

extension KeyedDecodingContainer where K == AnyKey {
    /// Refuses keys outside `known`, suggesting the closest known key.
    func refuseUnknownKeys(_ known: [String], in place: String) throws(PolicyError) {
        for key in allKeys where !known.contains(key.stringValue) {
            let suggestion = known.min { editDistance($0, key.stringValue) < editDistance($1, key.stringValue) }
            var message = "\(place): unknown key \(quoted(key.stringValue))"
            if let suggestion, editDistance(suggestion, key.stringValue) <= 2 {
                message += "; did you mean \(quoted(suggestion))?"
            } else {
                message += "; allowed keys are \(known.joined(separator: ", "))"
            }
            throw .invalidDocument(message)
        }
    }

    func string(_ key: String) throws -> String? {
        try decodeIfPresent(String.self, forKey: AnyKey(key))
    }

    func closed<T: RawRepresentable & CaseIterable>(_ key: String, _ type: T.Type, in place: String) throws -> T?
        where T.RawValue == String {
        guard let raw = try string(key) else { return nil }
        guard let value = T(rawValue: raw) else {
            throw PolicyError.invalidDocument(
                PolicyError.invalidValue(raw, field: "\(place).\(key)", allowed: T.allCases.map(\.rawValue)).description)
        }
        return value
    }
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
    /// Decodes strictly: unknown keys, unknown versions and bad values are errors.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        try container.refuseUnknownKeys(["version", "table", "defaults", "rules"], in: "policy")
        let version = try container.decodeIfPresent(Int.self, forKey: AnyKey("version")) ?? PolicyFile.version
        guard version == PolicyFile.version else {
            throw PolicyError.invalidDocument("version: \(version) is not supported; this portctl reads version \(PolicyFile.version)")
        }
        table = try container.string("table") ?? PortPolicy.defaultTable
        inbound = .drop
        outbound = .accept
        if container.contains(AnyKey("defaults")) {
            let defaults = try container.nestedContainer(keyedBy: AnyKey.self, forKey: AnyKey("defaults"))
            try defaults.refuseUnknownKeys(["inbound", "outbound", "log"], in: "defaults")
            inbound = try defaults.closed("inbound", InboundDefault.self, in: "defaults") ?? .drop
            outbound = try defaults.closed("outbound", OutboundDefault.self, in: "defaults") ?? .accept
            logDefault = try defaults.decodeIfPresent(Bool.self, forKey: AnyKey("log")) ?? false
        }
        rules = []
        if container.contains(AnyKey("rules")), try !container.decodeNil(forKey: AnyKey("rules")) {
            var list = try container.nestedUnkeyedContainer(forKey: AnyKey("rules"))
            while !list.isAtEnd {
                let index = list.currentIndex
                do {
                    rules.append(try list.decode(PortRule.self))
                } catch let error as PolicyError {
                    if case .inRule = error { throw error }
                    throw PolicyError.invalidDocument("rules[\(index)]: \(error)")
                }
            }
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
        if logDefault { try defaults.encode(true, forKey: AnyKey("log")) }
        try container.encode(rules, forKey: AnyKey("rules"))
    }
}

extension PortRule: Codable {
    static let keys = ["id", "action", "direction", "protocol", "ports", "from", "to", "interface", "comment",
                       "limit", "expires", "log"]

    /// Decodes strictly; `ports` takes a number, a string (`"25,26"`, `"8000-8100"`) or a list.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        let place = PolicyFile.path(decoder.codingPath)
        try container.refuseUnknownKeys(Self.keys, in: place)
        guard let id = try container.string("id") else {
            throw PolicyError.invalidDocument("\(place): every rule needs an id")
        }
        self.id = id
        do {
            action = try container.closed("action", RuleAction.self, in: "action") ?? .allow
            direction = try container.closed("direction", Direction.self, in: "direction") ?? .in
            proto = try container.string("protocol").map { (text) throws(PolicyError) in try TransportProtocol(parsing: text) } ?? .tcp
            guard container.contains(AnyKey("ports")) else {
                throw PolicyError.invalidPort("", reason: "a rule needs `ports`: a port, a range like 8000-8100, or a list")
            }
            ports = try Self.decodePorts(container)
            let right = direction == .in ? "from" : "to", wrong = direction == .in ? "to" : "from"
            if container.contains(AnyKey(wrong)) {
                throw PolicyError.invalidRule("`\(wrong)` is for \(direction == .in ? "outbound" : "inbound") rules; an \(direction == .in ? "inbound" : "outbound") rule names addresses with `\(right)`")
            }
            sources = []
            if container.contains(AnyKey(right)) {
                let texts: [String]
                if let one = try? container.decode(String.self, forKey: AnyKey(right)) {
                    texts = [one]
                } else {
                    texts = try container.decode([String].self, forKey: AnyKey(right))
                }
                if texts.isEmpty {
                    throw PolicyError.invalidRule("`\(right): []` would match nobody; leave `\(right)` out to mean any address")
                }
                sources = try texts.map { (text) throws(PolicyError) in try IPNetwork(parsing: text) }
            }
            interface = try container.string("interface")
            comment = try container.string("comment")
            limit = try container.string("limit").map { (text) throws(PolicyError) in try RateLimit(parsing: text) }
            if let text = try container.string("expires") {
                guard let date = PolicyFile.parseTimestamp(text) else {
                    throw PolicyError.invalidValue(text, field: "expires", allowed: ["an ISO 8601 time with a zone, like 2026-11-29T05:00:00Z"])
                }
                expires = date
            }
            log = try container.decodeIfPresent(Bool.self, forKey: AnyKey("log")) ?? false
        } catch let error as PolicyError {
            throw PolicyError.inRule(id, error)
        } catch let error as DecodingError {
            throw PolicyError.inRule(id, .invalidDocument(PolicyFile.describe(error)))
        }
    }

    private static func decodePorts(_ container: KeyedDecodingContainer<AnyKey>) throws -> [PortRange] {
        let key = AnyKey("ports")
        var items: [String] = []
        if let number = try? container.decode(Int.self, forKey: key) {
            items = ["\(number)"]
        } else if let text = try? container.decode(String.self, forKey: key) {
            return PortRange.merged(try PortRange.parseList(text))
        } else {
            var list = try container.nestedUnkeyedContainer(forKey: key)
            while !list.isAtEnd {
                if let number = try? list.decode(Int.self) { items.append("\(number)") } else { items.append(try list.decode(String.self)) }
            }
        }
        if items.isEmpty { throw PolicyError.invalidPort("", reason: "`ports` is empty; give at least one port") }
        var ranges: [PortRange] = []
        for item in items { ranges.append(try PortRange(parsing: item)) }
        return PortRange.merged(ranges)
    }

    /// Encodes in the file's shape (`from` or `to` by direction).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        try container.encode(id, forKey: AnyKey("id"))
        try container.encode(action, forKey: AnyKey("action"))
        try container.encode(direction, forKey: AnyKey("direction"))
        try container.encode(proto, forKey: AnyKey("protocol"))
        try container.encode(ports.map(\.description), forKey: AnyKey("ports"))
        if !sources.isEmpty {
            try container.encode(sources, forKey: AnyKey(direction == .in ? "from" : "to"))
        }
        try container.encodeIfPresent(interface, forKey: AnyKey("interface"))
        try container.encodeIfPresent(comment, forKey: AnyKey("comment"))
        try container.encodeIfPresent(limit?.description, forKey: AnyKey("limit"))
        try container.encodeIfPresent(expires.map(PolicyFile.timestamp), forKey: AnyKey("expires"))
        if log { try container.encode(true, forKey: AnyKey("log")) }
    }
}
