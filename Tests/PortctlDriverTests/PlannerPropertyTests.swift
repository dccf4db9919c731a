import Foundation
import PortPolicy
import PortctlDriver
import PortctlTestSupport
import Testing

/// The planner's promise, over seeded random policies, edits and drift: applying
/// `plan(desired, live)` to `live` gives `desired`, in one batch the kernel (here, its fake)
/// accepts. `PORTCTL_SEED` replays a failure; `PORTCTL_CASES` runs more.
struct PlannerPropertyTests {
    static let environment = ProcessInfo.processInfo.environment
    static let seed = environment["PORTCTL_SEED"].flatMap(UInt64.init) ?? 1
    static let cases = environment["PORTCTL_CASES"].flatMap(Int.init) ?? 400

    @Test func applyingThePlanGivesThePolicy() throws {
        var failures: [String] = []
        for index in 0..<Self.cases {
            let seed = Self.seed &+ UInt64(index)
            if let failure = try Self.run(seed: seed) { failures.append("seed \(seed): \(failure)") }
            if failures.count >= 5 { break }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    /// One case: a random policy applied, maybe drifted, then an edit of it planned and applied.
    /// Returns what went wrong, or nil.
    static func run(seed: UInt64) throws -> String? {
        var sampler = PolicySampler(seed: seed)
        let fake = FakeNftables()
        let firewall = Firewall(backend: fake)
        let first = sampler.policy()
        let now = Date()
        do {
            try firewall.apply(Planner.plan(first, live: try firewall.live(table: first.table), now: now))
        } catch {
            return "creating the first table failed: \(error)"
        }
        if Bool.random(using: &sampler) { fake.tamper(first.table) { sampler.drift(&$0) } }
        let second = sampler.edited(first)
        let plan = Planner.plan(second, live: try firewall.live(table: second.table), now: now)
        do {
            try firewall.apply(plan)
        } catch {
            return "the batch was refused: \(error)\n\(plan.script.prefix(3000))"
        }
        guard let live = try firewall.live(table: second.table) else { return "no table after the plan" }
        let desired = Renderer.model(second, now: now)
        if live.fingerprint != desired.fingerprint {
            return "the table differs from the policy after the plan (\(plan.replacesTable ? "rewrite" : "edit")):\n\(plan.script.prefix(3000))\n--- live\n\(live.text.prefix(3000))\n--- desired\n\(desired.text.prefix(3000))"
        }
        if !Planner.plan(second, live: live, now: now).isEmpty { return "a second plan is not empty" }
        return nil
    }

    /// The planner's linear diff of sorted element lists agrees with a diff by sets.
    @Test func differenceAgreesWithSets() {
        var sampler = PolicySampler(seed: Self.seed)
        for round in 0..<300 {
            var first = (0..<Int.random(in: 0...40, using: &sampler)).map { _ in sampler.network() }
            var second = Array(first.shuffled(using: &sampler).prefix(Int.random(in: 0...20, using: &sampler)))
                + (0..<Int.random(in: 0...10, using: &sampler)).map { _ in sampler.network() }
            if round % 2 == 0 { first = IPNetwork.merged(first); second = IPNetwork.merged(second) }
            let (onlyFirst, onlySecond) = IPNetwork.difference(first, second)
            let firstSet = Set(first), secondSet = Set(second)
            #expect(onlyFirst == first.filter { !secondSet.contains($0) }, "round \(round)")
            #expect(onlySecond == second.filter { !firstSet.contains($0) }, "round \(round)")
        }
    }

    @Test func aRefusedBatchChangesNothing() throws {
        let fake = FakeNftables()
        let firewall = Firewall(backend: fake)
        let policy = PortPolicy(rules: [PortRule(id: "smtp-alt", ports: [try PortRange(26)], sources: [try IPNetwork(parsing: "198.51.100.0/24")])])
        try firewall.apply(Planner.plan(policy, live: nil))
        let before = try #require(try firewall.live(table: policy.table))
        // The second operation names a set that does not exist: the first must not stay.
        let batch = Batch([.addCounter(table: policy.table, name: "extra"),
                           .addElements(table: policy.table, set: "nope", elements: [SetElement(try IPNetwork(parsing: "203.0.113.0/24"))])])
        #expect(throws: NftablesError.self) { try firewall.run(batch) }
        #expect(try firewall.live(table: policy.table) == before)
    }
}
