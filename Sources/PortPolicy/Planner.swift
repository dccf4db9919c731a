public import Foundation

/// One difference between the policy and the live table, in an admin's terms.
public enum PlanChange: Sendable, Hashable {
    /// portctl's table is not in the kernel; it will be created.
    case createTable
    /// portctl's table under the name the policy used before; it is removed in the same batch.
    case removeTable(String)
    /// A policy rule is not in the kernel yet.
    case addRule(id: String, summary: String)
    /// The kernel has a rule the policy no longer has.
    case removeRule(id: String, summary: String)
    /// A rule's ports, protocol, action or interface differ.
    case changeRule(id: String, before: String, after: String)
    /// A rule's addresses differ (the sets gain or lose elements).
    case changeSources(id: String, added: [IPNetwork], removed: [IPNetwork])
    /// A default differs.
    case changeDefault(Direction, from: String, to: String)
    /// Whether the policy governs published (DNATed) ports differs (`filter` or `accept`).
    case changePublished(from: String, to: String)
    /// The routed default differs (`accept` or `drop`).
    case changeRouted(from: String, to: String)
    /// The drop record differs (`off`, or how long a refused connection is kept: `10m`).
    case changeDropRecording(from: String, to: String)
    /// Something in portctl's table that no rule of the policy explains: changed outside portctl.
    case drift(String)

    /// Whether this change was made outside portctl.
    public var isDrift: Bool { if case .drift = self { true } else { false } }

    /// The change in one line for people, as `portctl plan` prints it: `+` added, `-` removed,
    /// `~` changed, `!` drift. `table` is the plan's table; with the policy, source changes of
    /// rules that read address files name the files.
    public func line(table: String, policy: PortPolicy? = nil) -> String {
        switch self {
        case .createTable:
            return "+ table inet \(table) (missing: it will be created)"
        case let .removeTable(name) where name == table:
            return "- table inet \(name): removed (nothing filters through portctl until 'portctl apply')"
        case let .removeTable(name):
            return "- table inet \(name): removed (portctl's table under the policy's previous name)"
        case let .addRule(id, summary):
            return "+ \(id): \(summary)"
        case let .removeRule(id, summary):
            return "- \(id): \(summary)"
        case let .changeRule(id, before, after):
            return "~ \(id): \(before) -> \(after)"
        case let .changeSources(id, added, removed):
            let files = policy?.rule(id: id).map { rule in
                rule.readsFiles ? " (rule reads " + rule.sourceFiles.map { "@" + $0.path }.joined(separator: ", ") + ")" : ""
            } ?? ""
            return "~ \(id): sources " + (added.map { "+\($0)" } + removed.map { "-\($0)" }).joined(separator: " ") + files
        case let .changeDefault(direction, from, to):
            return "~ default \(direction == .in ? "inbound" : "outbound"): \(from) -> \(to)"
        case let .changeRouted(from, to):
            return "~ default routed: \(from) -> \(to)"
        case let .changeDropRecording(from, to):
            return "~ drop record: \(from) -> \(to) (\(to == "off" ? "refused connections are no longer recorded" : "portctl drops shows refused connections for \(to) after their last packet"))"
        case let .changePublished(from, to):
            return "~ default published: \(from) -> \(to) (\(to == "filter" ? "the inbound rules now govern published ports too" : "published ports are left to whoever published them"))"
        case let .drift(detail):
            return "! drift: \(detail)"
        }
    }
}

/// What `apply` would do: the changes, and the exact nftables batch that makes them.
public struct Plan: Sendable, Hashable {
    /// The table.
    public var table: String
    /// The changes, empty when the kernel already matches the policy.
    public var changes: [PlanChange]
    /// The batch apply sends (empty when there are no changes): one libnftables transaction.
    public var batch: Batch
    /// The batch as an nft script.
    public var script: String { batch.text }
    /// Whether the batch replaces the whole table (resetting every counter) rather than editing it.
    public var replacesTable: Bool
    /// The moment the plan was made for: time-boxed rules' timeouts count from it, and a saved
    /// plan is re-planned at it to prove its script is the planner's.
    public var plannedAt: Date

