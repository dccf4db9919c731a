/// A fast reader for the plain block YAML that policy files are made of: indented mappings and
/// sequences, one scalar or one-line flow list per key, plain or quoted scalars and comments:
/// everything ``PolicyFile/encode(_:)`` writes, and what people write by hand.
///
/// It is a shortcut, not a second YAML implementation: at the first thing outside that subset
/// (anchors, tags, block scalars, flow mappings, multi-line scalars, indentless lists, tabs,
/// duplicate keys, unusual escapes or line breaks) it gives up and returns nil, and the file
/// is read by libyaml through Yams, which also produces every error message. What it accepts
/// it reads exactly as libyaml does; tests compare the two on generated and hand-made files.
/// At 100,000 addresses it reads a policy 2.3 times faster than Yams building its node tree, and a
/// small one 15 times faster (docs/benchmarks.md: Yams compiles its resolver on first use).
package struct BlockYAML {
    /// One line with content: its indentation and the bytes after it.
    private struct Line {
        var indent: Int
        var content: ArraySlice<UInt8>
    }

    private struct GiveUp: Error {}

    private var lines: [Line] = []
    private var index = 0

    /// The document, `.some(nil)` for a document with no content, or nil when the text is
    /// outside the subset (read it with Yams then).
    package static func parse(_ text: String) -> DocumentValue?? {
        var reader = BlockYAML()
        do {
            guard try reader.split(Array(text.utf8)) else { return .some(nil) }
            let value = try reader.block(indent: reader.lines[0].indent)
            guard reader.index == reader.lines.count else { return nil }
            return .some(value)
        } catch {
            return nil
        }
    }

    /// Splits into content lines; false when there are none.
    private mutating func split(_ bytes: [UInt8]) throws(GiveUp) -> Bool {
        var start = 0
        for (position, byte) in bytes.enumerated() {
            if byte == 0x0a {
                try addLine(bytes[start..<position])
                start = position + 1
            } else if (byte < 0x20 && byte != 0x0a) || byte == 0x7f {
                throw GiveUp()  // tabs, carriage returns, other controls
            } else if byte == 0xc2 || byte == 0xe2 || byte == 0xef {
                // What libyaml treats as a line break (NEL C2 85, LS/PS E2 80 A8/A9) or refuses
                // (C1 controls C2 80-9F, U+FFFE/U+FFFF), and the byte order mark (EF BB BF).
                let next = position + 1 < bytes.count ? bytes[position + 1] : 0
                let third = position + 2 < bytes.count ? bytes[position + 2] : 0
                if (byte == 0xc2 && (0x80...0x9f).contains(next))
                    || (byte == 0xe2 && next == 0x80 && (third == 0xa8 || third == 0xa9))
                    || (byte == 0xef && next == 0xbb && third == 0xbf)
                    || (byte == 0xef && next == 0xbf && (third == 0xbe || third == 0xbf)) {
                    throw GiveUp()
                }
            }
        }
        try addLine(bytes[start...])
        return !lines.isEmpty
    }

    private mutating func addLine(_ raw: ArraySlice<UInt8>) throws(GiveUp) {
        var content = raw
        var indent = 0
        while content.first == 0x20 { content = content.dropFirst(); indent += 1 }
        while content.last == 0x20 { content = content.dropLast() }
        if content.isEmpty || content.first == UInt8(ascii: "#") { return }
        if lines.isEmpty, content.starts(with: "---".utf8) || content.first == UInt8(ascii: "%") { throw GiveUp() }
        if content.starts(with: "...".utf8) && indent == 0 { throw GiveUp() }
        lines.append(Line(indent: indent, content: content))
    }

    /// A block at exactly `indent`: a sequence when it starts with `-`, else a mapping.
    private mutating func block(indent: Int) throws(GiveUp) -> DocumentValue {
        guard index < lines.count, lines[index].indent == indent else { throw GiveUp() }
        if Self.isSequenceEntry(lines[index].content) { return try sequence(indent: indent) }
        return try mapping(indent: indent)
    }

    private static func isSequenceEntry(_ content: ArraySlice<UInt8>) -> Bool {
        content.first == UInt8(ascii: "-") && (content.count == 1 || content[content.startIndex + 1] == 0x20)
    }

    private mutating func sequence(indent: Int) throws(GiveUp) -> DocumentValue {
        var items: [DocumentValue] = []
        while index < lines.count, lines[index].indent == indent, Self.isSequenceEntry(lines[index].content) {
            var rest = lines[index].content.dropFirst()
            var column = indent + 1
            while rest.first == 0x20 { rest = rest.dropFirst(); column += 1 }
            if rest.isEmpty || rest.first == UInt8(ascii: "#") {
                index += 1
                items.append(try nested(under: indent))
            } else if Self.key(of: rest) != nil {
                // `- key: value`: a mapping whose first line starts after the dash.
                lines[index] = Line(indent: column, content: rest)
                items.append(try mapping(indent: column))
            } else {
                if Self.isSequenceEntry(rest) { throw GiveUp() }
                index += 1
                items.append(try Self.inlineValue(rest))
                try refuseContinuation(after: indent)
            }
        }
        if index < lines.count, lines[index].indent > indent { throw GiveUp() }
        return .list(items)
    }

    private mutating func mapping(indent: Int) throws(GiveUp) -> DocumentValue {
        var entries: [DocumentValue.Entry] = []
        while index < lines.count, lines[index].indent == indent {
            let content = lines[index].content
            guard let (key, rest) = Self.key(of: content) else { throw GiveUp() }
            if entries.contains(where: { $0.key == key }) { throw GiveUp() }  // Yams names the duplicate
            index += 1
            if rest.isEmpty || rest.first == UInt8(ascii: "#") {
                if index < lines.count, lines[index].indent == indent, Self.isSequenceEntry(lines[index].content) {
                    throw GiveUp()  // an indentless list
                }
                entries.append(.init(key: key, value: try nested(under: indent)))
            } else {
                entries.append(.init(key: key, value: try Self.inlineValue(rest)))
                try refuseContinuation(after: indent)
            }
        }
        if index < lines.count, lines[index].indent > indent { throw GiveUp() }
        return .mapping(entries)
    }

    /// The block nested under a line at `indent`, or null when nothing deeper follows.
    private mutating func nested(under indent: Int) throws(GiveUp) -> DocumentValue {
        guard index < lines.count, lines[index].indent > indent else { return .null }
        return try block(indent: lines[index].indent)
    }

    /// A deeper line after an inline value would continue a plain scalar: not ours to read.
    private func refuseContinuation(after indent: Int) throws(GiveUp) {
        if index < lines.count, lines[index].indent > indent { throw GiveUp() }
    }

    /// `word:` at the start of a line, and what follows the colon (after one or more spaces).
    private static func key(of content: ArraySlice<UInt8>) -> (String, ArraySlice<UInt8>)? {
        var end = content.startIndex
        while end < content.endIndex, isKeyByte(content[end]) { end += 1 }
        guard end > content.startIndex, end < content.endIndex, content[end] == UInt8(ascii: ":") else { return nil }
        let after = content[(end + 1)...]
        guard after.isEmpty || after.first == 0x20 else { return nil }
        var rest = after
        while rest.first == 0x20 { rest = rest.dropFirst() }
        return (String(decoding: content[content.startIndex..<end], as: UTF8.self), rest)
    }

    private static func isKeyByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }

    // MARK: Values on one line

    /// A scalar or a one-line flow list, then at most a comment.
    private static func inlineValue(_ text: ArraySlice<UInt8>) throws(GiveUp) -> DocumentValue {
        var rest = text
        let value: DocumentValue
        switch text.first {
        case UInt8(ascii: "["):
            value = try flowList(&rest)
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            value = .scalar(try quoted(&rest), plain: false)
        default:
            return try plain(text, inFlow: false)
        }
        try endOfLine(rest)
        return value
    }

    private static func endOfLine(_ rest: ArraySlice<UInt8>) throws(GiveUp) {
        var rest = rest
        let hadSpace = rest.first == 0x20
        while rest.first == 0x20 { rest = rest.dropFirst() }
        if rest.isEmpty || (hadSpace && rest.first == UInt8(ascii: "#")) { return }
        throw GiveUp()
    }

    private static func flowList(_ rest: inout ArraySlice<UInt8>) throws(GiveUp) -> DocumentValue {
        rest = rest.dropFirst()  // [
        var items: [DocumentValue] = []
        func skipSpaces() { while rest.first == 0x20 { rest = rest.dropFirst() } }
        skipSpaces()
        if rest.first == UInt8(ascii: "]") {
            rest = rest.dropFirst()
            return .list(items)
        }
        while true {
            skipSpaces()
            switch rest.first {
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                items.append(.scalar(try quoted(&rest), plain: false))
            case nil:
                throw GiveUp()
            default:
                var end = rest.startIndex
                while end < rest.endIndex, rest[end] != UInt8(ascii: ","), rest[end] != UInt8(ascii: "]") { end += 1 }
                var word = rest[rest.startIndex..<end]
                while word.last == 0x20 { word = word.dropLast() }
                items.append(try plain(word, inFlow: true))
                rest = rest[end...]
            }
            skipSpaces()
            switch rest.first {
            case UInt8(ascii: ","):
                rest = rest.dropFirst()
            case UInt8(ascii: "]"):
                rest = rest.dropFirst()
                return .list(items)
            default:
                throw GiveUp()
            }
        }
    }

    /// A plain scalar, when it is plainly one: no indicator first, nothing YAML could read as
    /// structure inside (`: `, ` #`, brackets; in a flow list also `:` and `,`).
    private static func plain(_ text: ArraySlice<UInt8>, inFlow: Bool) throws(GiveUp) -> DocumentValue {
        var text = text
        // A comment ends a plain scalar (in a flow list it would swallow the `]`: refused below).
        var position = text.startIndex
        while !inFlow, position < text.endIndex {
            if text[position] == UInt8(ascii: "#"), position > text.startIndex, text[position - 1] == 0x20 {
                text = text[text.startIndex..<position]
                break
            }
            position += 1
        }
        while text.last == 0x20 { text = text.dropLast() }
        guard let first = text.first else { throw GiveUp() }
        if "?:,[]{}#&*!|>'\"%@`".utf8.contains(first) { throw GiveUp() }
        if first == UInt8(ascii: "-") && (text.count == 1 || text[text.startIndex + 1] == 0x20) { throw GiveUp() }
        for (offset, byte) in text.enumerated() {
            switch byte {
            case UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}"):
                throw GiveUp()
            case UInt8(ascii: ","), UInt8(ascii: "#"):
                if inFlow { throw GiveUp() }
            case UInt8(ascii: ":"):
                let next = text.index(text.startIndex, offsetBy: offset + 1)
                if inFlow || next == text.endIndex || text[next] == 0x20 { throw GiveUp() }
            default:
                break
            }
        }
        let string = String(decoding: text, as: UTF8.self)
        if ["~", "null", "Null", "NULL"].contains(string) { return .null }
        return .scalar(string, plain: true)
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// A single- or double-quoted scalar closed on this line.
    private static func quoted(_ rest: inout ArraySlice<UInt8>) throws(GiveUp) -> String {
        let quote = rest.first!
        rest = rest.dropFirst()
        var out: [UInt8] = []
        while let byte = rest.first {
            rest = rest.dropFirst()
            if byte == quote {
                if quote == UInt8(ascii: "'"), rest.first == UInt8(ascii: "'") {
                    out.append(byte)
                    rest = rest.dropFirst()
                    continue
                }
                return String(decoding: out, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\"), quote == UInt8(ascii: "\"") {
                guard let escape = rest.first else { throw GiveUp() }
                rest = rest.dropFirst()
                if let byte = simpleEscape(escape) {
                    out.append(byte)
                    continue
                }
                switch escape {
                case UInt8(ascii: "0"): out.append(0x00)
                case UInt8(ascii: "a"): out.append(0x07)
                case UInt8(ascii: "v"): out.append(0x0b)
                case UInt8(ascii: "e"): out.append(0x1b)
                case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let width = escape == UInt8(ascii: "x") ? 2 : escape == UInt8(ascii: "u") ? 4 : 8
                    guard rest.count >= width, rest.prefix(width).allSatisfy(Self.isHexDigit),
                          let code = UInt32(String(decoding: rest.prefix(width), as: UTF8.self), radix: 16),
                          let scalar = Unicode.Scalar(code)
                    else { throw GiveUp() }
                    rest = rest.dropFirst(width)
                    out.append(contentsOf: String(Character(scalar)).utf8)
                default:
                    throw GiveUp()
                }
                continue
            }
            out.append(byte)
        }
        throw GiveUp()  // not closed on this line
    }
}
