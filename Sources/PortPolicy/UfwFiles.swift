/// Reading ufw's files: its settings, its rules files' `### tuple ###` lines, application
/// profiles, and the text helpers they share. No I/O: the caller hands the files' text.
extension UfwImport {
    /// The `KEY=VALUE` settings of a shell-style file (`ufw.conf`, `/etc/default/ufw`), quotes removed.
    public static func settings(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = trimmed(Substring(line))
            guard !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
            let key = trimmed[..<equals].filter { $0 != " " && $0 != "\t" }
            var value = trimmed[trimmed.index(after: equals)...]
            if let hash = value.firstIndex(of: "#"), !value.hasPrefix("\""), !value.hasPrefix("'") { value = value[..<hash] }
            value = Self.trimmed(value)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = value.dropFirst().dropLast()
            }
            result[String(key)] = String(value)
        }
        return result
    }

    /// Why `text` is not a rule file ufw wrote (`user.rules`, `user6.rules`), or nil when it is:
    /// ufw writes text holding its `### RULES ###` marker, with a `### tuple ###` line per rule.
    /// Anything else (random bytes, another program's file) would otherwise read as "no rules".
    public static func notRulesFile(_ text: String) -> String? {
        if text.unicodeScalars.contains(where: { $0 == "\u{FFFD}" || $0 == "\0" }) {
            return "it is not text (binary data)"
        }
        let marked = text.split(whereSeparator: \.isNewline).contains { line in
            let line = trimmed(line)
            return line == "### RULES ###" || line.hasPrefix("### tuple ###")
        }
        return marked ? nil : "it has neither ufw's \"### RULES ###\" marker nor any \"### tuple ###\" line"
    }

    /// The rules of one rule file, numbered from `firstNumber` as `ufw status numbered` numbers
    /// them (the tuples of one application rule, one per protocol, share a number); tuple lines
    /// ufw itself would skip come back as malformed, with their line numbers.
    public static func rules(_ text: String, family: IPFamily, firstNumber: Int = 1)
        -> (rules: [Rule], malformed: [(line: Int, text: String)]) {
        var rules: [Rule] = []
        var malformed: [(line: Int, text: String)] = []
        var appNumbers: [String: Int] = [:]
        var next = firstNumber
        let marker = "### tuple ###"
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            guard line.hasPrefix(marker) else { continue }
            var comment: String?
            if let range = line.firstRange(of: " comment=") {
                comment = hexDecode(String(trimmed(line[range.upperBound...])))
                line = line[..<range.lowerBound]
            }
            let fields = line.dropFirst(marker.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard var rule = rule(fields, family: family, number: next, comment: comment) else {
                malformed.append((index + 1, String(trimmed(Substring(rawLine)))))
                continue
            }
            if let key = rule.appKey, let number = appNumbers[key] {
                rule.number = number
            } else {
                if let key = rule.appKey { appNumbers[key] = next }
                next += 1
            }
            rules.append(rule)
        }
        return (rules, malformed)
    }

    /// One tuple's fields, read as ufw reads them (6 to 9 fields; the last of 7 or 9 is the
    /// direction with its interfaces, such as `in_eth0!out_eth1`).
    static func rule(_ fields: [String], family: IPFamily, number: Int, comment: String?) -> Rule? {
        guard (6...9).contains(fields.count) else { return nil }
        var direction = "in"
        var inInterface: String?, outInterface: String?
        if fields.count == 7 || fields.count == 9, let last = fields.last {
            direction = String(last.split(separator: "_", maxSplits: 1, omittingEmptySubsequences: false)[0])
            if last.contains("_") {
                let pieces = last.split(separator: "!", omittingEmptySubsequences: false)
                if pieces.count == 2, pieces[0].hasPrefix("in_"), pieces[1].hasPrefix("out_") {
                    inInterface = String(pieces[0].dropFirst(3))
                    outInterface = String(pieces[1].dropFirst(4))
                } else if last.hasPrefix("in_") && pieces.count == 1 {
                    inInterface = String(last.dropFirst(3))
                } else if last.hasPrefix("out_") && pieces.count == 1 {
                    outInterface = String(last.dropFirst(4))
                } else {
                    return nil
                }
            }
            guard direction == "in" || direction == "out" else { return nil }
        }
        var action = fields[0]
        let isRoute = action.hasPrefix("route:")
        if isRoute { action = String(action.dropFirst("route:".count)) }
        var logType = ""
        if let underscore = action.firstIndex(of: "_") {
            logType = String(action[action.index(after: underscore)...])
            action = String(action[..<underscore])
        }
        guard ["allow", "deny", "reject", "limit"].contains(action), ["", "log", "log-all"].contains(logType) else { return nil }
        let app: (Int) -> String? = { index in
            guard fields.count >= 8, fields[index] != "-" else { return nil }
            return fields[index].replacing("%20", with: " ")
        }
        return Rule(number: number, family: family, action: action, logType: logType, isRoute: isRoute,
                    proto: fields[1], destinationPort: fields[2], destination: fields[3], sourcePort: fields[4],
                    source: fields[5], destinationApp: app(6), sourceApp: app(7), direction: direction,
                    inInterface: inInterface.flatMap { $0.isEmpty ? nil : $0 },
                    outInterface: outInterface.flatMap { $0.isEmpty ? nil : $0 }, comment: comment)
    }

    /// An application profile's ports: each `|`-separated part of `ports=` as ports and protocols.
    public struct Profile: Sendable, Hashable {
        /// The profile's name (the INI section).
        public var name: String
        /// Its port groups, each with the protocols it names (both when it names none).
        public var entries: [(ports: [PortRange], proto: TransportProtocol)]

        /// Compares names and entries.
        public static func == (lhs: Profile, rhs: Profile) -> Bool {
            lhs.name == rhs.name && lhs.entries.elementsEqual(rhs.entries) { $0.ports == $1.ports && $0.proto == $1.proto }
        }

        /// Hashes the name and the ports.
        public func hash(into hasher: inout Hasher) {
            hasher.combine(name)
            for entry in entries {
                hasher.combine(entry.ports)
                hasher.combine(entry.proto)
            }
        }
    }

    /// The profiles of `applications.d` files, read as ufw does: INI sections with `ports=`
    /// (`80,443/tcp|53/udp`, ranges as `60000:61000/udp`); files in name order, a later
    /// profile of the same name wins; profiles whose ports do not parse are left out.
    public static func profiles(_ files: [String: String]) -> [String: Profile] {
        var result: [String: Profile] = [:]
        for name in files.keys.sorted() {
            var section: String?
            var sections: [(String, String)] = []
            for line in files[name]!.split(whereSeparator: \.isNewline) {
                let text = trimmed(Substring(line))
                if text.hasPrefix("#") || text.hasPrefix(";") || text.isEmpty { continue }
                if text.hasPrefix("["), text.hasSuffix("]") {
                    section = String(text.dropFirst().dropLast())
                    continue
                }
                guard let section, let separator = text.firstIndex(where: { $0 == "=" || $0 == ":" }) else { continue }
                if trimmed(text[..<separator]).lowercased() == "ports" {
                    sections.append((section, String(trimmed(text[text.index(after: separator)...]))))
                }
            }
            for (section, ports) in sections {
                var entries: [(ports: [PortRange], proto: TransportProtocol)] = []
                var valid = !ports.isEmpty
                for part in ports.split(separator: "|") {
                    let pieces = part.split(separator: "/", maxSplits: 1)
                    let proto: TransportProtocol
                    switch pieces.count == 2 ? String(pieces[1]) : "any" {
                    case "tcp": proto = .tcp
                    case "udp": proto = .udp
                    case "any": proto = .both
                    default: valid = false; proto = .both
                    }
                    guard let list = portList(String(pieces[0])) else { valid = false; continue }
                    entries.append((list, proto))
                }
                if valid { result[section] = Profile(name: section, entries: entries) }
            }
        }
        return result
    }

    /// ufw's port list (`22`, `80,443`, `8000:8100`, `81,90:95`) as ranges, or nil.
    static func portList(_ text: String, services: ServiceTable? = nil, proto: TransportProtocol = .tcp) -> [PortRange]? {
        var ranges: [PortRange] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = item.split(separator: ":", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count) else { return nil }
            var numbers: [Int] = []
            for bound in bounds {
                if !bound.isEmpty, bound.count <= 5, bound.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(bound) {
                    numbers.append(number)
                } else if bounds.count == 1, let services, let port = proto.members.compactMap({ services.port(named: String(bound), protocol: $0) }).first,
                          proto.members.allSatisfy({ services.port(named: String(bound), protocol: $0) == port }) {
                    numbers.append(Int(port))
                } else {
                    return nil
                }
            }
            guard let range = try? PortRange(numbers[0], numbers.count == 2 ? numbers[1] : nil) else { return nil }
            ranges.append(range)
        }
        return ranges.isEmpty ? nil : PortRange.merged(ranges)
    }

    // MARK: - Text helpers

    /// Without leading and trailing blanks.
    static func trimmed(_ text: Substring) -> Substring {
        var slice = text
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" || last == "\r" { slice = slice.dropLast() }
        return slice
    }

    /// ufw's hex-encoded comment as text (an odd last digit is dropped, as ufw does; bytes that
    /// are not UTF-8 become U+FFFD).
    static func hexDecode(_ hex: String) -> String? {
        var bytes: [UInt8] = []
        var high: UInt8?
        for character in hex {
            guard let digit = character.hexDigitValue else { return nil }
            if let value = high {
                bytes.append(value << 4 | UInt8(digit))
                high = nil
            } else {
                high = UInt8(digit)
            }
        }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.isEmpty ? nil : text
    }

    /// Text with control and invisible characters replaced by spaces, for one-line messages.
    static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { scalar in
            let category = scalar.properties.generalCategory
            return [.control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned].contains(category) ? " " : scalar
        }))
    }

    /// A ufw comment as a portctl comment: quotes become `'`, backslashes `/`, control
    /// characters spaces, cut to 90 bytes; nil when nothing printable is left.
    static func portctlComment(_ text: String) -> String? {
        var scalars = String.UnicodeScalarView()
        for scalar in printable(text).unicodeScalars {
            scalars.append(scalar == "\"" ? "'" : scalar == "\\" ? "/" : scalar)
        }
        var comment = String(trimmed(Substring(String(scalars))))
        while comment.utf8.count > PortRule.maximumCommentLength { comment.removeLast() }
        comment = String(trimmed(Substring(comment)))
        guard !comment.isEmpty, (try? PortRule.validateComment(comment)) != nil else { return nil }
        return comment
    }
}
