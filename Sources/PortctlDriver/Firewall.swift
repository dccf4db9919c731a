import Foundation
public import PortPolicy

/// portctl's table in the kernel: apply a policy, check it, remove it. Nothing outside the
/// table named by the policy is ever read to be modified, flushed or deleted.
public struct Firewall: Sendable {
    /// The door to the kernel.
    public let backend: any NftablesBackend

    /// Uses the real kernel through libnftables unless told otherwise.
    public init(backend: any NftablesBackend = Nftables.shared) {
        self.backend = backend
    }

    /// Reads portctl's table from the kernel, or nil when the table does not exist. Its flags
    /// come from netlink (a dormant table is drift, never "in sync"); a table that portctl did not
    /// create (`Table/isPortctls`) is refused with ``ForeignTableError``.
    public func live(table: String) throws -> Table? {
        guard let live = try backend.readTable(table) else { return nil }
        guard live.isPortctls else { throw ForeignTableError(table: table) }
        return live
    }

    /// Refuses with ``ForeignTableError`` a table `inet NAME` that exists but that portctl did not
    /// create, without listing its set elements (only portctl's marker counter is looked up): for
    /// commands that write into the table's sets (bans). A missing table is no error here.
    /// Needs CAP_NET_ADMIN.
    public func requireOwnTable(_ table: String) throws {
        guard try backend.tableFlags(table) != nil else { return }
        do {
            _ = try backend.listJSON("list counter inet \(table) \(Renderer.inboundDefaultCounter)")
        } catch {
            if error.kind == .notFound { throw ForeignTableError(table: table) }
            throw error
        }
    }

    /// The JSON listing of table `inet NAME` and its flags, or nil when there is no such table.
    ///
    /// nft 1.0.6 cannot list a table with flags as JSON (the flags come out as garbage and may
    /// cut the listing short), so a table with flags is listed piece by piece: its counters, its
    /// sets, and each of its chains, none of which print the table itself.
    public func listing(table: String, terse: Bool = false) throws -> (json: String, flags: UInt32)? {
        guard let flags = try backend.tableFlags(table) else { return nil }
        func list(_ command: String) throws(NftablesError) -> String? { try listIfPresent(command, terse: terse) }
        if flags == 0 {
            // nft 1.0.6 fetches every set element for `list table` even with --terse (0.6 s at
            // 100,000 addresses), but not for a terse `list ruleset`. Anyone's dormant table can
            // spoil that listing's JSON; then the table alone is listed.
            if terse, let json = try list("list ruleset"), (try? LiveTable.read(json: json, table: table)) != nil {
                return (json, 0)
            }
            return try list("list table inet \(table)").map { ($0, 0) }
        }
        var items: [Any] = [["table": ["family": "inet", "name": table]]]
        func append(_ json: String?) {
            guard let json, let data = json.data(using: .utf8),
                  let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let listed = root["nftables"] as? [[String: Any]] else { return }
            items += listed.filter { $0["metainfo"] == nil }
        }
        append(try list("list counters table inet \(table)"))
        append(try list("list sets table inet \(table)"))
        let chains = LiveTable.objects(try list("list chains") ?? "", kind: "chain")
            .filter { $0["family"] as? String == "inet" && $0["table"] as? String == table }
            .compactMap { $0["name"] as? String }
        for chain in chains {
            // A name that cannot be written back into a command is never pasted into one: it is
            // reported, and the planner then rewrites the whole table.
            if Table.isSafeName(chain) {
                append(try list("list chain inet \(table) \(chain)"))
            } else {
                items.append(["unlisted-chain": ["family": "inet", "table": table, "name": chain]])
            }
        }
        let data = try JSONSerialization.data(withJSONObject: ["nftables": items])
        return (String(decoding: data, as: UTF8.self), flags)
    }

    /// A JSON listing (without set elements when `terse`), or nil when what it lists does not
    /// exist (``NftablesError/Kind/notFound``).
    func listIfPresent(_ command: String, terse: Bool = false) throws(NftablesError) -> String? {
        do {
            return terse ? try backend.listTerseJSON(command) : try backend.listJSON(command)
        } catch where error.kind == .notFound {
            return nil
        }
    }

    /// Sends a plan's batch (nothing at all when the plan is empty): one atomic transaction.
    public func apply(_ plan: Plan) throws(NftablesError) {
        try run(plan.batch)
    }

    /// Sends a batch (nothing at all when it is empty): one atomic transaction.
    public func run(_ batch: Batch) throws(NftablesError) {
        if batch.isEmpty { return }
        try backend.send(batch, check: false)
    }

    /// Has the kernel validate a full replacement of portctl's table by the policy's, committing
    /// nothing.
    public func check(_ policy: PortPolicy) throws(NftablesError) {
        try backend.send(Renderer.replaceBatch(policy), check: true)
    }

    /// Removes portctl's table; succeeds when there is none, and refuses a table portctl did not
    /// create (``ForeignTableError``).
    public func remove(table: String) throws {
        guard try live(table: table) != nil else { return }
        try backend.send(Renderer.deleteBatch(table: table), check: false)
    }

    /// Whether the kernel has the table now.
    public func tableExists(_ table: String) throws -> Bool {
        try live(table: table) != nil
    }
}

extension Firewall {
    /// The ports other tables publish by DNAT (Docker's, Podman's, libvirt's, anyone's): every
    /// table with a NAT chain is read, as text (nft 1.0.6 shows iptables-nft's DNAT targets only
    /// there), and never changed. portctl's own table is left out.
    public func publishedPorts(excluding table: String) throws -> [PublishedPort] {
        let chains = LiveTable.objects(try backend.listJSON("list chains"), kind: "chain")
        var tables: [(family: String, name: String)] = []
        for chain in chains where chain["type"] as? String == "nat" {
            guard let family = chain["family"] as? String, ["ip", "ip6", "inet"].contains(family),
                  let name = chain["table"] as? String, Table.isPlainName(name),
                  !(family == "inet" && name == table), !tables.contains(where: { $0 == (family, name) }) else { continue }
            tables.append((family, name))
        }
        var found: [PublishedPort] = []
        for (family, name) in tables {
            guard let text = try? backend.listText("list table \(family) \(name)") else { continue }
            found += PublishedPort.parse(listing: text, table: "\(family) \(name)")
        }
        // A DNAT to one of this host's own addresses is a redirect: the input chain judges it
        // by the new port.
        return found.map { port in
            var port = port
            if let (address, targetPort) = port.targetAddress, LocalInterfaces.name(holding: address) != nil {
                port.redirectedTo = targetPort ?? port.ports.first
            }
            return port
        }
    }
}

/// The policy names a table that exists but that portctl did not create: portctl changes no such
/// table.
public struct ForeignTableError: Error, Sendable, CustomStringConvertible {
    /// The table's name (family `inet`).
    public let table: String

    /// One line: what was refused and the ways out.
    public var description: String {
        "table inet \(table) exists but portctl did not create it (it lacks portctl's counter \(Renderer.inboundDefaultCounter)); portctl changes only its own table: name another table in the policy (table:), or remove that one yourself"
    }
}