    /// Makes a plan from parts.
    public init(table: String, changes: [PlanChange], batch: Batch, replacesTable: Bool, plannedAt: Date = Date()) {
        self.table = table
        self.changes = changes
        self.batch = batch
        self.replacesTable = replacesTable
        self.plannedAt = plannedAt
    }

    /// Whether the kernel already matches the policy.
    public var isEmpty: Bool { changes.isEmpty }

    /// Whether the batch creates a ban set anew (a new or rewritten table, or a ban set
    /// replaced): the bans, which are state, must then be put back.
    public var recreatesBanSets: Bool {
        replacesTable || batch.operations.contains { if case let .addSet(_, set) = $0 { Renderer.isBanSet(set.name) } else { false } }
    }
}

/// Compares a policy with the live table and plans the smallest atomic batch that makes the
/// kernel match it. Pure: the live table comes from ``LiveTable`` (a kernel listing or a file).
public enum Planner {
    /// Plans the change from `live` (nil when portctl's table is missing) to the policy.
    public static func plan(_ policy: PortPolicy, live: Table?, now: Date = Date()) -> Plan {
        plan(policy, desired: Renderer.model(policy, now: now), live: live, now: now)
    }

    /// Plans against an already rendered model of the policy (``Renderer/model(_:now:keepingExpired:)`` at `now`).
    ///
    /// Rules that expired as the policy asked (`--for`) stay in the kernel, their sets emptied by
    /// the kernel's timeouts, until the next change removes them: that is not drift, and a table
    /// holding them matches the policy.
    public static func plan(_ fullPolicy: PortPolicy, desired: Table, live listed: Table?, now: Date = Date()) -> Plan {
        let policy = fullPolicy.effective(at: now)
        // Bans are state, not policy: their elements are never drift, and never edited here.
        let live = listed.map { table -> Table in
            var table = table
            for index in table.sets.indices where Renderer.isBanSet(table.sets[index].name) {
                table.sets[index].elements = []
                table.sets[index].expiresIn = nil
            }
            return table
        }
        guard let live else {
            let changes = [PlanChange.createTable] + policy.rules.map { .addRule(id: $0.id, summary: $0.summary) }
            return Plan(table: policy.table, changes: changes, batch: .replacing(policy.table, with: desired), replacesTable: true, plannedAt: now)
        }
        if sameContent(desired, live)
            || policy.rules.count != fullPolicy.rules.count && sameContent(Renderer.model(fullPolicy, now: now, keepingExpired: true), live) {
            return Plan(table: policy.table, changes: [], batch: Batch(), replacesTable: false, plannedAt: now)
        }
        var changes = describe(policy, desired: desired, live: live)
        if changes.isEmpty {
            // A safety net: never call a table in sync that is not.
            changes.append(.drift("table inet \(live.name) differs from the policy in a way portctl cannot name; apply rewrites it"))
        }
        let incremental = live.unknownObjects.allSatisfy(\.isDeletable) && live.namesAreSafe
        // `add table` without flags wakes a dormant table, in the same batch as the edits.
        let wake: [NftOperation] = live.flags != 0 ? [.addTable(policy.table)] : []
        let batch = incremental ? Batch(wake + editBatch(desired: desired, live: live))
            : .replacing(policy.table, with: desired)
        return Plan(table: policy.table, changes: changes, batch: batch, replacesTable: !incremental, plannedAt: now)
    }

    /// Equality that ignores definition order of counters and sets (the kernel may list them in
    /// another order) but not the order of rules.
    static func sameContent(_ a: Table, _ b: Table) -> Bool {
        a.name == b.name && a.flags == b.flags && Set(a.counters) == Set(b.counters) && a.counters.count == b.counters.count
            && a.sets.count == b.sets.count && a.sets.allSatisfy { set in b.set(set.name).map { set.sameAs($0) } ?? false }
            && a.chains.count == b.chains.count && a.chains.allSatisfy { b.chain($0.name) == $0 }
            && a.unknownObjects == b.unknownObjects
    }

    /// Whether a rule is a dispatch map or a jump to a layout chain (structure that changes with
    /// the rules, not drift by itself).
    static func isLayoutRule(_ rule: Rule) -> Bool {
        rule.statements.count == 1 && rule.statements.allSatisfy {
            switch $0 {
            case .dispatch: true
            case let .jump(target): isLayoutChain(target)
            default: false
            }
        }
    }

