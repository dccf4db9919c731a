import Yams

/// A policy file's content as parsed, before it means anything. YAML (through libyaml) and JSON
/// (a strict parser of our own) both read into this shape, and one reader turns it into a
/// ``PortPolicy`` with errors that name the place (`rules[2].ports`).
///
/// Reading straight from this tree rather than through `Codable` keeps a 100,000-address policy
/// cheap to load: Yams' `Decoder` spent more time per scalar than libyaml did parsing it.
///
/// `package`, not `public`: the parser benchmark (Benchmarks/ParserBench) reads into it.
package enum DocumentValue: Sendable, Hashable {
    /// A scalar's text. `plain` when it was written without quotes (a YAML plain scalar, a JSON
    /// number or boolean), so that `yes` and `"yes"` can differ where YAML says they do.
    case scalar(String, plain: Bool)
    /// Nothing: `key:` with no value, `~`, `null`.
    case null
    /// A sequence.
    case list([DocumentValue])
    /// A mapping, in the order the file wrote its keys.
    case mapping([Entry])

    /// One key and its value.
    package struct Entry: Sendable, Hashable {
        package var key: String
        package var value: DocumentValue

        package init(key: String, value: DocumentValue) {
            self.key = key
            self.value = value
        }
    }

    /// What the value is, for messages: "a list", "a mapping".
    var kindDescription: String {
        switch self {
        case .scalar: "a single value"
        case .null: "nothing"
        case .list: "a list"
        case .mapping: "a mapping"
        }
    }
}

// MARK: - YAML

extension DocumentValue {
    /// Parses YAML text; nil when the document holds no value at all (only comments).
    static func parseYAML(_ text: String) throws(PolicyError) -> DocumentValue? {
        if let value = BlockYAML.parse(text) { return value }
        return try parseWithYams(text)
    }

    /// Parses YAML text with libyaml (through Yams): any YAML, and every YAML error message.
    ///
    /// The tree keeps each scalar's text and style, never the tag Yams resolves, so the
    /// `basic` resolver serves: it builds and runs no regular expressions (half the time on a
    /// small file, and 0.4 ms instead of 1.8 ms on first use: docs/benchmarks.md). What it
    /// changes: `1:` and `"1":` in one mapping are one key twice, refused as a duplicate.
    /// `resolvingTags` uses Yams' default resolver instead (for the parser benchmark).
    package static func parseWithYams(_ text: String, resolvingTags: Bool = false) throws(PolicyError) -> DocumentValue? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text, resolvingTags ? .default : .basic)
        } catch {
            throw .invalidDocument("the policy file is not valid YAML: " + PolicyFile.oneLine(String(describing: error)))
        }
        guard let root else { return nil }
        // Aliases share nodes; expanding them could make a small file enormous. A real file has
        // at most about one value per byte.
        var budget = text.utf8.count + 16
        return try DocumentValue(yaml: root, budget: &budget)
    }

    private init(yaml node: Node, budget: inout Int) throws(PolicyError) {
        budget -= 1
        if budget < 0 {
            throw .invalidDocument("the policy file expands to more values than it holds (YAML aliases?); write the values out")
        }
        switch node {
        case let .scalar(scalar):
            let plain = scalar.style == .plain || scalar.style == .any
            if plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                self = .null
            } else {
                self = .scalar(scalar.string, plain: plain)
            }
        case let .sequence(sequence):
            var items: [DocumentValue] = []
            items.reserveCapacity(sequence.count)
            for item in sequence { items.append(try DocumentValue(yaml: item, budget: &budget)) }
            self = .list(items)
        case let .mapping(mapping):
            var entries: [Entry] = []
            for (key, value) in mapping {
                guard case let .scalar(name) = key else {
                    throw .invalidDocument("the policy file uses a list or mapping as a key; keys are words like `ports`")
                }
                entries.append(Entry(key: name.string, value: try DocumentValue(yaml: value, budget: &budget)))
            }
            self = .mapping(entries)
        case .alias:
            throw .invalidDocument("the policy file uses an unresolved YAML alias; write the value out")
        }
    }
}

// MARK: - JSON

extension DocumentValue {
    /// Parses JSON text (RFC 8259, strictly: no comments, no trailing commas, no duplicate keys).
    package static func parseJSON(_ text: String) throws(PolicyError) -> DocumentValue {
        var parser = JSONParser(bytes: Array(text.utf8))
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        if parser.index < parser.bytes.count { throw parser.failure("unexpected text after the end of the document") }
        return value
    }
}

