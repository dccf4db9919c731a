import Foundation
import PortPolicy
import Yams

/// What `portctl-parser-bench` (Benchmarks/ParserBench, docs/benchmarks.md) times: the
/// hand-written readers of policy text and the library readers that could replace them, each by
/// itself, all reading into the same ``DocumentValue`` tree the policy is built from.
///
/// The alternatives are written here, as they would be written in the library if they replaced
/// a hand-written part, so that each is charged for everything it would have to do (a
/// duplicate-key check, the conversion into the tree). The library's readers are `package`
/// declarations: this target sees them, no other does.
enum ParserBench {
    /// A parsed document, comparable across readers.
    struct Tree: Equatable, Sendable {
        let value: DocumentValue

        /// How many values the tree holds (also keeps the optimizer from dropping a parse).
        var count: Int { Self.count(value) }

        /// The same tree with every mapping's keys sorted (readers through dictionaries lose
        /// the file's order).
        var sorted: Tree { Tree(value: Self.sorted(value)) }

        private static func count(_ value: DocumentValue) -> Int {
            switch value {
            case .scalar, .null: 1
            case let .list(items): items.reduce(1) { $0 + count($1) }
            case let .mapping(entries): entries.reduce(1) { $0 + count($1.value) }
            }
        }

        private static func sorted(_ value: DocumentValue) -> DocumentValue {
            switch value {
            case .scalar, .null: value
            case let .list(items): .list(items.map(sorted))
            case let .mapping(entries):
                .mapping(entries.map { DocumentValue.Entry(key: $0.key, value: sorted($0.value)) }.sorted { $0.key < $1.key })
            }
        }
    }

    // MARK: YAML

    /// The hand-written block-YAML shortcut alone; nil when it gives up on the text.
    static func blockYAML(_ text: String) -> Tree? {
        guard let value = BlockYAML.parse(text) else { return nil }
        return Tree(value: value ?? .null)
    }

    /// libyaml through Yams' node tree (`Yams.compose`) with its default resolver, converted
    /// into the document tree: what reading did when the shortcut gave up, before the basic
    /// resolver.
    static func yamsNodes(_ text: String) throws(PolicyError) -> Tree {
        Tree(value: try DocumentValue.parseWithYams(text, resolvingTags: true) ?? .null)
    }

    /// The same with Yams' `basic` resolver, as the policy reader now calls it: no regular
    /// expressions to build and run, which the tree does not need (it keeps each scalar's text
    /// and style, never its resolved tag).
    static func yamsNodesBasic(_ text: String) throws(PolicyError) -> Tree {
        Tree(value: try DocumentValue.parseWithYams(text, resolvingTags: false) ?? .null)
    }

    /// Yams' Codable path (`YAMLDecoder`) into the same tree, through ``DocumentValue``'s
    /// `Decodable` conformance (the one an embedded policy uses).
    static func yamsDecoder(_ text: String) throws -> Tree {
        Tree(value: try YAMLDecoder().decode(DocumentValue.self, from: text))
    }

    // MARK: JSON

    /// The hand-written strict JSON reader alone.
    static func strictJSON(_ text: String) throws(PolicyError) -> Tree {
        Tree(value: try DocumentValue.parseJSON(text))
    }

    /// `JSONSerialization`, then a scan of the text for what Foundation takes and the strict
    /// reader refuses (a key twice in one object, of which Foundation keeps the last; trailing
    /// commas; a byte order mark; nesting deeper than 64), then the conversion into the tree.
    /// Keys come out sorted: a dictionary does not keep the file's order.
    static func foundationJSON(_ text: String) throws -> Tree {
        let data = Data(text.utf8)
        let object = try JSONSerialization.jsonObject(with: data)
        try refuseWhatFoundationTakes(data)
        return Tree(value: tree(object))
    }