    /// Whether a chain name is one portctl's own layouts use for rule and dispatch chains.
    static func isLayoutChain(_ name: String) -> Bool {
        ["rule-", "ports-", "route-", "rports-", "portctl-limited-"].contains { name.hasPrefix($0) }
    }

    /// Whether a rule records into the drop record (``Renderer/recordRules(_:families:reason:comment:)``).
    static func isRecordingLine(_ rule: Rule) -> Bool {
        rule.statements.contains { if case .record = $0 { true } else { false } }
    }

    /// The drop recording a live table does: its IPv4 drop record's timeout, or off.
    static func liveDropRecording(_ live: Table) -> DropRecording {
        if case let .drops(timeout, _)? = live.set(Renderer.dropSetName(.ipv4))?.kind { return .keep(seconds: timeout) }
        return .off
    }

    /// Whether a rule has the shape of some default's lines (counting, logging, drop or reject,
    /// never accept): a default that changed is a policy change, not drift.
    static func looksLikeADefault(_ rule: Rule) -> Bool {
        rule.statements.allSatisfy { statement in
            switch statement {
            case let .counter(name): name.hasPrefix("portctl-default") || name.hasPrefix("portctl-drops-")
            case let .verdict(verdict): verdict != .accept
            case .limit, .log, .record: true
            case .match(.meta("l4proto"), "==", .string("tcp")), .match(.meta("l4proto"), "==", .set([.string("tcp"), .string("udp")])),
                 .match(.meta("nfproto"), "==", _), .match(.ct("state"), "in", .string("new")): true
            default: false
            }
        }
    }

    /// The inbound default a live input chain applies.
    static func inboundDefault(_ chain: Chain) -> String {
        if chain.policy == "accept" { return "accept" }
        let defaults = chain.rules.filter { $0.comment == Renderer.defaultComment }
        if defaults.contains(where: { $0.statements.contains(.verdict(.rejectTCPReset)) }) { return "reject" }
        return chain.policy ?? "accept"
    }

    /// Whether a rule has the shape portctl renders for this id (its counter is named by the id).
    static func looksRendered(_ rule: Rule, id: String) -> Bool {
        let isNAT = rule.statements.contains { if case .dnat = $0 { true } else { $0 == .masquerade } }
        // A rule's recording lines and its rate limit's chain count into portctl's own counters.
        let isOwnLine = isRecordingLine(rule) || rule.statements.contains(.counter(Renderer.limitedName(id)))
            || rule.statements.contains(.jump(Renderer.limitedName(id)))
        return (rule.statements.contains(.counter(id)) || isNAT || isOwnLine) && !rule.statements.contains { if case .unknown = $0 { true } else { false } }
    }

    /// Whether a statement belongs to a rate limit (the over-the-limit test, or the limited
    /// chain's counter): the drop it leads to is the limit's, not the rule's action.
    static func isLimitStatement(_ statement: Statement) -> Bool {
        switch statement {
        case .overRate: true
        case let .counter(name): Renderer.isLimitedChain(name)
        default: false
        }
    }

    /// A best-effort admin summary of live rules (`allow 26/tcp from 10.0.0.0/8`).
    static func summarize(_ rules: [Rule], sets: Table) -> String {
        guard !rules.isEmpty else { return "nothing (no rule in the kernel)" }
        var protos: [String] = [], actions: Set<String> = [], ports = "?", interface: String?
        var sources: [IPNetwork] = [], seen: Set<String> = [], limit: String?, logged = false
        var outbound = false, namesSets = false
        for rule in rules {
            for statement in rule.statements {
                switch statement {
                case let .match(.payload(proto, "dport"), _, value):
                    if !protos.contains(proto) { protos.append(proto) }
                    ports = portsText(value)
                case let .match(.payload(_, field), _, .string(name)) where name.hasPrefix("@"):
                    outbound = field == "daddr"
                    namesSets = true
                    if seen.insert(name).inserted { sources += sets.set(String(name.dropFirst()))?.elements ?? [] }
                case let .match(.meta(key), _, .string(name)) where key == "iifname" || key == "oifname":
                    interface = name
                case let .overRate(_, _, rate, per, _):
                    limit = "\(rate)/\(per)"
                case .log:
                    logged = true
                case let .verdict(verdict) where !rule.statements.contains(where: isLimitStatement):
                    switch verdict {
                    case .accept: actions.insert("allow")
                    case .drop: actions.insert("deny")
                    case .rejectTCPReset, .rejectICMPX: actions.insert("reject")
                    }
                default: break
                }
            }
        }
        let proto = protos.count == 2 ? "both" : (protos.first ?? "?")
        var text = "\(actions.sorted().joined(separator: "/")) \(ports)/\(proto) \(outbound ? "to" : "from") "
        // A rule matching an empty set matches nobody; "any" would claim the opposite.
        text += namesSets && sources.isEmpty ? "no one (its address sets are empty)" : addressList(sources)
        if let interface { text += " on \(interface)" }
        if let limit { text += ", limited to \(limit) per source" }
        if logged { text += ", logged" }
        return text
    }

