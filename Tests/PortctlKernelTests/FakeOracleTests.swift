import Foundation
import PortPolicy
import PortctlDriver
import PortctlTestSupport
import Testing

/// The real kernel is the oracle for ``FakeNftables``: the same seeded random cases the driver
/// tests run against the fake (a policy, drift, an edit) are applied to both, batch by batch,
/// and the fake's table must equal the kernel's real listing read back after every step.
/// `PORTCTL_ORACLE_CASES` runs more, `PORTCTL_SEED` replays a failure.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct FakeOracleTests {
    @Test func theFakeKernelAgreesWithTheKernel() throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["PORTCTL_SEED"].flatMap(UInt64.init) ?? 1
        let cases = environment["PORTCTL_ORACLE_CASES"].flatMap(Int.init) ?? 30
        let lab = try NetLab()
        defer { lab.cleanup() }
        let script = lab.directory.appendingPathComponent("batch.nft").path
        /// Sends the batch to the kernel in the lab's namespace, and says whether nft took it.
        func kernel(_ batch: Batch) throws -> Outcome {
            try batch.text.write(toFile: script, atomically: true, encoding: .utf8)
            return try run(["ip", "netns", "exec", lab.server, "nft", "-f", script])
        }
        func listed(_ table: String) throws -> Table? {
            let listing = try lab.nft("-j", "list", "table", "inet", table)
            return listing.status == 0 ? try LiveTable.read(json: listing.stdout, table: table) : nil
        }
        var disagreements: [String] = []
        for index in 0..<cases {
            let caseSeed = seed &+ UInt64(index)
            var sampler = PolicySampler(seed: caseSeed)
            let fake = FakeNftables()
            let firewall = Firewall(backend: fake)
            _ = try kernel(.removing(PortPolicy.defaultTable))
            let first = sampler.policy()
            let now = Date()
            // Each step goes to both; they must accept or refuse it alike and then list alike.
            func step(_ name: String, _ batch: Batch) throws {
                let fakeOutcome = Result { try firewall.run(batch) }
                let real = try kernel(batch)
                if (real.status == 0) != ((try? fakeOutcome.get()) != nil) {
                    disagreements.append("seed \(caseSeed) \(name): kernel \(real.status == 0 ? "took" : "refused: \(real.stderr)") the batch, the fake \((try? fakeOutcome.get()) != nil ? "took it" : "refused it")\n\(batch.text.prefix(2000))")
                }
                let mine = try fake.readTable(first.table), theirs = try listed(first.table)
                if mine != theirs {
                    disagreements.append("seed \(caseSeed) \(name): the fake lists\n\(mine?.text.prefix(2000) ?? "nothing")\nthe kernel lists\n\(theirs?.text.prefix(2000) ?? "nothing")")
                }
            }
            try step("create", Planner.plan(first, live: nil, now: now).batch)
            if Bool.random(using: &sampler), var drifted = try fake.readTable(first.table) {
                sampler.drift(&drifted)
                drifted.flags = 0
                try step("drift", .replacing(first.table, with: drifted))
            }
            let second = sampler.edited(first)
            let plan = Planner.plan(second, live: try firewall.live(table: second.table), now: now)
            try step("edit", plan.batch)
            if disagreements.count >= 3 { break }
        }
        #expect(disagreements.isEmpty, "\(disagreements.joined(separator: "\n\n"))")
    }
}
