import Foundation

/// An oracle for "the kernel holds what the policy renders" that shares no code with portctl's
/// own reading of the kernel (`LiveTable`, `Planner`): `portctl render`'s text is loaded with
/// `nft -f` into a scratch namespace, both tables are listed by nft itself with `nft -s list
/// table`, and the two listings are compared after arranging only what carries no meaning.
///
/// - Top-level objects (chains, sets, counters) are compared by name: nft lists them in the
///   order they were added, which differs between one `nft -f` and a history of changes.
/// - Set elements are compared as a set: a hash set lists them in the kernel's hash order.
/// - The elements of ban sets (`portctl-bans-*`) and of dynamic sets (the drop record, rate
///   meters) are state the packet path or `portctl ban` adds, never rendered from the policy.
/// - An element's `timeout` counts from when it was added: the kernel's copy was added before
///   the scratch copy, so it may be longer by the time between the two, up to ``timeoutSlack``.
///
/// Rule order inside a chain, every rule's text, set flags and types, chain hooks and policies
/// are compared exactly.
struct RulesetOracle {
    /// How much longer the applied copy of an element's timeout may be than the fresh copy's.
    static let timeoutSlack = 900

    /// One `table … { … }` listing, split into its parts.
    struct Table: Equatable {
        /// The lines directly inside the table that open no block (`flags dormant`, `comment`).
        var header: [String] = []
        /// Each top-level block by its opening line.
        var blocks: [String: Block] = [:]
    }

    /// A chain, set, map or object: its lines in order, and its elements apart.
    struct Block: Equatable {
        var lines: [String] = []
        var elements: [Element] = []
    }

    /// A set element: its text without the timeout, and the timeout in seconds.
    struct Element: Equatable {
        var key: String
        var timeout: Int?
    }

    /// Reads `nft -s list table` text.
    static func parse(_ listing: String) -> Table {
        var table = Table()
        var current: (name: String, block: Block)?
        var elementText: String?
        for raw in listing.split(separator: "\n") {
            let line = String(raw)
            let depth = line.prefix { $0 == "\t" }.count
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty || depth == 0 { continue }
            if var pending = elementText {
                pending += " " + text
                if text.hasSuffix("}") {
                    current?.block.elements = elements(pending)
                    elementText = nil
                } else {
                    elementText = pending
                }
                continue
            }
            if depth == 1 {
                if text == "}" {
                    if let done = current { table.blocks[done.name] = done.block }
                    current = nil
                } else if text.hasSuffix("{") {
                    current = (text, Block())
                } else {
                    table.header.append(text)
                }
                continue
            }
            if text.hasPrefix("elements = {") {
                if text.hasSuffix("}") { current?.block.elements = elements(text) } else { elementText = text }
                continue
            }
            current?.block.lines.append(text)
        }
        for (name, block) in table.blocks where isState(name, block) {
            table.blocks[name]?.elements = []
        }
        return table
    }

    /// One way the applied table differs from the rendered one.
    struct Difference: CustomStringConvertible {
        /// The table header, or a block's opening line (`chain input {`).
        let object: String
        /// Lines (or elements) the kernel holds and the render does not.
        let onlyInKernel: [String]
        /// Lines (or elements) the render holds and the kernel does not.
        let onlyRendered: [String]
        /// What else differs: the order of the same lines, an element's timeout.
        var note: String? = nil

        var description: String {
            var parts = [object]
            if !onlyInKernel.isEmpty { parts.append("only in the kernel: " + onlyInKernel.joined(separator: " | ")) }
            if !onlyRendered.isEmpty { parts.append("only rendered: " + onlyRendered.joined(separator: " | ")) }
            if let note { parts.append(note) }
            return parts.joined(separator: "; ")
        }
    }