    /// `JSONDecoder` into the tree through its `Decodable` conformance, with the same scan (the
    /// decoder keeps the first of two equal keys silently).
    static func jsonDecoder(_ text: String) throws -> Tree {
        let data = Data(text.utf8)
        let value = try JSONDecoder().decode(DocumentValue.self, from: data)
        try refuseWhatFoundationTakes(data)
        return Tree(value: value)
    }

    private static func tree(_ object: Any) -> DocumentValue {
        // Containers before NSNumber: casting a Swift array or dictionary to a class bridges it
        // to NSArray or NSDictionary first, element by element.
        switch object {
        case let text as String:
            return .scalar(text, plain: false)
        case let mapping as [String: Any]:
            return .mapping(mapping.sorted { $0.key < $1.key }.map { DocumentValue.Entry(key: $0.key, value: tree($0.value)) })
        case let list as [Any]:
            return .list(list.map(tree))
        case let number as NSNumber:
            // Foundation's booleans are NSNumbers whose type is `c` (char).
            if number.objCType.pointee == CChar(UInt8(ascii: "c")) {
                return .scalar(number.boolValue ? "true" : "false", plain: true)
            }
            return .scalar(number.stringValue, plain: true)
        default:
            return .null  // NSNull
        }
    }

    /// Refuses, in JSON text Foundation has already accepted, what the strict reader refuses and
    /// Foundation does not: a key twice in one object, a comma before `}` or `]`, a byte order
    /// mark, nesting deeper than 64. Errors name the line as the strict reader's do.
    static func refuseWhatFoundationTakes(_ data: Data) throws {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
            let bytes = raw.bindMemory(to: UInt8.self)
            var keys: [[String]] = []  // per open object
            var objects: [Bool] = []  // per open container: whether it is an object
            var expectKey = false
            var afterComma = false
            var line = 1
            var index = 0
            func failure(_ what: String) -> PolicyError {
                .invalidDocument("the policy file is not valid JSON: line \(line): \(what)")
            }
            if bytes.starts(with: [0xef, 0xbb, 0xbf]) { throw failure("unexpected byte order mark") }
            while index < bytes.count {
                let byte = bytes[index]
                if afterComma, byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") { throw failure("a comma before \"\(Character(Unicode.Scalar(byte)))\"") }
                if byte != 0x20, byte != 0x0a, byte != 0x09, byte != 0x0d { afterComma = false }
                switch byte {
                case UInt8(ascii: "\n"):
                    line += 1
                case UInt8(ascii: "{"):
                    objects.append(true)
                    keys.append([])
                    expectKey = true
                    if objects.count > 64 { throw failure("nested more than 64 levels deep") }
                case UInt8(ascii: "["):
                    objects.append(false)
                    expectKey = false
                    if objects.count > 64 { throw failure("nested more than 64 levels deep") }
                case UInt8(ascii: "}"):
                    objects.removeLast()
                    keys.removeLast()
                    expectKey = false
                case UInt8(ascii: "]"):
                    objects.removeLast()
                    expectKey = false
                case UInt8(ascii: ","):
                    expectKey = objects.last == true
                    afterComma = true
                case UInt8(ascii: "\""):
                    let start = index + 1
                    var escaped = false
                    index += 1
                    while bytes[index] != UInt8(ascii: "\"") {
                        if bytes[index] == UInt8(ascii: "\\") { escaped = true; index += 1 }
                        index += 1
                    }
                    if expectKey {
                        let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
                        var key = String(decoding: raw, as: UTF8.self)
                        if escaped {
                            // Rare: let Foundation undo the escapes, so `"a"` and `"\u0061"` match.
                            let literal = Data(("\"" + key + "\"").utf8)
                            key = (try? JSONSerialization.jsonObject(with: literal, options: .fragmentsAllowed)) as? String ?? key
                        }
                        if keys[keys.count - 1].contains(key) {
                            throw failure("the key \(quoted(key)) appears twice in one object")
                        }
                        keys[keys.count - 1].append(key)
                        expectKey = false
                    }
                default:
                    break
                }
                index += 1
            }
        }
    }
}
