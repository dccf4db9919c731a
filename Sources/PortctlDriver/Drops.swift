public import Foundation
public import PortPolicy

extension Firewall {
    /// Reads the drop record of portctl's table `table`: every refused connection still kept
    /// (``DropReport``), its rules named from `ruleIDs` (the policy's rule and route ids), and
    /// how many refused connections a full set could not record. A table without a drop record
    /// (recording off, or made by an older portctl) gives an empty report with `keptSeconds` nil.
    /// Needs CAP_NET_ADMIN; changes nothing.
    public func drops(table: String, ruleIDs: [String], now: Date = Date()) throws -> DropReport {
        try requireOwnTable(table)
        var connections: [DroppedConnection] = []
        var kept: Int?
        var capacity = Renderer.dropSetSize
        for family in IPFamily.allCases {
            guard let json = try listIfPresent("list set inet \(table) \(Renderer.dropSetName(family))"),
                  let set = LiveTable.objects(json, kind: "set").first, let timeout = set["timeout"] as? Int else { continue }
            kept = timeout
            capacity = set["size"] as? Int ?? capacity
            connections += DropReport.connections(json: json, keptSeconds: timeout, ruleIDs: ruleIDs, now: now)
        }
        var unrecorded = 0
        if kept != nil, let json = try? backend.listJSON("list counters table inet \(table)") {
            let counters = LiveTable.counterValues(json: json, table: table)
            unrecorded = max(0, (counters[Renderer.dropsSeenCounter]?.packets ?? 0) - (counters[Renderer.dropsRecordedCounter]?.packets ?? 0))
        }
        return DropReport(connections: DropReport.sorted(connections), keptSeconds: kept, capacity: capacity, unrecorded: unrecorded)
    }

    /// A JSON listing, or nil when what it lists does not exist.
    func listIfPresent(_ command: String) throws(NftablesError) -> String? {
        do {
            return try backend.listJSON(command)
        } catch {
            if error.kind == .notFound { return nil }
            throw error
        }
    }
}

extension ChangeControl {
    /// The connections portctl's table refused and recorded (``Firewall/drops(table:ruleIDs:now:)``),
    /// their rules named from the policy file. Needs CAP_NET_ADMIN; takes no lock and changes nothing.
    public func drops(now: Date = Date()) throws -> DropReport {
        try requirePrivilege("reading the drop record")
        let policy = try requirePolicy().policy
        return try firewall.drops(table: policy.table, ruleIDs: policy.rules.map(\.id) + policy.routes.map(\.id), now: now)
    }
}
