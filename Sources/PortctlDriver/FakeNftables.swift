public import PortPolicy
import Synchronization

/// A kernel in memory, for tests: it applies typed batches (`Batch`) to its tables with the
/// kernel's contract as portctl relies on it. A batch takes effect whole or not at all; a
/// missing table, chain, set, element or counter fails with the kernel's "No such file or
/// directory"; deleting a chain, set or counter that a rule still uses, or a chain that still
/// has rules, fails with "Device or resource busy"; an interval element that overlaps another
/// without being equal fails with "File exists". Elements are kept as they were added, as the
/// kernel keeps them (two adjacent networks stay two elements), and read back merged, as
/// `LiveTable` reads a listing.
///
/// What it does not model: expiry of timed elements (they never expire), rule handles, counter
/// values, other tables than portctl's (``Firewall/publishedPorts(excluding:)`` finds none),
/// and any command given as text: ``run(_:check:)`` fails.
public final class FakeNftables: NftablesBackend {
    struct Stored: Sendable {
        var table: Table
        /// Each set's elements as added (the set in ``table`` is kept empty).
        var elements: [String: [IPNetwork]]
    }

    struct State: Sendable {
        var tables: [String: Stored] = [:]
        var generation: UInt32 = 1
    }

    private let state = Mutex(State())
    private let cookie: UInt64

    /// Makes an empty kernel. `cookie` names its network namespace for the live cache.
    public init(cookie: UInt64 = 1) {
        self.cookie = cookie
    }

    /// Fails: the fake takes typed batches only.
    public func run(_ commands: String, check: Bool) throws(NftablesError) {
        throw NftablesError(detail: "Error: the fake kernel takes typed batches only, not nft text")
    }

    /// Applies a batch to a copy of the tables and keeps the copy only when every operation
    /// succeeded (and `check` is false).
    public func send(_ batch: Batch, check: Bool) throws(NftablesError) {
        let outcome: Result<Void, NftablesError> = state.withLock { state in
            var tables = state.tables
            for operation in batch.operations {
                do throws(NftablesError) {
                    try Self.apply(operation, to: &tables)
                } catch {
                    return .failure(error)
                }
            }
            if !check {
                state.tables = tables
                state.generation = LiveCache.following(state.generation)
            }
            return .success(())
        }
        try outcome.get()
    }

    /// The table as a listing reads it back, or nil.
    public func readTable(_ name: String) throws -> Table? {
        state.withLock { state in state.tables[name].map(Self.listed) }
    }

    /// Lists nothing but an empty chain list (no other table publishes ports here).
    public func listJSON(_ command: String) throws(NftablesError) -> String {
        // `list counter inet TABLE NAME`: whether the table holds that counter (its value is not kept).
        let words = command.split(separator: " ").map(String.init)
        if words.count == 5, words[0] == "list", words[1] == "counter", words[2] == "inet" {
            guard state.withLock({ $0.tables[words[3]]?.table.counters.contains(words[4]) }) == true else {
                throw NftablesError(detail: "Error: No such file or directory; did you mean counter ...?")
            }
            return #"{"nftables": [{"metainfo": {"json_schema_version": 1}}]}"#
        }
        guard command == "list chains" || command == "list ruleset" else {
            throw NftablesError(detail: "Error: the fake kernel cannot list \(command)")
        }
        return #"{"nftables": [{"metainfo": {"json_schema_version": 1}}]}"#
    }

    /// As ``listJSON(_:)``.
    public func listTerseJSON(_ command: String) throws(NftablesError) -> String { try listJSON(command) }

    /// Fails: the fake has no text listing.
    public func listText(_ command: String) throws(NftablesError) -> String {
        throw NftablesError(detail: "Error: the fake kernel cannot list \(command) as text")
    }

    /// Counts committed batches, like the kernel's ruleset generation.
    public func generation() -> UInt32? { state.withLock { $0.generation } }