    /// `90s`, `30m`, `2h5m`, `1d2h`: a duration for people.
    public static func duration(_ seconds: Int) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m" + (seconds % 60 == 0 ? "" : "\(seconds % 60)s") }
        if seconds < 86400 { return "\(seconds / 3600)h" + (seconds % 3600 / 60 == 0 ? "" : "\(seconds % 3600 / 60)m") }
        return "\(seconds / 86400)d" + (seconds % 86400 / 3600 == 0 ? "" : "\(seconds % 86400 / 3600)h")
    }

    /// `any`, or up to five addresses and how many more.
    static func addressList(_ networks: [IPNetwork]) -> String {
        if networks.isEmpty { return "any" }
        let shown = networks.prefix(5).map(\.description).joined(separator: ", ")
        return networks.count > 5 ? shown + " and \(networks.count - 5) more" : shown
    }

    static func portsText(_ value: Value) -> String {
        switch value {
        case let .number(port): "\(port)"
        case let .range(low, high): "\(low)-\(high)"
        case let .set(values): values.map(portsText).joined(separator: ",")
        default: value.text(quoted: false)
        }
    }

    // MARK: The batch

    /// A batch that edits the live table into the desired one without touching the named
    /// counters of rules that stay, so their packet and byte counts survive the change.
    /// Up to this many elements, a set is always edited element by element.
    static let smallSet = 1000
    /// In a bigger set, element edits are used while they delete at most this many elements...
    static let maximumDeletedElements = 4
    /// ...and add at most this many; past that, the set is replaced.
    static let maximumAddedElements = 64

    static func editBatch(desired: Table, live: Table) -> [NftOperation] {
        let t = desired.name
        var out: [NftOperation] = []
        func recreated(_ chain: Chain) -> Bool {
            guard let wanted = desired.chain(chain.name) else { return true }
            return wanted.hook != chain.hook || wanted.type != chain.type || wanted.priority != chain.priority
        }
        // Sets: a plain interval set with a few changed elements is edited element by element
        // (its rules stay, handles and all); other sets that differ are deleted and added anew.
        // nft 1.0.6 fetches a whole interval set for any element command: at 100,000 elements
        // one add costs about what a new set does (0.6 s), and each deleted element about 0.1 s
        // more, so many changes to a big set go faster as a new set (docs/benchmarks.md).
        func kept(_ set: AddressSet, in other: Table) -> Bool { other.set(set.name).map { set.sameAs($0) } ?? false }
        var edits: [(name: String, added: [IPNetwork], removed: [IPNetwork])] = []
        for set in desired.sets where set.kind == .interval {
            guard let have = live.set(set.name), have.kind == .interval, have.family == set.family, !have.listsRanges, have != set else { continue }
            let (added, removed) = IPNetwork.difference(set.elements, have.elements)
            let small = have.elements.count <= smallSet
            guard small || removed.count <= maximumDeletedElements && added.count <= maximumAddedElements else { continue }
            edits.append((set.name, added, removed))
        }
        let edited = Set(edits.map(\.name))
        let deletedSets = Set(live.sets.filter { !kept($0, in: desired) && !edited.contains($0.name) }.map(\.name))
        let deletedCounters = Set(live.counters.filter { !desired.counters.contains($0) })
        let deletedChains = Set(live.chains.filter(recreated).map(\.name))
        // A chain is rewritten when its rules differ, or when a rule of it uses something that
        // goes (a set, a counter, a chain it jumps to); the others are left alone, handles and all.
        func usesSomethingGone(_ rule: Rule) -> Bool {
            rule.statements.contains { statement in
                switch statement {
                case let .match(_, _, .string(name)) where name.hasPrefix("@"): deletedSets.contains(String(name.dropFirst()))
                case let .counter(name): deletedCounters.contains(name)
                case let .jump(target), let .goto(target): deletedChains.contains(target)
                case let .dispatch(entries): entries.contains { deletedChains.contains($0.chain) }
                case let .overRate(set, _, _, _, _), let .record(set, _, _): deletedSets.contains(set)
                default: false
                }
            }
        }
        let rewritten = Set(live.chains.filter { chain in
            deletedChains.contains(chain.name) || desired.chain(chain.name)?.rules != chain.rules || chain.rules.contains(where: usesSomethingGone)
        }.map(\.name))
        // 1. Empty the chains that change (their rules may use the sets and counters below).
        for chain in live.chains where rewritten.contains(chain.name) { out.append(.flushChain(table: t, chain: chain.name)) }
        // 2. Chains the policy no longer has, or whose hook changed.
        for chain in live.chains where deletedChains.contains(chain.name) { out.append(.deleteChain(table: t, chain: chain.name)) }
        // 3. Objects nothing in the policy explains; sets.
        for object in live.unknownObjects { out.append(.deleteObject(table: t, kind: object.kind, name: object.name)) }
        for set in live.sets where deletedSets.contains(set.name) { out.append(.deleteSet(table: t, set: set.name)) }
        for edit in edits where !edit.removed.isEmpty {
            out.append(.deleteElements(table: t, set: edit.name, elements: edit.removed))
        }
        for edit in edits where !edit.added.isEmpty {
            out.append(.addElements(table: t, set: edit.name, elements: edit.added.map { SetElement($0) }))
        }
        for set in desired.sets where !kept(set, in: live) && !edited.contains(set.name) { out.append(.addSet(table: t, set: set)) }
        // 4. Counters for new rules; the others keep their values.
        for counter in desired.counters where !live.counters.contains(counter) { out.append(.addCounter(table: t, name: counter)) }
        // 5. Chains (creating them, or updating a base chain's policy) before any rule can jump
        //    to them, then the rules of every chain that is new or was emptied, in order.
        for chain in desired.chains {
            let have = live.chain(chain.name)
            let fresh = have == nil || deletedChains.contains(chain.name)
            if chain.header != nil ? fresh || have?.policy != chain.policy : fresh {
                out.append(.addChain(table: t, chain: Chain(name: chain.name, hook: chain.hook, type: chain.type, priority: chain.priority, policy: chain.policy)))
            }
        }
        for chain in desired.chains where live.chain(chain.name) == nil || rewritten.contains(chain.name) {
            for rule in chain.rules { out.append(.addRule(table: t, chain: chain.name, rule: rule)) }
        }
        // 6. Counters nothing uses any more.
        for counter in live.counters where deletedCounters.contains(counter) { out.append(.deleteCounter(table: t, name: counter)) }
        return out
    }
}

extension PortRule {
    /// One line for people: `allow 26/tcp from 10.0.0.0/8 on eth0, limited to 6/minute per source`.
    public var summary: String {
        var text = "\(action.rawValue) \(portsDescription) \(direction == .in ? "from" : "to") "
        if readsFiles {
            let inline = inlineSources.isEmpty ? [] : [Planner.addressList(IPNetwork.merged(inlineSources))]
            let files = sourceFiles.map { "@\($0.path) (\($0.networks?.count ?? 0) address\($0.networks?.count == 1 ? "" : "es"))" }
            text += (inline + files).joined(separator: ", ")
        } else {
            text += Planner.addressList(IPNetwork.merged(sources))
        }
        if let interface { text += " on \(interface)" }
        if let limit { text += ", limited to \(limit) per source" }
        if log { text += ", logged" }
        if let expires { text += ", until \(PolicyFile.timestamp(expires))" }
        return text
    }
}
