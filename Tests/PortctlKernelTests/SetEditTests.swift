import Foundation
import PortPolicy
import Testing

/// When only a rule's sources change, the batch edits its set element by element: the rule, its
/// counter and every other element stay, and overlapping or merged networks are handled the way
/// the kernel's interval sets require.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct SetEditTests {
    func packets(_ lab: NetLab, _ counter: String) throws -> Int {
        let listing = try lab.nft("list", "counter", "inet", "portctl", counter).stdout
        return Int(listing.split(whereSeparator: \.isWhitespace).drop { $0 != "packets" }.dropFirst().first ?? "") ?? -1
    }

    @Test func sourcesChangeByElementsAndTheRuleAndItsCounterStay() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/25,10.0.0.0/8").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        let counted = try packets(lab, "allow-tcp-26")
        #expect(counted > 0)
        let handles = try lab.nft("-a", "list", "chain", "inet", "portctl", "input").stdout

        let dry = try lab.portctl("open", "26", "--from", "203.0.113.0/24", "--dry-run")
        #expect(dry.stdout.contains("add element inet portctl allow-tcp-26-v4 { 203.0.113.0/24 }") && !dry.stdout.contains("delete set"), "\(dry)")
        #expect(try lab.portctl("open", "26", "--from", "203.0.113.0/24").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try packets(lab, "allow-tcp-26") > counted, "the counter kept counting")
        #expect(try lab.nft("-a", "list", "chain", "inet", "portctl", "input").stdout == handles, "no rule was rewritten")
        #expect(try lab.kernelMatchesPolicy())

        let close = try lab.portctl("close", "26", "--from", "198.51.100.0/25", "--dry-run")
        #expect(close.stdout.contains("delete element inet portctl allow-tcp-26-v4 { 198.51.100.0/25 }"), "\(close)")
        #expect(try lab.portctl("close", "26", "--from", "198.51.100.0/25").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26, timeout: 0.5) == .timedOut)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        #expect(try lab.kernelMatchesPolicy())

        // A network that covers an element and one that splits it: the old element goes before
        // the new one comes, in the same batch, so the interval set never holds an overlap.
        var policy = try PolicyFile.decode(lab.policyBytes())
        let index = try #require(policy.rules.firstIndex { $0.id == "allow-tcp-26" })
        policy.rules[index].sources = try ["203.0.112.0/23", "10.0.0.0/9", "10.128.0.0/9"].map { try IPNetwork(parsing: $0) }
        try Data(PolicyFile.encode(policy).utf8).write(to: URL(fileURLWithPath: lab.policyPath))
        let plan = try lab.portctl("plan", "--format", "nft")
        #expect(plan.stdout.contains("delete element") && plan.stdout.contains("add element") && !plan.stdout.contains("delete set"), "\(plan)")
        let applied = try lab.portctl("apply")
        #expect(applied.status == 0, "\(applied)")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        #expect(try lab.kernelMatchesPolicy())
        #expect(try lab.nft("-a", "list", "chain", "inet", "portctl", "input").stdout == handles)
    }
}
