import Foundation
import Testing

/// status, audit, probe, rate limits and time-boxed openings against the real kernel.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct ObserveTests {
    func statusRules(_ lab: NetLab) throws -> [String: [String: Any]] {
        let outcome = try lab.portctl("status", "--json")
        #expect(outcome.status == 0, "\(outcome)")
        let json = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
        let rules = json?["rules"] as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: rules.map { ($0["id"] as? String ?? "", $0) })
    }

    /// (The counters are read after `open` recorded the generation cache: the terse listing.)
    @Test func statusCountersGrowWithRealConnections() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24,2001:db8:1::/64").status == 0)
        let before = try #require(try statusRules(lab)["allow-tcp-26"])
        #expect(before["packets"] as? Int == 0)
        for key in ["id", "ports", "protocol", "action", "sources", "packets", "bytes"] {
            #expect(before[key] != nil, "status --json rule objects carry \(key)")
        }
        #expect(before["sources"] as? [String] == ["198.51.100.0/24", "2001:db8:1::/64"])
        for _ in 0..<4 { #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected) }
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA6, port: 26) == .connected)
        let after = try #require(try statusRules(lab)["allow-tcp-26"])
        #expect(after["packets"] as? Int == 5, "five new connections, one SYN each hits the rule")
        #expect((after["bytes"] as? Int ?? 0) > 0)
        let text = try lab.portctl("status")
        #expect(text.stdout.contains("matches"), "\(text)")
    }

    /// After an apply, status reads the kernel without set elements (the generation cache
    /// vouches for them); an element added by hand commits, and status must see the drift.
    @Test func statusSeesElementDriftAfterTheCachedReading() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        func inSync() throws -> Bool? {
            let outcome = try lab.portctl("status", "--json")
            let json = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
            return json?["inSync"] as? Bool
        }
        #expect(try inSync() == true)
        #expect(try lab.nft("add", "element", "inet", "portctl", "allow-tcp-26-v4", "{ 203.0.113.0/24 }").status == 0)
        #expect(try inSync() == false, "an element added by hand is drift")
        #expect(try lab.portctl("status").stdout.contains("differs"))
        #expect(try lab.portctl("apply").status == 0)
        #expect(try inSync() == true)
    }

    @Test func statusNotesAnotherTableOnTheInputHook() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        #expect(try lab.nft("add", "table", "ip", "other").status == 0)
        #expect(try lab.nft("add", "chain", "ip", "other", "in", "{ type filter hook input priority 10; policy drop; }").status == 0)
        let status = try lab.portctl("status")
        #expect(status.stdout.contains("table ip other also filters the input hook") && status.stdout.contains("drop wins"), "\(status)")
    }

    @Test func auditClassifiesListenersExactly() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        // 25: a mail relay open to anyone (high); 8080: open to anyone (warning); 26: restricted
        // (nothing to say); 5432: listening but blocked (info); 9999: opened, nothing listens (warning).
        try lab.listen(25, 8080, 26, 5432)
        #expect(try lab.portctl("open", "25,8080,9999").status == 0)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.portctl("remove", "ssh").status == 0)
        let outcome = try lab.portctl("audit", "--json")
        #expect(outcome.status == 3, "a high finding exits 3: \(outcome)")
        let json = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
        let findings = (json?["findings"] as? [[String: Any]] ?? []).map {
            "\($0["port"] as? Int ?? 0)/\($0["protocol"] as? String ?? "") \($0["severity"] as? String ?? "") \($0["kind"] as? String ?? "")"
        }
        #expect(Set(findings) == ["25/tcp high sensitive-open-to-any", "8080/tcp warning open-to-any",
                                  "5432/tcp info listener-blocked", "9999/tcp warning stale-opening"], "\(findings)")
        let messages = (json?["findings"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
        #expect(messages.contains { $0.contains("netpeer[") }, "the owning process is named: \(messages)")

        #expect(try lab.portctl("open", "25", "--from", "198.51.100.0/24", "--id", "relays").status == 0)
        #expect(try lab.portctl("close", "25").status == 0)
        #expect(try lab.portctl("open", "25", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.portctl("audit").status == 0, "no high finding once 25 is restricted")
    }

    @Test func probeAgreesWithRealConnections() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 30)
        #expect(try lab.portctl("open", "26,27", "--from", "198.51.100.0/24").status == 0)  // 27: allowed, nothing listens
        #expect(try lab.portctl("reject", "28").status == 0)
        #expect(try lab.portctl("deny", "29").status == 0)
        // 30 listens but no rule allows it: filtered by the default drop.
        let probe = try run(["ip", "netns", "exec", lab.clientA, NetLab.portctlPath, "probe", NetLab.serverA4, "26-30", "--timeout", "1"])
        #expect(probe.status == 0, "\(probe)")
        #expect(probe.stdout == "26/tcp open\n27/tcp closed\n28/tcp closed\n29/tcp filtered\n30/tcp filtered\n", "\(probe.stdout)")
        let expected: [Int: Connection] = [26: .connected, 27: .refused, 28: .refused, 29: .timedOut, 30: .timedOut]
        for (port, connection) in expected {
            #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: port) == connection, "\(port)")
        }
        // A hundred ports take about one timeout, not a hundred.
        let started = Date()
        let many = try run(["ip", "netns", "exec", lab.clientA, NetLab.portctlPath, "probe", NetLab.serverA6, "1000-1099", "--timeout", "1", "--json"])
        #expect(many.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(many.stdout.utf8)) as? [String: Any]
        #expect((json?["ports"] as? [[String: Any]])?.count == 100)
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed < 10, "100 filtered ports at a 1 s timeout took \(elapsed) s: the probes must run concurrently")
    }

    @Test func limitCutsABurstFromOneSourceOnly() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        #expect(try lab.portctl("open", "26", "--limit", "3/minute").status == 0)
        var outcomes: [Connection] = []
        for _ in 0..<6 { outcomes.append(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26, timeout: 0.5)) }
        #expect(Array(outcomes.prefix(3)) == [.connected, .connected, .connected], "\(outcomes)")
        #expect(Array(outcomes.suffix(2)) == [.timedOut, .timedOut], "\(outcomes)")
        // Another source keeps its own allowance, over IPv4 and IPv6.
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB6, port: 26) == .connected)
        #expect(try lab.kernelMatchesPolicy())
    }

    @Test func timeBoxedOpeningExpiresByItselfAndStaysClosed() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(27)
        let opened = try lab.portctl("open", "27", "--from", "198.51.100.0/24", "--for", "3s")
        #expect(opened.status == 0, "\(opened)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .connected)
        let rule = try #require(try statusRules(lab)["allow-tcp-27"])
        #expect((rule["expiresIn"] as? Int ?? 99) <= 3 && rule["expires"] is String, "\(rule)")
        // The kernel expires it: no daemon, no portctl command in between.
        #expect(try waitUntil(seconds: 10) { try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27, timeout: 0.5) == .timedOut })
        // A later apply does not bring it back; what is left of it admits no one.
        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .timedOut)
        #expect(onlyLeftovers(of: "allow-tcp-27", try lab.kernelDifferences()))
        #expect(try statusRules(lab)["allow-tcp-27"] == nil)
    }

    @Test func fromFileLoadsThousandsOfSourcesAndNamesBadLines() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        var lines = ["# allow-list"] + (0..<5000).map { "10.\($0 / 256).\($0 % 256).0/24" }
        lines.append("198.51.100.2   # the lab client")
        let file = lab.directory.appendingPathComponent("sources.txt").path
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let opened = try lab.portctl("open", "26", "--from-file", file)
        #expect(opened.status == 0, "\(opened)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut)
        let set = try lab.nft("list", "set", "inet", "portctl", "allow-tcp-26-v4").stdout
        #expect(set.contains("10.0.0.0-10.19.135.255") || set.contains("10.0.0.0/12"), "merged into intervals: \(set.prefix(300))")
        try "10.0.0.0/8\nnot-an-address\n".write(toFile: file, atomically: true, encoding: .utf8)
        let bad = try lab.portctl("open", "27", "--from-file", file)
        #expect(bad.status == 64 && bad.stderr.contains("line 2"), "\(bad)")
    }

    @Test func loggedRulesAndDefaultRenderAndReadBack() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26", "--log").status == 0)
        #expect(try lab.portctl("deny", "23", "--log").status == 0)
        var text = try String(contentsOfFile: lab.policyPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "  outbound: accept\n", with: "  outbound: accept\n  log: true\n")
        try text.write(toFile: lab.policyPath, atomically: true, encoding: .utf8)
        #expect(try lab.portctl("apply").status == 0)
        let chain = try lab.nft("list", "chain", "inet", "portctl", "input").stdout
        #expect(chain.contains("log prefix \"portctl allow-tcp-26: \""))
        #expect(chain.contains("log prefix \"portctl deny-tcp-23: \""))
        #expect(chain.contains("log prefix \"portctl default drop: \""))
        #expect(try lab.kernelMatchesPolicy())
    }
}
