import Foundation
import PortPolicy
import Testing

/// Ways the kernel can differ from the policy while a careless reading says "in sync": a dormant
/// table, a reused namespace, sets emptied by hand or by their timeouts. Each is checked against
/// real packets and a real listing.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct KernelTruthTests {
    func counterPackets(_ lab: NetLab, _ name: String) throws -> Int {
        let listing = try lab.nft("list", "counter", "inet", "portctl", name).stdout
        let packets = listing.split(whereSeparator: \.isWhitespace).drop { $0 != "packets" }.dropFirst().first
        return Int(packets ?? "") ?? -1
    }

    @Test func aDormantTableIsDriftAndApplyWakesIt() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 27)
        #expect(try lab.portctl("open", "26").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 27) == .timedOut)
        let counted = try counterPackets(lab, "allow-tcp-26")
        #expect(counted > 0)
        #expect(try lab.portctl("plan").status == 0, "the cache is warm: the next plan must not trust it")

        // Switched off by hand: the whole firewall is gone.
        #expect(try lab.nft("add", "table", "inet", "portctl", "{ flags dormant; }").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 27) == .connected)
        let plan = try lab.portctl("plan")
        #expect(plan.status == 2 && plan.stdout.contains("dormant"), "\(plan)")
        let status = try lab.portctl("status")
        #expect(status.status == 0 && status.stdout.contains("DORMANT"), "\(status)")
        let json = try lab.portctl("status", "--json")
        #expect(json.status == 0 && json.stdout.contains("\"dormant\" : true"), "\(json)")
        // Someone else's dormant table must not spoil status either.
        #expect(try lab.nft("add", "table", "inet", "sleepy", "{ flags dormant; }").status == 0)
        #expect(try lab.portctl("status").status == 0)

        let applied = try lab.portctl("apply")
        #expect(applied.status == 0, "\(applied)")
        #expect(!(try lab.nft("list", "table", "inet", "portctl").stdout.contains("dormant")))
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 27) == .timedOut)
        #expect(try counterPackets(lab, "allow-tcp-26") >= counted, "waking the table kept the counters")
        #expect(try lab.portctl("plan").status == 0)
        #expect(try lab.kernelMatchesPolicy())
    }

    @Test func anAcceptUnderTheDefaultsCommentIsDrift() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(27)
        #expect(try lab.portctl("open", "26").status == 0)
        #expect(try lab.nft("insert", "rule", "inet", "portctl", "input", "tcp", "dport", "1-65535", "accept", "comment", "\"portctl: default\"").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 27) == .connected)
        let plan = try lab.portctl(["plan"], extraEnvironment: ["PORTCTL_NO_CACHE": "1"])
        #expect(plan.status == 2 && plan.stdout.contains("is not the policy's default"), "\(plan)")
        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 27, timeout: 0.5) == .timedOut)
    }

    @Test func aNewNamespaceIsNeverTakenForTheOneTheCacheSaw() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        #expect(try lab.portctl("plan").status == 0)
        let cachePath = lab.environment["PORTCTL_STATE_DIR"]! + "/live-cache.json"
        let cache = try String(contentsOfFile: cachePath, encoding: .utf8)
        #expect(cache.contains("\"cookie:"), "the cache names the namespace by its cookie: \(cache)")
        // The namespace goes; a new one comes (its inode may well be the old one's), and one
        // commit there brings the generation to where the old one was.
        #expect(try run(["ip", "netns", "del", lab.server]).status == 0)
        #expect(try run(["ip", "netns", "add", lab.server]).status == 0)
        #expect(try lab.nft("add", "table", "ip", "foo").status == 0)
        let plan = try lab.portctl("plan")
        #expect(plan.status == 2 && plan.stdout.contains("missing"), "\(plan)")
        let applied = try lab.portctl("apply")
        #expect(applied.status == 0 && !applied.stdout.contains("nothing sent"), "\(applied)")
        #expect(try lab.kernelMatchesPolicy())
    }

    @Test func anEmptiedSetReadsAsNoOneAndAnExpiryIsNotDrift() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 27)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.nft("delete", "element", "inet", "portctl", "allow-tcp-26-v4", "{ 198.51.100.0/24 }").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .timedOut)
        let plan = try lab.portctl("plan")
        #expect(plan.status == 2 && plan.stdout.contains("no one") && !plan.stdout.contains("from any"), "\(plan)")
        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)

        // An opening that expires as asked: closed in the kernel, and plan stays quiet about it.
        #expect(try lab.portctl("open", "27", "--from", NetLab.clientA4, "--for", "2s").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .connected)
        #expect(try waitUntil(seconds: 10) { try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27, timeout: 0.5) == .timedOut })
        let quiet = try lab.portctl(["plan"], extraEnvironment: ["PORTCTL_NO_CACHE": "1"])
        #expect(quiet.status == 0, "an expiry the policy asked for is not drift: \(quiet)")
        // The kernel still holds the expired rule's lines over an empty set, which the policy no
        // longer renders; the next change removes them, and then the table is exactly the render.
        #expect(onlyLeftovers(of: "allow-tcp-27", try lab.kernelDifferences()))
        #expect(try lab.portctl("open", "28").status == 0)
        #expect(!(try lab.nft("list", "table", "inet", "portctl").stdout.contains("allow-tcp-27")))
        #expect(try lab.kernelMatchesPolicy())
    }
}
