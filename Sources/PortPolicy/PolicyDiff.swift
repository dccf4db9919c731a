/// What differs between two policies, rule by rule and default by default, in an admin's terms:
/// `portctl diff OLD NEW`, and the table of a proposal's review. It compares policies, not a
/// policy with the kernel (that is ``Planner``), so every source list is shown in full.
public struct PolicyDiff: Sendable, Hashable, Codable {
    /// One rule, forward, route or default that differs.
    public struct Entry: Sendable, Hashable, Codable {
        /// Whether it is new, gone, or changed.
        public enum Kind: String, Sendable, Hashable, Codable {
            case added, removed, changed
        }

        /// Added, removed or changed.
        public var kind: Kind
        /// The rule id, or the default's name (`default inbound`, `table`).
        public var id: String
        /// One line for the old rule or value; nil when it is new.
        public var before: String?
        /// One line for the new rule or value; nil when it is gone.
        public var after: String?
        /// Sources (for outbound rules, destinations) the new rule admits or matches that the old
        /// did not, each address or network as listed, `@FILE` for a file read; empty otherwise.
        public var addedSources: [String] = []
        /// Sources the old rule had that the new one does not.
        public var removedSources: [String] = []
        /// For routes: receiving networks added.
        public var addedDestinations: [String] = []
        /// For routes: receiving networks removed.
        public var removedDestinations: [String] = []
    }

    /// The differences, in the new policy's order, then what it no longer has, then defaults.
    public var entries: [Entry]

    /// Whether the two are the same policy.
    public var isEmpty: Bool { entries.isEmpty }

    /// Compares `old` (nil: no policy yet) with `new`.
    public static func between(_ old: PortPolicy?, _ new: PortPolicy) -> PolicyDiff {
        var entries: [Entry] = []
        let before = old.map(items) ?? []
        let after = items(new)
        let oldByID = Dictionary(before.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let newIDs = Set(after.map(\.id))
        for item in after {
            guard let previous = oldByID[item.id] else {
                entries.append(Entry(kind: .added, id: item.id, before: nil, after: item.summary,
                                     addedSources: item.sources, addedDestinations: item.destinations))
                continue
            }
            if previous == item { continue }
            entries.append(Entry(kind: .changed, id: item.id, before: previous.summary, after: item.summary,
                                 addedSources: item.sources.filter { !previous.sources.contains($0) },
                                 removedSources: previous.sources.filter { !item.sources.contains($0) },
                                 addedDestinations: item.destinations.filter { !previous.destinations.contains($0) },
                                 removedDestinations: previous.destinations.filter { !item.destinations.contains($0) }))
        }
        for item in before where !newIDs.contains(item.id) {
            entries.append(Entry(kind: .removed, id: item.id, before: item.summary, after: nil,
                                 removedSources: item.sources, removedDestinations: item.destinations))
        }
        let defaults: [(String, String?, String)] = [
            ("table", old.map { "inet " + $0.table }, "inet " + new.table),
            ("default inbound", old?.inbound.rawValue, new.inbound.rawValue),
            ("default outbound", old?.outbound.rawValue, new.outbound.rawValue),
            ("default published", old?.published.rawValue, new.published.rawValue),
            ("default routed", old?.routed.rawValue, new.routed.rawValue),
            ("log default", old.map { $0.logDefault ? "on" : "off" }, new.logDefault ? "on" : "off"),
            ("drop record", old.map(\.drops.text), new.drops.text),
        ]
        for (name, was, now) in defaults where was != now {
            entries.append(Entry(kind: was == nil ? .added : .changed, id: name, before: was, after: now))
        }
        return PolicyDiff(entries: entries)
    }

    /// A rule, forward or route reduced to what a reviewer compares.
    struct Item: Hashable {
        var id: String
        var summary: String
        var sources: [String]
        var destinations: [String]
        /// The rule itself: anything else that differs (ports, interface, limit, comment, ...)
        /// makes the two differ.
        var value: AnyHashable
    }

    static func items(_ policy: PortPolicy) -> [Item] {
        let rules = policy.rules.map { rule in
            let files = rule.sourceFiles.map { "@" + $0.path }
            let listed = (rule.readsFiles ? rule.inlineSources : rule.sources).map(\.description)
            return Item(id: rule.id, summary: rule.summary + (rule.comment.map { " (\($0))" } ?? ""),
                        sources: listed + files, destinations: [],
                        value: rule)
        }
        let forwards = policy.forwards.map { forward in
            Item(id: forward.id, summary: forward.summary + (forward.comment.map { " (\($0))" } ?? ""),
                 sources: forward.sources.map(\.description), destinations: [], value: forward)
        }
        let routes = policy.routes.map { route in
            Item(id: route.id, summary: route.summary + (route.comment.map { " (\($0))" } ?? ""),
                 sources: route.sources.map(\.description), destinations: route.destinations.map(\.description), value: route)
        }
        return rules + forwards + routes
    }
}