/// A byte-level JSON reader; errors name the line.
private struct JSONParser {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func failure(_ what: String) -> PolicyError {
        let line = 1 + bytes[..<min(index, bytes.count)].lazy.filter { $0 == UInt8(ascii: "\n") }.count
        return .invalidDocument("the policy file is not valid JSON: line \(line): \(what)")
    }

    static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d
    }

    /// Whether `byte` ends a bare word (`true`, a number): space or structure.
    static func endsWord(_ byte: UInt8) -> Bool {
        isSpace(byte) || byte == UInt8(ascii: ",") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: ":")
    }

    mutating func skipSpace() {
        while index < bytes.count, Self.isSpace(bytes[index]) { index += 1 }
    }

    mutating func expect(_ byte: UInt8) throws(PolicyError) {
        skipSpace()
        guard index < bytes.count, bytes[index] == byte else {
            throw failure(index < bytes.count ? "expected \"\(Character(Unicode.Scalar(byte)))\"" : "the text ends too early")
        }
        index += 1
    }

    mutating func value(depth: Int) throws(PolicyError) -> DocumentValue {
        guard depth < 64 else { throw failure("nested more than 64 levels deep") }
        skipSpace()
        guard index < bytes.count else { throw failure("the text ends too early") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            var entries: [DocumentValue.Entry] = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .mapping(entries) }
            while true {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a key in double quotes") }
                let key = try string()
                if entries.contains(where: { $0.key == key }) { throw failure("the key \(quoted(key)) appears twice in one object") }
                try expect(UInt8(ascii: ":"))
                entries.append(.init(key: key, value: try value(depth: depth + 1)))
                skipSpace()
                guard index < bytes.count else { throw failure("the text ends too early") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .mapping(entries) }
                throw failure("expected \",\" or \"}\"")
            }
        case UInt8(ascii: "["):
            index += 1
            var items: [DocumentValue] = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .list(items) }
            while true {
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard index < bytes.count else { throw failure("the text ends too early") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .list(items) }
                throw failure("expected \",\" or \"]\"")
            }
        case UInt8(ascii: "\""):
            return .scalar(try string(), plain: false)
        default:
            let start = index
            while index < bytes.count, !Self.endsWord(bytes[index]) { index += 1 }
            let word = String(decoding: bytes[start..<index], as: UTF8.self)
            if word == "null" { return .null }
            if word == "true" || word == "false" || Self.isNumber(word) { return .scalar(word, plain: true) }
            index = start
            throw failure("unexpected \(quoted(word.isEmpty ? String(decoding: bytes[start...start], as: UTF8.self) : word))")
        }
    }

    /// A JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    static func isNumber(_ word: String) -> Bool {
        var rest = Substring(word)
        if rest.first == "-" { rest = rest.dropFirst() }
        func digits(_ text: inout Substring) -> Int {
            let count = text.prefix { $0.isASCII && $0.isNumber }.count
            text = text.dropFirst(count)
            return count
        }
        let whole = rest
        let count = digits(&rest)
        if count == 0 || (count > 1 && whole.first == "0") { return false }
        if rest.first == "." {
            rest = rest.dropFirst()
            if digits(&rest) == 0 { return false }
        }
        if rest.first == "e" || rest.first == "E" {
            rest = rest.dropFirst()
            if rest.first == "+" || rest.first == "-" { rest = rest.dropFirst() }
            if digits(&rest) == 0 { return false }
        }
        return rest.isEmpty
    }

    mutating func string() throws(PolicyError) -> String {
        index += 1  // the opening quote
        var out: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: out, as: UTF8.self) else { throw failure("a string is not UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { throw failure("the text ends too early") }
                let escape = bytes[index]
                index += 1
                if let byte = simpleEscape(escape) {
                    out.append(byte)
                    continue
                }
                switch escape {
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xd800..<0xdc00).contains(code) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw failure("a \\u escape holds half a surrogate pair")
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xdc00..<0xe000).contains(low) else { throw failure("a \\u escape holds half a surrogate pair") }
                        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw failure("a \\u escape holds half a surrogate pair") }
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    throw failure("unknown escape \\\(Character(Unicode.Scalar(escape)))")
                }
            default:
                if byte < 0x20 { throw failure("a string holds a raw control character; escape it") }
                out.append(byte)
            }
        }
        throw failure("a string is not closed")
    }

    mutating func hex4() throws(PolicyError) -> UInt32 {
        guard index + 4 <= bytes.count, let code = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16) else {
            throw failure("a \\u escape needs four hex digits")
        }
        index += 4
        return code
    }
}

/// The byte a one-letter escape stands for in both JSON and YAML double-quoted strings:
/// `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`.
func simpleEscape(_ letter: UInt8) -> UInt8? {
    switch letter {
    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): letter
    case UInt8(ascii: "b"): 0x08
    case UInt8(ascii: "f"): 0x0c
    case UInt8(ascii: "n"): 0x0a
    case UInt8(ascii: "r"): 0x0d
    case UInt8(ascii: "t"): 0x09
    default: nil
    }
}

