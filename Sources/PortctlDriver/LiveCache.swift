import Foundation
public import PortPolicy

/// Remembers what portctl's table was at a ruleset generation, so that when nothing at all has
/// been committed since (same generation, same boot, same network namespace) a plan need not
/// list the table: with 100,000 set elements that listing alone takes about a second.
public struct LiveCache: Codable, Sendable, Hashable {
    /// The table.
    public var table: String
    /// The ruleset generation the fingerprint was valid at.
    public var generation: UInt32
    /// The boot the generation belongs to (generations restart at boot).
    public var boot: String
    /// The network namespace, by its cookie (never reused, unlike its inode number):
    /// generations are per namespace.
    public var namespace: String
    /// `Table/fingerprint` of the table at that generation.
    public var fingerprint: String

    static func path(_ stateDirectory: String) -> String { stateDirectory + "/live-cache.json" }

    /// `PORTCTL_NO_CACHE=1` turns the cache off: every plan and status lists the kernel.
    static let disabled = ProcessInfo.processInfo.environment["PORTCTL_NO_CACHE"].map { !$0.isEmpty && $0 != "0" } ?? false

    static var boot: String {
        ((try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `cookie:N`, or nil when the kernel cannot name the namespace for sure: then nothing is
    /// cached, and every plan lists the table.
    static func namespace(_ firewall: Firewall) -> String? {
        firewall.backend.namespaceCookie().map { "cookie:\($0)" }
    }

    /// Records that the table has `fingerprint` at `generation` (the current one by default).
    /// The file is a cache: it is not synced to disk, and a lost or torn one only means a listing.
    public static func record(table: String, fingerprint: String, firewall: Firewall, stateDirectory: String,
                              generation: UInt32? = nil) {
        guard !disabled, TrustedFiles.isTrustedStateDirectory(stateDirectory), let namespace = namespace(firewall),
              let generation = generation ?? firewall.backend.generation() else { return }
        let cache = LiveCache(table: table, generation: generation, boot: boot, namespace: namespace, fingerprint: fingerprint)
        try? TrustedFiles.writeAtomically(StateStore.json(cache), to: path(stateDirectory), durable: false)
    }

    /// The generation a commit made on top of `generation` gets: the kernel adds one per
    /// committed transaction, skipping zero.
    static func following(_ generation: UInt32) -> UInt32 {
        generation == UInt32.max ? 1 : generation + 1
    }

    /// Whether the kernel's table is known to have `fingerprint` without listing it: nothing
    /// has been committed in this namespace since it was recorded with that fingerprint.
    /// A cache that anyone but root (or this user) could have written is not believed.
    public static func confirms(table: String, fingerprint: String, firewall: Firewall, stateDirectory: String) -> Bool {
        confirmedGeneration(table: table, fingerprint: fingerprint, firewall: firewall, stateDirectory: stateDirectory) != nil
    }

    /// The current ruleset generation when ``confirms(table:fingerprint:firewall:stateDirectory:)``
    /// holds, else nil: a reading made next can be checked against it.
    public static func confirmedGeneration(table: String, fingerprint: String, firewall: Firewall, stateDirectory: String) -> UInt32? {
        guard !disabled, let namespace = namespace(firewall), TrustedFiles.isTrustedStateDirectory(stateDirectory), !TrustedFiles.othersCanWrite(path(stateDirectory)),
              let data = FileManager.default.contents(atPath: path(stateDirectory)),
              let cache = try? JSONDecoder().decode(LiveCache.self, from: data),
              cache.table == table, cache.fingerprint == fingerprint,
              let generation = firewall.backend.generation(), generation == cache.generation,
              cache.boot == boot, cache.namespace == namespace
        else { return nil }
        return generation
    }
}

/// A plan made against the kernel, with what is needed to remember the outcome.
public struct KernelPlan: Sendable {
    /// The plan.
    public var plan: Plan
    /// The live table's fingerprint when planned (for saved plans' staleness checks).
    public var liveFingerprint: String
    /// The rendered table's fingerprint, or nil when it must not be cached (timed sets).
    public var desiredFingerprint: String?
}

extension Firewall {
    /// Plans the policy against the kernel. When nothing has been committed since portctl last
    /// saw the table match this very policy, the plan is empty without listing the table.
    ///
    /// `held` is the policy the kernel is believed to hold (the file before an edit): when the
    /// cache vouches that the table still matches it, the plan is made against its rendering,
    /// again without a listing. An edit of a 100,000-address policy then costs no kernel dump.
    ///
    /// `previousTable` is the table the policy named before (the last change's policy): when the
    /// policy now names another, the old table is removed in the same batch, if portctl made it.
    ///
    /// With `recordingCache` false (a dry run) nothing is written to the state folder.
    public func plan(_ policy: PortPolicy, stateDirectory: String, held: PortPolicy? = nil,
                     previousTable: String? = nil, recordingCache: Bool = true) throws -> KernelPlan {
        var planned = try plan(policy, stateDirectory: stateDirectory, held: held, recordingCache: recordingCache)
        removePreviousTable(previousTable, in: &planned.plan)
        return planned
    }

    /// Adds the removal of portctl's table under the policy's previous name to a plan, when that
    /// table exists and portctl made it.
    public func removePreviousTable(_ previousTable: String?, in plan: inout Plan) {
        guard let previousTable, previousTable != plan.table,
              (try? live(table: previousTable)).flatMap({ $0 }) != nil else { return }
        plan.changes.insert(.removeTable(previousTable), at: 0)
        plan.batch.operations.insert(.deleteTable(previousTable), at: 0)
    }

    private func plan(_ policy: PortPolicy, stateDirectory: String, held: PortPolicy?, recordingCache: Bool) throws -> KernelPlan {
        let now = Date()
        let desired = Renderer.model(policy, now: now)
        // Nothing is cached for timed sets (their countdowns change) or for a policy with expired
        // openings (the table may still hold their remnants, which the fingerprint would not show).
        let fingerprint = desired.hasTimedSets || policy.rules.contains(where: { $0.isExpired(at: now) }) ? nil : desired.fingerprint
        if let fingerprint,
           LiveCache.confirms(table: policy.table, fingerprint: fingerprint, firewall: self, stateDirectory: stateDirectory) {
            return KernelPlan(plan: Plan(table: policy.table, changes: [], batch: Batch(), replacesTable: false),
                              liveFingerprint: fingerprint, desiredFingerprint: fingerprint)
        }
        if let held, held.table == policy.table {
            let heldTable = Renderer.model(held, now: now)
            if !heldTable.hasTimedSets,
               LiveCache.confirms(table: policy.table, fingerprint: heldTable.fingerprint, firewall: self, stateDirectory: stateDirectory) {
                return KernelPlan(plan: Planner.plan(policy, desired: desired, live: heldTable, now: now),
                                  liveFingerprint: heldTable.fingerprint, desiredFingerprint: fingerprint)
            }
        }
        // The generation is read before the listing: a commit made while the table is listed
        // then changes it, and nothing is cached from a listing that may be of the old state.
        let before = backend.generation()
        let live = try self.live(table: policy.table)
        let plan = Planner.plan(policy, desired: desired, live: live, now: now)
        if recordingCache, plan.isEmpty, let fingerprint, let before, backend.generation() == before {
            LiveCache.record(table: policy.table, fingerprint: fingerprint, firewall: self, stateDirectory: stateDirectory,
                             generation: before)
        }
        return KernelPlan(plan: plan, liveFingerprint: PlanDocument.digest(live), desiredFingerprint: fingerprint)
    }

    /// Applies a plan made with ``plan(_:stateDirectory:held:previousTable:recordingCache:)`` and remembers the result.
    ///
    /// The generation is read before the commit, and the commit's own is the next one. (Asking
    /// after a large commit waits about 10 ms for the kernel.) Should anyone else commit in
    /// between, the recorded generation is one that has already passed, so the cache only misses.
    public func apply(_ planned: KernelPlan, stateDirectory: String) throws(NftablesError) {
        if planned.plan.batch.isEmpty { return }
        let before = planned.desiredFingerprint == nil ? nil : backend.generation()
        try backend.send(planned.plan.batch, check: false)
        if let fingerprint = planned.desiredFingerprint, let before {
            LiveCache.record(table: planned.plan.table, fingerprint: fingerprint, firewall: self, stateDirectory: stateDirectory,
                             generation: LiveCache.following(before))
        }
    }
}
