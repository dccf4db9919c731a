public import Foundation
public import PortPolicy

/// portctl's table as the kernel holds it now, against a policy: what `portctl status`,
/// `metrics` and `status --nagios` read from the kernel (``Firewall/snapshot(for:stateDirectory:now:)``).
/// A value read once: it does not follow the kernel afterwards.
public struct KernelSnapshot: Sendable {
    /// Whether portctl's table is in the kernel.
    public var tablePresent: Bool
    /// Whether the table is switched off (`flags dormant`, set outside portctl): it filters nothing.
    public var dormant: Bool
    /// Whether the table matches the policy (an empty plan); false when it is missing.
    public var inSync: Bool
    /// How many changes the plan from the kernel to the policy holds (0 when in sync or missing).
    public var changes: Int = 0
    /// The named counters of portctl's table (`Renderer`'s counter names: each rule's and
    /// route's id, the defaults', the bans', the rate limits'), to their packets and bytes; empty
    /// when the table is missing.
    public var counters: [String: (packets: Int, bytes: Int)]
    /// Base chains of other tables on the input hook (their drop wins over portctl's accept).
    public var otherInputChains: [ForeignChain]
}

/// What ``Firewall/metrics(for:stateDirectory:now:)`` read: the figures `portctl metrics`
/// prints and `status --nagios` judges.
public struct MetricsReading: Sendable {
    /// The figures (`MetricsSnapshot.text` is the Prometheus text `portctl metrics` prints).
    public var snapshot: MetricsSnapshot
    /// How far the kernel is from the policy: the number of changes a plan holds (0 in sync),
    /// and 1 when portctl's table is not in the kernel.
    public var changes: Int

    /// Makes a reading.
    public init(snapshot: MetricsSnapshot, changes: Int) {
        self.snapshot = snapshot
        self.changes = changes
    }
}

extension Firewall {
    /// Reads what `status` shows: whether portctl's table matches the policy, its counter values,
    /// and the other tables' input-hook chains. Nothing is changed, and no lock is taken (a
    /// change made meanwhile may or may not be seen). Needs CAP_NET_ADMIN (else libnftables'
    /// listing fails with `NftablesError`); a table of the policy's name that portctl did not
    /// create throws ``ForeignTableError``. Blocks while libnftables lists: milliseconds when
    /// the generation cache (`stateDirectory`) vouches for the table, a second or more for a
    /// full listing of 100,000 addresses.
    ///
    /// Other tables are read through `list chains` only: nft 1.0.6 cannot list a dormant table as
    /// JSON, and anyone's dormant table would spoil a `list ruleset`.
    /// nft 1.0.6 fetches every set element for a full listing of the table (a second or more at
    /// 100,000 addresses). When nothing has been committed since portctl last saw the table match
    /// this policy (``LiveCache``), the listing leaves the elements out.
    public func snapshot(for policy: PortPolicy, stateDirectory: String, now: Date = Date()) throws -> KernelSnapshot {
        let others = LiveTable.baseChains(json: try backend.listJSON("list chains"))
            .filter { $0.hook == "input" && !($0.family == "inet" && $0.table == policy.table) }
        let desired = Renderer.model(policy, now: now)
        if !desired.hasTimedSets,
           let generation = LiveCache.confirmedGeneration(table: policy.table, fingerprint: desired.fingerprint,
                                                          firewall: self, stateDirectory: stateDirectory),
           let listing = try listing(table: policy.table, terse: true), listing.flags == 0,
           // Still nothing committed since the cache was checked: the terse listing is of that state.
           backend.generation() == generation, try LiveTable.read(json: listing.json, table: policy.table)?.isPortctls == true {
            return KernelSnapshot(tablePresent: true, dormant: false, inSync: true,
                                  counters: LiveTable.counterValues(json: listing.json, table: policy.table), otherInputChains: others)
        }
        let before = backend.generation()
        guard let listing = try listing(table: policy.table) else {
            return KernelSnapshot(tablePresent: false, dormant: false, inSync: false, counters: [:], otherInputChains: others)
        }
        guard var live = try LiveTable.read(json: listing.json, table: policy.table) else {
            return KernelSnapshot(tablePresent: false, dormant: false, inSync: false, counters: [:], otherInputChains: others)
        }
        live.flags = listing.flags
        guard live.isPortctls else { throw ForeignTableError(table: policy.table) }
        let changes = Planner.plan(policy, desired: desired, live: live, now: now).changes.count
        let inSync = changes == 0
        // Cached only when nothing was committed during the listing (see ``plan(_:stateDirectory:held:)``).
        if inSync, !desired.hasTimedSets, !policy.rules.contains(where: { $0.isExpired(at: now) }),
           let before, backend.generation() == before {
            LiveCache.record(table: policy.table, fingerprint: desired.fingerprint, firewall: self, stateDirectory: stateDirectory,
                             generation: before)
        }
        return KernelSnapshot(tablePresent: true, dormant: live.isDormant, inSync: inSync, changes: changes,
                              counters: LiveTable.counterValues(json: listing.json, table: policy.table), otherInputChains: others)
    }

    /// Everything `portctl metrics` and `status --nagios` report, read without the write lock
    /// and, when the generation cache vouches for the table, without listing set elements: the
    /// ``snapshot(for:stateDirectory:now:)``, the exposure audit of this host's listeners, the
    /// bans the kernel holds, the drop record and the time of the last recorded change. Needs
    /// CAP_NET_ADMIN; blocks while libnftables lists (as the snapshot does); changes nothing.
    /// Damaged ban state in `stateDirectory` throws.
    public func metrics(for policy: PortPolicy, stateDirectory: String, now: Date = Date()) throws -> MetricsReading {
        let kernel = try snapshot(for: policy, stateDirectory: stateDirectory, now: now)
        let published = (try? publishedPorts(excluding: policy.table)) ?? []
        var findings: [Finding.Severity: Int] = [:]
        let found = ExposureAudit.findings(policy, listeners: HostListeners.read(), published: published, at: now)
        for finding in found {
            findings[finding.severity, default: 0] += 1
        }
        let lastApply = (try? StateStore(directory: stateDirectory).latest()).flatMap { $0 }.flatMap { Timestamp.parse($0.time) }
        var snapshot = MetricsSnapshot(policy: policy, tablePresent: kernel.tablePresent, dormant: kernel.dormant, inSync: kernel.inSync,
                                       counters: kernel.counters, lastApply: lastApply, findings: findings, now: now)
        // The bans in force are the kernel's: one the state folder lists but the kernel refused to
        // take back is not counted. The state is still read: damaged state is an error.
        _ = try BanStore(directory: stateDirectory).load(now: now)
        snapshot.bans = kernel.tablePresent ? banHits(table: policy.table).count : 0
        snapshot.auditFindings = found
        if kernel.tablePresent {
            let drops = try drops(table: policy.table, ruleIDs: policy.rules.map(\.id) + policy.routes.map(\.id), now: now)
            snapshot.drops = drops.keptSeconds == nil ? nil : drops
        }
        return MetricsReading(snapshot: snapshot, changes: kernel.tablePresent ? kernel.changes : 1)
    }
}
