import Foundation
import PortPolicy
import Testing

/// Bans: state, not policy. Every new connection from a banned source is dropped on every port,
/// SSH included; the kernel lifts timed bans; apply and plan leave them alone, and a rewritten
/// table gets them back from the state folder.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct BanTests {
    @Test func aBanDropsEveryPortUntilUnbanned() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(22, 26)
        #expect(try lab.portctl("open", "26").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 22) == .connected)

        let banned = try lab.portctl("ban", NetLab.clientA4, "2001:db8:1::2/127", "--comment", "f2b-smtp")
        #expect(banned.status == 0 && banned.stdout.contains("banned \(NetLab.clientA4)"), "\(banned)")
        for (host, port) in [(NetLab.serverA4, 22), (NetLab.serverA4, 26), (NetLab.serverA6, 26)] {
            #expect(try lab.connect(from: lab.clientA, to: host, port: port, timeout: 0.5) == .timedOut, "\(host):\(port)")
        }
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        // Bans are state: the kernel matches the policy, and apply sends nothing.
        #expect(try lab.portctl(["plan"], extraEnvironment: ["PORTCTL_NO_CACHE": "1"]).status == 0)
        #expect(try lab.kernelMatchesPolicy())
        let explain = try lab.portctl("explain", NetLab.clientA4, "26")
        #expect(explain.stdout.contains("drop (banned: \(NetLab.clientA4)"), "\(explain)")
        let list = try lab.portctl("bans", "--json")
        #expect(list.stdout.contains("f2b-smtp") && list.stdout.contains("2001:db8:1::2/127"), "\(list)")
        // Each ban counts what it dropped: the three refused connections above, SYN retries and all.
        let bans = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]] ?? []
        let hits = bans.first { $0["network"] as? String == NetLab.clientA4 }?["hits"] as? Int ?? 0
        #expect(hits >= 2, "\(list)")
        #expect(bans.first { $0["network"] as? String == "2001:db8:1::2/127" }?["hits"] as? Int ?? 0 >= 1, "\(list)")
        #expect(try lab.portctl("metrics").stdout.contains("portctl_bans 2"))

        // A rewritten table (here: gone and back) gets the bans back from the state folder.
        #expect(try lab.portctl("disable").status == 0)
        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26, timeout: 0.5) == .timedOut)

        let lifted = try lab.portctl("unban", NetLab.clientA4, "2001:db8:1::2/127")
        #expect(lifted.status == 0 && lifted.stdout.contains("unbanned"), "\(lifted)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA6, port: 26) == .connected)
    }

    @Test func timedBansExpireInTheKernelAndBadInputChangesNothing() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        #expect(try lab.portctl("open", "26").status == 0)
        #expect(try lab.portctl("ban", NetLab.clientA4, "--for", "2s").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26, timeout: 0.5) == .timedOut)
        // The kernel ends the ban by itself after two seconds: no portctl command in between.
        #expect(try waitUntil(seconds: 10) { try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26, timeout: 0.5) == .connected })

        let ruleset = try lab.listing("list", "table", "inet", "portctl")
        for arguments in [["ban", "198.51.100.0/024"], ["ban", "not-an-address"], ["ban", NetLab.clientA4, "--for", "soon"]] {
            let refused = try lab.portctl(arguments)
            #expect(refused.status == 64 && refused.stderr.split(separator: "\n").count == 1, "\(arguments): \(refused)")
        }
        #expect(try lab.listing("list", "table", "inet", "portctl") == ruleset)
        // Banning your own SSH client needs --force.
        let own = try lab.portctl(["ban", "198.51.100.0/24"], extraEnvironment: ["SSH_CONNECTION": "\(NetLab.clientA4) 50000 \(NetLab.serverA4) 22"])
        #expect(own.status == 1 && own.stderr.contains("your own SSH client"), "\(own)")
        let dry = try lab.portctl("ban", NetLab.clientB4, "--dry-run")
        #expect(dry.status == 2 && dry.stdout.contains("add element inet portctl portctl-bans-h4 { \(NetLab.clientB4) }"), "\(dry)")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
    }
}