// MARK: - Any Decoder (embedding a policy in another Codable document)

extension DocumentValue: Decodable {
    /// Reads whatever the decoder holds. Used when a ``PortPolicy`` is decoded as part of some
    /// other document; the policy file itself is read by ``PolicyFile``.
    package init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer() {
            if single.decodeNil() { self = .null; return }
            if let bool = try? single.decode(Bool.self) { self = .scalar(bool ? "true" : "false", plain: true); return }
            if let int = try? single.decode(Int.self) { self = .scalar(String(int), plain: true); return }
            if let text = try? single.decode(String.self) { self = .scalar(text, plain: false); return }
        }
        if var list = try? decoder.unkeyedContainer() {
            var items: [DocumentValue] = []
            while !list.isAtEnd { items.append(try list.decode(DocumentValue.self)) }
            self = .list(items)
            return
        }
        let container = try decoder.container(keyedBy: AnyKey.self)
        self = .mapping(try container.allKeys.sorted { $0.stringValue < $1.stringValue }.map {
            Entry(key: $0.stringValue, value: try container.decode(DocumentValue.self, forKey: $0))
        })
    }
}

// MARK: - Reading

/// Reads typed values out of a ``DocumentValue`` mapping; errors name `place.key`.
struct DocumentMapping {
    let entries: [DocumentValue.Entry]
    /// Where this mapping is, for messages: `policy`, `rules[2]`, `defaults`.
    let place: String

    init(_ value: DocumentValue, place: String) throws(PolicyError) {
        guard case let .mapping(entries) = value else {
            throw .invalidDocument("\(place): expected a mapping of keys, found \(value.kindDescription)")
        }
        self.entries = entries
        self.place = place
    }

    /// `place.key`, or `key` at the top level.
    func path(_ key: String) -> String { place == "policy" ? key : "\(place).\(key)" }

    /// The value of `key`, nil when absent.
    subscript(_ key: String) -> DocumentValue? {
        entries.first { $0.key == key }?.value
    }

    /// Whether `key` is present (even with no value).
    func contains(_ key: String) -> Bool { entries.contains { $0.key == key } }

    /// Refuses keys outside `known`, suggesting the closest known key.
    func refuseUnknownKeys(_ known: [String]) throws(PolicyError) {
        var seen: Set<String> = []
        for entry in entries {
            if !seen.insert(entry.key).inserted {
                throw .invalidDocument("\(place): the key \(quoted(entry.key)) appears twice")
            }
            if known.contains(entry.key) { continue }
            let suggestion = known.min { editDistance($0, entry.key) < editDistance($1, entry.key) }
            var message = "\(place): unknown key \(quoted(entry.key))"
            if let suggestion, editDistance(suggestion, entry.key) <= 2 {
                message += "; did you mean \(quoted(suggestion))?"
            } else {
                message += "; allowed keys are \(known.joined(separator: ", "))"
            }
            throw .invalidDocument(message)
        }
    }

    /// A scalar's text; nil when absent or empty.
    func string(_ key: String) throws(PolicyError) -> String? {
        guard let value = self[key] else { return nil }
        switch value {
        case .null: return nil
        case let .scalar(text, _): return text
        default: throw .invalidDocument("\(path(key)): expected a string, found \(value.kindDescription)")
        }
    }

    /// A whole number written as a number.
    func int(_ key: String) throws(PolicyError) -> Int? {
        guard let value = self[key] else { return nil }
        if case .null = value { return nil }
        guard case let .scalar(text, true) = value, let number = Int(text) else {
            throw .invalidDocument("\(path(key)): expected a number")
        }
        return number
    }

    /// `true` or `false` (YAML's `yes`/`no`/`on`/`off` too, unquoted).
    func bool(_ key: String) throws(PolicyError) -> Bool? {
        guard let value = self[key] else { return nil }
        if case .null = value { return nil }
        if case let .scalar(text, true) = value {
            switch text.lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            default: break
            }
        }
        throw .invalidDocument("\(path(key)): expected true or false")
    }

    /// A member of a closed set of words.
    func closed<T: RawRepresentable & CaseIterable>(_ key: String, _ type: T.Type, field: String) throws(PolicyError) -> T?
        where T.RawValue == String {
        guard let raw = try string(key) else { return nil }
        guard let value = T(rawValue: raw) else {
            throw .invalidValue(raw, field: field, allowed: T.allCases.map(\.rawValue))
        }
        return value
    }
}
