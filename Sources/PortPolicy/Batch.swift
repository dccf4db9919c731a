/// One command of an nftables batch, as a value. Every batch portctl sends is a list of these,
/// and ``text`` is the one place they become nft syntax; a fake kernel applies the same values.
///
/// Every operation names its table (always family `inet`).
public enum NftOperation: Sendable, Hashable {
    /// `add table inet NAME`: creates the table when missing, and wakes a dormant one.
    case addTable(String)
    /// `delete table inet NAME`.
    case deleteTable(String)
    /// `table inet NAME { ... }`: the whole table declared at once, with its sets' elements and
    /// its chains' rules.
    case declareTable(Table)
    /// `flush chain inet TABLE CHAIN`: removes every rule of the chain.
    case flushChain(table: String, chain: String)
    /// `delete chain inet TABLE CHAIN` (it must be empty and unreferenced).
    case deleteChain(table: String, chain: String)
    /// `add chain inet TABLE CHAIN [{ HEADER }]`: creates the chain, or updates a base chain's
    /// policy. The chain's rules are not part of it.
    case addChain(table: String, chain: Chain)
    /// `add rule inet TABLE CHAIN RULE`: appends a rule.
    case addRule(table: String, chain: String, rule: Rule)
    /// `add set inet TABLE NAME { ... }` with the set's elements.
    case addSet(table: String, set: AddressSet)
    /// `delete set inet TABLE NAME` (nothing may use it).
    case deleteSet(table: String, set: String)
    /// `add element inet TABLE SET { ... }`, each element with its own timeout when given.
    case addElements(table: String, set: String, elements: [SetElement])
    /// `delete element inet TABLE SET { ... }`: each element must be in the set as it is.
    case deleteElements(table: String, set: String, elements: [IPNetwork])
    /// `add counter inet TABLE NAME`.
    case addCounter(table: String, name: String)
    /// `delete counter inet TABLE NAME` (nothing may use it).
    case deleteCounter(table: String, name: String)
    /// `delete KIND inet TABLE NAME`: an object portctl never makes, found in its table.
    case deleteObject(table: String, kind: String, name: String)

    /// The command in nft syntax, with its newline.
    public var text: String {
        switch self {
        case let .addTable(table): return "add table inet \(table)\n"
        case let .deleteTable(table): return "delete table inet \(table)\n"
        case let .declareTable(table):
            return table.counters.isEmpty && table.sets.isEmpty && table.chains.isEmpty ? "table inet \(table.name) {}\n" : table.text
        case let .flushChain(table, chain): return "flush chain inet \(table) \(chain)\n"
        case let .deleteChain(table, chain): return "delete chain inet \(table) \(chain)\n"
        case let .addChain(table, chain):
            guard let header = chain.header else { return "add chain inet \(table) \(chain.name)\n" }
            return "add chain inet \(table) \(chain.name) { \(header) }\n"
        case let .addRule(table, chain, rule): return "add rule inet \(table) \(chain) \(rule.text)\n"
        case let .addSet(table, set): return set.addCommand(table: table)
        case let .deleteSet(table, set): return "delete set inet \(table) \(set)\n"
        case let .addElements(table, set, elements):
            return "add element inet \(table) \(set) { " + elements.map(\.text).joined(separator: ", ") + " }\n"
        case let .deleteElements(table, set, elements):
            return "delete element inet \(table) \(set) { " + AddressSet.elementList(elements, separator: ", ") + " }\n"
        case let .addCounter(table, name): return "add counter inet \(table) \(name)\n"
        case let .deleteCounter(table, name): return "delete counter inet \(table) \(name)\n"
        case let .deleteObject(table, kind, name): return "delete \(kind) inet \(table) \(name)\n"
        }
    }
}

/// An element added to a set: an address or network, and for sets with timeouts, its own.
public struct SetElement: Sendable, Hashable {
    /// The address (written bare when it is one host) or network.
    public var network: IPNetwork
    /// Seconds until the kernel removes the element, or nil for the set's default.
    public var timeout: Int?

    /// Makes an element.
    public init(_ network: IPNetwork, timeout: Int? = nil) {
        self.network = network
        self.timeout = timeout
    }

    /// nft syntax: `198.51.100.7 timeout 600s`.
    public var text: String {
        network.description + (timeout.map { " timeout " + NftTimeout.text($0) } ?? "")
    }
}

/// Timeouts as nftables takes them. nft 1.0.6 reads at most eight digits per unit (`100000000s`
/// is "value too large"), and the kernel holds up to 2^64-1 nanoseconds in milliseconds
/// (`timeout 213504d` is "Numerical result out of range"): found by trying both in a namespace.
public enum NftTimeout {
    /// The longest timeout the kernel takes, in seconds: 18,446,744,073 (213,503 days, about
    /// 584 years).
    public static let maximumSeconds = 18_446_744_073

    /// `600s`, or for more than eight digits of seconds, days and seconds: `1158d3600s`.
    public static func text(_ seconds: Int) -> String {
        seconds <= 99_999_999 ? "\(seconds)s" : "\(seconds / 86_400)d\(seconds % 86_400)s"
    }
}

/// A list of operations sent as one transaction: all take effect, or none does.
public struct Batch: Sendable, Hashable {
    /// The operations, in order.
    public var operations: [NftOperation]

    /// Makes a batch.
    public init(_ operations: [NftOperation] = []) {
        self.operations = operations
    }

    /// Whether the batch does nothing.
    public var isEmpty: Bool { operations.isEmpty }

    /// The batch as an nft script, one command per line (a declared table spans several).
    public var text: String {
        var out = ""
        for operation in operations { out += operation.text }
        return out
    }

    /// A batch that replaces table `inet NAME` by `table` whether or not it exists: declaring
    /// an empty table first makes the delete succeed when there is none.
    public static func replacing(_ name: String, with table: Table) -> Batch {
        Batch([.declareTable(Table(name: name)), .deleteTable(name), .declareTable(table)])
    }

    /// A batch that removes table `inet NAME`, and succeeds when there is none.
    public static func removing(_ name: String) -> Batch {
        Batch([.declareTable(Table(name: name)), .deleteTable(name)])
    }
}