    /// Every difference between the applied table and the rendered one; empty when they hold
    /// the same.
    static func differences(applied: String, rendered: String) -> [Difference] {
        let live = parse(applied), fresh = parse(rendered)
        var found: [Difference] = []
        if live.header != fresh.header {
            found.append(Difference(object: "table header", onlyInKernel: live.header.filter { !fresh.header.contains($0) },
                                    onlyRendered: fresh.header.filter { !live.header.contains($0) }))
        }
        for name in Set(live.blocks.keys).union(fresh.blocks.keys).sorted() {
            guard let have = live.blocks[name] else { found.append(Difference(object: name, onlyInKernel: [], onlyRendered: [name])); continue }
            guard let want = fresh.blocks[name] else { found.append(Difference(object: name, onlyInKernel: [name], onlyRendered: [])); continue }
            if have.lines != want.lines {
                let extra = minus(have.lines, want.lines), missing = minus(want.lines, have.lines)
                found.append(Difference(object: name, onlyInKernel: extra, onlyRendered: missing,
                                        note: extra.isEmpty && missing.isEmpty ? "the same lines in another order" : nil))
            }
            let haveByKey = Dictionary(have.elements.map { ($0.key, $0.timeout) }, uniquingKeysWith: { a, _ in a })
            let wantByKey = Dictionary(want.elements.map { ($0.key, $0.timeout) }, uniquingKeysWith: { a, _ in a })
            let extra = Set(haveByKey.keys).subtracting(wantByKey.keys).sorted()
            let missing = Set(wantByKey.keys).subtracting(haveByKey.keys).sorted()
            if !extra.isEmpty || !missing.isEmpty || have.elements.count != want.elements.count {
                found.append(Difference(object: name + " elements", onlyInKernel: extra, onlyRendered: missing))
            }
            for (key, timeout) in haveByKey.sorted(by: { $0.key < $1.key })
            where wantByKey[key] != nil && !timeoutsAgree(applied: timeout, rendered: wantByKey[key] ?? nil) {
                let rendered = wantByKey[key].flatMap { $0 }
                found.append(Difference(object: name + " element " + key, onlyInKernel: [], onlyRendered: [],
                                        note: "timeout \(timeout.map { "\($0) s" } ?? "none") in the kernel, \(rendered.map { "\($0) s" } ?? "none") rendered"))
            }
        }
        return found
    }

    /// `lines` without one occurrence of each of `other`'s, in order.
    private static func minus(_ lines: [String], _ other: [String]) -> [String] {
        var left = Dictionary(other.map { ($0, 1) }, uniquingKeysWith: +)
        return lines.filter { line in
            guard let count = left[line], count > 0 else { return true }
            left[line] = count - 1
            return false
        }
    }

    private static func timeoutsAgree(applied: Int?, rendered: Int?) -> Bool {
        switch (applied, rendered) {
        case (nil, nil): true
        case let (a?, r?): a >= r && a - r <= timeoutSlack
        default: false
        }
    }

    /// Ban sets and dynamic sets hold state, not policy.
    private static func isState(_ name: String, _ block: Block) -> Bool {
        if name.hasPrefix("set portctl-bans-") { return true }
        return block.lines.contains { $0.hasPrefix("flags ") && $0.dropFirst(6).split(separator: ",").contains("dynamic") }
    }

    private static func elements(_ text: String) -> [Element] {
        var body = Substring(text)
        body = body.drop { $0 != "{" }.dropFirst()
        if body.hasSuffix("}") { body = body.dropLast() }
        return body.split(separator: ",").map { part in
            var words = part.split(separator: " ").map(String.init)
            var timeout: Int?
            if let at = words.firstIndex(of: "timeout"), at + 1 < words.count {
                timeout = seconds(words[at + 1])
                words.removeSubrange(at...(at + 1))
            }
            return Element(key: words.joined(separator: " "), timeout: timeout)
        }
    }

    /// nft's duration text (`2h`, `1d3h20m5s`, `500ms`) in whole seconds.
    static func seconds(_ text: String) -> Int? {
        var total = 0, number = 0, sawDigit = false
        var characters = Array(text)[...]
        while let character = characters.first {
            characters = characters.dropFirst()
            if let digit = character.wholeNumberValue {
                number = number * 10 + digit
                sawDigit = true
                continue
            }
            guard sawDigit else { return nil }
            if character == "m" && characters.first == "s" {
                characters = characters.dropFirst()
                number = 0
            } else {
                switch character {
                case "d": total += number * 86_400
                case "h": total += number * 3_600
                case "m": total += number * 60
                case "s": total += number
                default: return nil
                }
            }
            number = 0
            sawDigit = false
        }
        return sawDigit ? nil : total
    }
}