    /// The table's flags, or nil when there is no such table.
    public func tableFlags(_ table: String) throws(NftablesError) -> UInt32? {
        state.withLock { $0.tables[table]?.table.flags }
    }

    /// The cookie given at creation.
    public func namespaceCookie() -> UInt64? { cookie }

    /// Changes a table behind portctl's back (drift, as `nft` by hand would), in one commit.
    /// Sets' elements are replaced by those of `body`'s result.
    public func tamper(_ name: String, _ body: (inout Table) -> Void) {
        state.withLock { state in
            guard let stored = state.tables[name] else { return }
            var table = Self.listed(stored)
            body(&table)
            state.tables[name] = Self.stored(table)
            state.generation = LiveCache.following(state.generation)
        }
    }

    // MARK: Semantics

    static func listed(_ stored: Stored) -> Table {
        var table = stored.table
        for index in table.sets.indices {
            let set = table.sets[index]
            var listed = AddressSet(name: set.name, family: set.family, elements: stored.elements[set.name] ?? [], kind: set.kind)
            listed.countsElements = set.countsElements
            if set.kind.isDynamic { listed = set }
            table.sets[index] = listed
        }
        return table
    }

    static func stored(_ table: Table) -> Stored {
        var stored = Stored(table: table, elements: [:])
        for index in stored.table.sets.indices {
            stored.elements[table.sets[index].name] = table.sets[index].elements
            stored.table.sets[index].elements = []
        }
        return stored
    }

    static let missing = NftablesError(detail: "Error: Could not process rule: No such file or directory")
    static let busy = NftablesError(detail: "Error: Could not process rule: Device or resource busy")
    static let overlap = NftablesError(detail: "Error: Could not process rule: File exists (interval overlaps an element)")

