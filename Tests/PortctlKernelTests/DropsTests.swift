import Foundation
import PortPolicy
import Testing

/// The drop record against the real kernel: real TCP and UDP between namespaces, read back with
/// `portctl drops` and checked against nft's own listing of the set.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct DropsTests {
    /// One row of `drops --json`.
    struct Row: Hashable, CustomStringConvertible {
        var source: String
        var port: Int
        var proto: String
        var reason: String
        var rule: String?
        var description: String { "\(source) \(port)/\(proto) \(reason)\(rule.map { ":" + $0 } ?? "")" }
    }

    func report(_ lab: NetLab, _ arguments: String...) throws -> (rows: [Row: Int], json: [String: Any]) {
        let outcome = try lab.portctl(["drops", "--json"] + arguments)
        #expect(outcome.status == 0, "\(outcome)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        var rows: [Row: Int] = [:]
        for item in json["connections"] as? [[String: Any]] ?? [] {
            let row = Row(source: item["source"] as? String ?? "", port: item["port"] as? Int ?? 0, proto: item["proto"] as? String ?? "",
                          reason: item["reason"] as? String ?? "", rule: item["rule"] as? String)
            rows[row] = item["packets"] as? Int ?? 0
        }
        return (rows, json)
    }

    /// Every refused connection, and only those, with its packets: what dropped it named, the
    /// admitted ones never listed, and the table still in sync with its elements in it.
    @Test func dropsListsExactlyTheRefusedConnections() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        try lab.listenUDP(53)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24,2001:db8:1::/64").status == 0)
        #expect(try lab.portctl("deny", "3306").status == 0)
        #expect(try lab.portctl("reject", "53/udp", "--from", NetLab.clientB4).status == 0)
        // Admitted: never recorded.
        for _ in 0..<3 { #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected) }
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA6, port: 26) == .connected)
        // Refused by the default (one SYN each: the timeout is shorter than TCP's first retry).
        for _ in 0..<2 { #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26, timeout: 0.5) == .timedOut) }
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB6, port: 26, timeout: 0.5) == .timedOut)
        // Refused by rules.
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 3306, timeout: 0.5) == .timedOut)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 53, timeout: 0.5, udp: true) != .connected)

        let (rows, json) = try report(lab)
        #expect(rows == [
            Row(source: NetLab.clientB4, port: 26, proto: "tcp", reason: "default"): 2,
            Row(source: NetLab.clientB6, port: 26, proto: "tcp", reason: "default"): 1,
            Row(source: NetLab.clientA4, port: 3306, proto: "tcp", reason: "rule", rule: "deny-tcp-3306"): 1,
            Row(source: NetLab.clientB4, port: 53, proto: "udp", reason: "rule", rule: "reject-udp-53"): 1,
        ], "\(rows)")
        #expect(json["recording"] as? Bool == true && json["keptSeconds"] as? Int == 600 && json["unrecorded"] as? Int == 0)
        // The kernel's own listing holds the same tuples (the report is read from it, not made up).
        let listing = try lab.nft("list", "set", "inet", "portctl", "portctl-drops4").stdout
        #expect(listing.contains("\(NetLab.clientB4) . tcp . 26 . 0x10000000 counter packets 2"), "\(listing)")
        #expect(!listing.contains(NetLab.clientA4 + " . tcp . 26"), "\(listing)")
        // Recorded drops are state, not drift.
        #expect(try lab.kernelMatchesPolicy())
        #expect(try lab.portctl("plan").stdout.contains("nothing to change"))
        // Filters, and the text report with the command that would admit a refused source.
        #expect(try report(lab, "--port", "26", "--from", "203.0.113.0/24").rows.keys.map(\.source) == [NetLab.clientB4])
        #expect(try report(lab, "--reason", "rule").rows.count == 2)
        #expect(try report(lab, "--top", "1").rows == [Row(source: NetLab.clientB4, port: 26, proto: "tcp", reason: "default"): 2])
        let text = try lab.portctl("drops", "--port", "26/tcp")
        #expect(text.status == 0 && text.stdout.contains("the inbound default"), "\(text)")
        #expect(text.stdout.contains("portctl open 26/tcp --from \(NetLab.clientB4)"), "\(text)")
        #expect(!text.stdout.contains("3306"), "\(text)")
        // Bad input: one line naming the value, exit 64.
        for bad in [["--since", "soon"], ["--top", "0"], ["--reason", "fate"], ["--port", "99999"], ["--from", "10.0.0.300"]] {
            let outcome = try lab.portctl(["drops"] + bad)
            #expect(outcome.status == 64 || outcome.status == 65, "\(bad): \(outcome)")
            #expect(outcome.stderr.contains(bad[1]), "\(bad): \(outcome)")
        }
    }

    /// A rate limit counts what it turns away (status, metrics) and records the sources over it.
    @Test func rateLimitsCountAndRecordWhatTheyRefuse() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        #expect(try lab.portctl("open", "26", "--limit", "3/minute").status == 0)
        var outcomes: [Connection] = []
        for _ in 0..<7 { outcomes.append(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26, timeout: 0.5)) }
        let refused = outcomes.filter { $0 == .timedOut }.count
        #expect(refused >= 3 && outcomes.prefix(3).allSatisfy { $0 == .connected }, "\(outcomes)")
        let status = try lab.portctl("status", "--json")
        let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        let rule = (json?["rules"] as? [[String: Any]])?.first { $0["id"] as? String == "allow-tcp-26" }
        #expect(rule?["limitedPackets"] as? Int == refused, "\(status)")
        #expect(try lab.portctl("status").stdout.contains("\(refused) packets over it dropped"))
        // The kernel's counter is the source of both.
        #expect(try lab.nft("list", "counter", "inet", "portctl", "portctl-limited-allow-tcp-26").stdout.contains("packets \(refused) "))
        let metrics = try lab.portctl("metrics")
        #expect(metrics.stdout.contains("portctl_rule_limited_packets_total{id=\"allow-tcp-26\"} \(refused)"), "\(metrics)")
        #expect(metrics.stdout.contains("portctl_recent_drops{port=\"26\",protocol=\"tcp\",reason=\"limit\"} \(refused)"), "\(metrics)")
        #expect(try report(lab).rows == [Row(source: NetLab.clientA4, port: 26, proto: "tcp", reason: "limit", rule: "allow-tcp-26"): refused])
        #expect(try lab.kernelMatchesPolicy())
    }

    /// Bans and published (DNATed) ports are recorded with their own reasons; the published port
    /// is the one the client asked for, not the one the DNAT made of it.
    @Test func bansAndPublishedPortsAreRecorded() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.addTarget()
        try lab.listen([80], in: lab.target, udp: false)
        let path = lab.directory.appendingPathComponent("nat.nft").path
        try Data(PublishedTests.nat.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try lab.nft("-f", path).status == 0)
        #expect(try lab.portctl("open", "22").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 8080, timeout: 0.5) == .timedOut)
        #expect(try lab.portctl("ban", NetLab.clientB4).status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 22, timeout: 0.5) == .timedOut)
        let rows = try report(lab).rows
        #expect(rows == [Row(source: NetLab.clientA4, port: 8080, proto: "tcp", reason: "published-default"): 1,
                         Row(source: NetLab.clientB4, port: 22, proto: "tcp", reason: "ban"): 1], "\(rows)")
        #expect(try lab.kernelMatchesPolicy())
    }

    /// `defaults.drops: off` takes the record away in one named change, and back.
    @Test func recordingCanBeTurnedOff() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "22").status == 0)
        let text = String(decoding: lab.policyBytes(), as: UTF8.self)
        try Data(text.replacingOccurrences(of: "defaults:\n", with: "defaults:\n  drops: off\n").utf8).write(to: URL(fileURLWithPath: lab.policyPath))
        let plan = try lab.portctl("plan")
        #expect(plan.stdout.contains("drop record: 10m -> off"), "\(plan)")
        #expect(!plan.stdout.contains("drift"), "\(plan)")
        #expect(try lab.portctl("apply").status == 0)
        #expect(!(try lab.ruleset()).contains("portctl-drops"))
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26, timeout: 0.5) == .timedOut)
        let none = try lab.portctl("drops")
        #expect(none.status == 0 && none.stdout.contains("records no refused connections"), "\(none)")
        try Data(text.utf8).write(to: URL(fileURLWithPath: lab.policyPath))
        #expect(try lab.portctl("plan").stdout.contains("drop record: off -> 10m"))
        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.kernelMatchesPolicy())
    }

    /// A full record still refuses (the recording line never holds the verdict), and says how
    /// many it could not keep.
    @Test func aFullRecordStillRefusesAndCountsWhatItMissed() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "22").status == 0)
        // Fill the IPv4 set by hand: 65,536 elements from 10.x (named, never sent to).
        var batch = "add element inet portctl portctl-drops4 { "
        batch += (0..<Renderer.dropSetSize).map { "10.\($0 >> 16).\(($0 >> 8) & 255).\($0 & 255) . tcp . 26 . 0x10000000" }.joined(separator: ", ")
        batch += " }\n"
        let path = lab.directory.appendingPathComponent("fill.nft").path
        try Data(batch.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try lab.nft("-f", path).status == 0)
        for _ in 0..<2 { #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26, timeout: 0.5) == .timedOut) }
        let (rows, json) = try report(lab, "--from", NetLab.clientB4)
        #expect(rows.isEmpty, "\(rows)")
        #expect(json["unrecorded"] as? Int == 2, "\(json["unrecorded"] ?? "")")
        let text = try lab.portctl("drops", "--top", "1")
        #expect(text.stderr.contains("2 refused connections could not be recorded"), "\(text)")
        // IPv6 has its own set, not full.
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB6, port: 26, timeout: 0.5) == .timedOut)
        #expect(try report(lab, "--from", NetLab.clientB6).rows.count == 1)
    }
}