    static func apply(_ operation: NftOperation, to tables: inout [String: Stored]) throws(NftablesError) {
        switch operation {
        case let .addTable(name):
            if tables[name] == nil { tables[name] = Stored(table: Table(name: name), elements: [:]) } else { tables[name]!.table.flags = 0 }
        case let .deleteTable(name):
            guard tables.removeValue(forKey: name) != nil else { throw missing }
        case let .declareTable(table):
            if tables[table.name] == nil { tables[table.name] = Stored(table: Table(name: table.name), elements: [:]) }
            for counter in table.counters { try apply(.addCounter(table: table.name, name: counter), to: &tables) }
            for set in table.sets { try apply(.addSet(table: table.name, set: set), to: &tables) }
            for chain in table.chains { try apply(.addChain(table: table.name, chain: chain), to: &tables) }
            for chain in table.chains {
                for rule in chain.rules { try apply(.addRule(table: table.name, chain: chain.name, rule: rule), to: &tables) }
            }
        case let .flushChain(table, chain):
            try edit(&tables, table) { stored throws(NftablesError) in
                guard let index = stored.table.chains.firstIndex(where: { $0.name == chain }) else { throw missing }
                stored.table.chains[index].rules = []
            }
        case let .deleteChain(table, chain):
            try edit(&tables, table) { stored throws(NftablesError) in
                guard let index = stored.table.chains.firstIndex(where: { $0.name == chain }) else { throw missing }
                if !stored.table.chains[index].rules.isEmpty || references(stored.table).chains.contains(chain) { throw busy }
                stored.table.chains.remove(at: index)
            }
        case let .addChain(table, chain):
            try edit(&tables, table) { stored throws(NftablesError) in
                if let index = stored.table.chains.firstIndex(where: { $0.name == chain.name }) {
                    if chain.hook != nil { stored.table.chains[index].policy = chain.policy }
                } else {
                    var empty = chain
                    empty.rules = []
                    stored.table.chains.append(empty)
                }
            }
        case let .addRule(table, chain, rule):
            try edit(&tables, table) { stored throws(NftablesError) in
                guard let index = stored.table.chains.firstIndex(where: { $0.name == chain }) else { throw missing }
                let used = references(Table(name: table, chains: [Chain(name: "", hook: nil, policy: nil, rules: [rule])]))
                guard used.sets.allSatisfy({ stored.table.set($0) != nil }), used.counters.allSatisfy(stored.table.counters.contains),
                      used.chains.allSatisfy({ stored.table.chain($0) != nil }) else { throw missing }
                stored.table.chains[index].rules.append(rule)
            }
        case let .addSet(table, set):
            try edit(&tables, table) { stored throws(NftablesError) in
                if stored.table.set(set.name) == nil {
                    var empty = set
                    empty.elements = []
                    stored.table.sets.append(empty)
                    stored.elements[set.name] = []
                }
            }
            if set.kind.isDynamic { return }
            try apply(.addElements(table: table, set: set.name, elements: set.elements.map { SetElement($0) }), to: &tables)
        case let .deleteSet(table, set):
            try edit(&tables, table) { stored throws(NftablesError) in
                guard let index = stored.table.sets.firstIndex(where: { $0.name == set }) else { throw missing }
                if references(stored.table).sets.contains(set) { throw busy }
                stored.table.sets.remove(at: index)
                stored.elements[set] = nil
            }
        case let .addElements(table, set, elements):
            try edit(&tables, table) { stored throws(NftablesError) in
                guard let kind = stored.table.set(set)?.kind else { throw missing }
                var have = stored.elements[set] ?? []
                let interval = kind == .interval || kind == .timed
                for element in elements.map(\.network) where !have.contains(element) {
                    if interval && have.contains(where: { $0.overlaps(element) }) { throw overlap }
                    have.append(element)
                }
                stored.elements[set] = have
            }
        case let .deleteElements(table, set, elements):
            try edit(&tables, table) { stored throws(NftablesError) in
                guard stored.table.set(set) != nil else { throw missing }
                var have = stored.elements[set] ?? []
                for element in elements {
                    guard let index = have.firstIndex(of: element) else { throw missing }
                    have.remove(at: index)
                }
                stored.elements[set] = have
            }
        case let .addCounter(table, name):
            try edit(&tables, table) { stored throws(NftablesError) in
                if !stored.table.counters.contains(name) { stored.table.counters.append(name) }
            }
        case let .deleteCounter(table, name):
            try edit(&tables, table) { stored throws(NftablesError) in
                guard let index = stored.table.counters.firstIndex(of: name) else { throw missing }
                if references(stored.table).counters.contains(name) { throw busy }
                stored.table.counters.remove(at: index)
            }
        case let .deleteObject(table, kind, name):
            try edit(&tables, table) { stored throws(NftablesError) in
                guard let index = stored.table.unknownObjects.firstIndex(where: { $0.kind == kind && $0.name == name }) else { throw missing }
                stored.table.unknownObjects.remove(at: index)
            }
        }
    }

    static func edit(_ tables: inout [String: Stored], _ name: String, _ body: (inout Stored) throws(NftablesError) -> Void) throws(NftablesError) {
        guard var stored = tables[name] else { throw missing }
        try body(&stored)
        tables[name] = stored
    }

    /// The sets, counters and chains the table's rules use.
    static func references(_ table: Table) -> (sets: Set<String>, counters: Set<String>, chains: Set<String>) {
        var sets = Set<String>(), counters = Set<String>(), chains = Set<String>()
        for statement in table.chains.flatMap(\.rules).flatMap(\.statements) {
            switch statement {
            case let .match(_, _, .string(name)) where name.hasPrefix("@"): sets.insert(String(name.dropFirst()))
            case let .counter(name): counters.insert(name)
            case let .jump(chain), let .goto(chain): chains.insert(chain)
            case let .dispatch(entries): chains.formUnion(entries.map(\.chain))
            case let .overRate(set, _, _, _, _), let .record(set, _, _): sets.insert(set)
            default: break
            }
        }
        return (sets, counters, chains)
    }
}
