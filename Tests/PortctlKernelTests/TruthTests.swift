import Foundation
import PortPolicy
import Testing

/// Issue 22, "nothing that lies": what portctl says about the kernel and the policy is true.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct TruthTests {
    /// 0.0.0.0/0 and ::/0 spelled out (inline or in an address file) are any source: the change
    /// warns, audit reports it, and every client gets in.
    @Test func sourcesCoveringEverythingAreAnySource() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 27)
        let opened = try lab.portctl("open", "26", "--from", "0.0.0.0/0,::/0")
        #expect(opened.status == 0, "\(opened)")
        #expect(opened.stderr.contains("26/tcp is open to ANY source address, IPv4 and IPv6"), "\(opened)")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA6, port: 26) == .connected)
        let audit = try lab.portctl("audit")
        #expect(audit.status == 3, "\(audit)")
        #expect(audit.stdout.contains("rule \"allow-tcp-26\" lets any source reach it"), "\(audit)")

        // Two halves of IPv4 in an address file: any IPv4 source.
        let file = lab.directory.appendingPathComponent("halves.txt").path
        try "0.0.0.0/1\n128.0.0.0/1\n".write(toFile: file, atomically: true, encoding: .utf8)
        let halves = try lab.portctl("open", "27", "--from", "@" + file)
        #expect(halves.status == 0, "\(halves)")
        #expect(halves.stderr.contains("27/tcp is open to ANY IPv4 source address"), "\(halves)")
        let json = try lab.portctl("audit", "--json")
        #expect(json.stdout.contains("any IPv4 source (0.0.0.0/0)"), "\(json)")
        let metrics = try lab.portctl("metrics")
        #expect(metrics.stdout.contains("portctl_rule_open_to_any{id=\"allow-tcp-27\",family=\"ipv4\"} 1"), "\(metrics)")
        #expect(metrics.stdout.contains("portctl_rule_open_to_any{id=\"allow-tcp-27\",family=\"ipv6\"} 0"), "\(metrics)")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 27) == .connected)
    }

    /// portctl's own default changes are never drift: from a fresh namespace each switch names
    /// itself, plan is in sync afterwards, and history records no drift.
    @Test func ownDefaultChangesAreNotDrift() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        let steps: [([String], String)] = [
            (["default", "routed", "drop"], "routed default: accept -> drop"),
            (["default", "published", "accept"], "published default: filter -> accept"),
            (["default", "published", "filter"], "published default: accept -> filter"),
            (["default", "routed", "accept"], "routed default: drop -> accept"),
            (["default", "published", "accept"], "published default: filter -> accept"),
            (["default", "routed", "drop"], "routed default: accept -> drop"),
        ]
        for (arguments, named) in steps {
            let changed = try lab.portctl(arguments)
            #expect(changed.status == 0, "\(changed)")
            #expect(changed.stdout.contains(named), "\(arguments): \(changed)")
            #expect(!changed.stdout.contains("drift") && !changed.stderr.contains("drift"), "\(arguments): \(changed)")
            let plan = try lab.portctl("plan")
            #expect(plan.status == 0, "after \(arguments): \(plan)")
            #expect(try lab.kernelMatchesPolicy())
        }
        let history = try lab.portctl("history", "--json")
        #expect(history.status == 0, "\(history)")
        #expect(!history.stdout.contains("\"drift\""), "\(history)")
    }

    /// An edited saved plan, which apply refuses, is not explained either.
    @Test func explainRefusesAnEditedPlan() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.portctl("open", "27", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.portctl("close", "27").status == 0)
        let path = lab.directory.appendingPathComponent("reviewed.json").path
        _ = try lab.portctl("plan", "-o", path)
        #expect(try lab.portctl("explain", "--plan", path, "198.51.100.9", "26").status == 0)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("198.51.100.0/24"))
        try text.replacingOccurrences(of: "198.51.100.0/24", with: "0.0.0.0/0").write(toFile: path, atomically: true, encoding: .utf8)
        let applied = try lab.portctl("apply", path)
        #expect(applied.status == 65, "\(applied)")
        let explained = try lab.portctl("explain", "--plan", path, "203.0.113.9", "26")
        #expect(explained.status == 65, "\(explained)")
        #expect(explained.stdout.isEmpty && explained.stderr.split(separator: "\n").count == 1, "\(explained)")
        #expect(explained.stderr.contains("was edited after it was saved"), "\(explained)")
    }

    /// Ids nft reads as operators are refused before nft sees them; expiries past nft's eight
    /// digits of seconds work, and past the kernel's longest timeout are refused.
    @Test func operatorIdsAndFarExpiries() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        for id in ["and", "or", "xor", "not", "lt", "gt", "le", "ge", "eq", "ne", "lshift", "rshift"] {
            let opened = try lab.portctl("open", "26", "--id", id)
            #expect(opened.status == 64, "\(id): \(opened)")
            #expect(opened.stderr.contains("keyword"), "\(id): \(opened)")
        }
        #expect(!FileManager.default.fileExists(atPath: lab.policyPath))
        #expect(try lab.nft("list", "tables").stdout.isEmpty)

        for (year, works) in [(2031, true), (2061, true), (2500, true), (2700, false)] {
            let policy = "table: portctl\ndefaults:\n  inbound: drop\nrules:\n  - id: ssh\n    ports: [22]\n  - id: later\n    ports: [26]\n    from: [198.51.100.0/24]\n    expires: \(year)-01-01T00:00:00Z\n"
            try policy.write(toFile: lab.policyPath, atomically: true, encoding: .utf8)
            let applied = try lab.portctl("apply")
            if works {
                #expect(applied.status == 0, "\(year): \(applied)")
                #expect(try lab.kernelMatchesPolicy(), "\(year)")
                #expect(try lab.nft("list", "set", "inet", "portctl", "later-v4").stdout.contains("timeout "), "\(year)")
            } else {
                #expect(applied.status == 65, "\(year): \(applied)")
                #expect(applied.stderr.contains("213503 days"), "\(year): \(applied)")
            }
        }
    }

    /// close --from part of a listed network splits it: real connections from inside the part
    /// removed are refused, from outside it still admitted.
    @Test func closingPartOfANetworkSplitsIt() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(27)
        #expect(try lab.portctl("open", "27", "--from", "198.51.100.0/24,203.0.113.0/24").status == 0)
        let dry = try lab.portctl("close", "27", "--from", "203.0.113.0/25", "--dry-run")
        #expect(dry.status == 2 && dry.stdout.contains("203.0.113.128/25"), "\(dry)")
        let closed = try lab.portctl("close", "27", "--from", "203.0.113.0/25")
        #expect(closed.status == 0, "\(closed)")
        #expect(closed.stdout.contains("narrowed rule allow-tcp-27"), "\(closed)")
        let set = try lab.nft("list", "set", "inet", "portctl", "allow-tcp-27-v4").stdout
        #expect(set.contains("203.0.113.128/25") && set.contains("198.51.100.0/24") && !set.contains("203.0.113.0/24"), "\(set)")
        #expect(try lab.kernelMatchesPolicy())
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 27) == .timedOut)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .connected)
        // Outside the client's part: 198.51.100.2 keeps access.
        #expect(try lab.portctl("close", "27", "--from", "198.51.100.128/25").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .connected)
        #expect(try lab.portctl("plan").status == 0)
    }

    /// A dry run writes nothing: no state folder, no lock file, no cache, no policy file.
    @Test func aDryRunWritesNothing() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        let state = lab.environment["PORTCTL_STATE_DIR"]!
        for arguments in [["open", "26", "--dry-run"], ["default", "routed", "drop", "--dry-run"], ["close", "26", "--dry-run"]] {
            let dry = try lab.portctl(arguments)
            #expect(dry.status == 0 || dry.status == 2, "\(arguments): \(dry)")
            #expect(!FileManager.default.fileExists(atPath: state), "\(arguments) made the state folder")
            #expect(!FileManager.default.fileExists(atPath: lab.policyPath))
        }
        // With a state folder there already, a dry run adds nothing to it (no lock, no cache).
        #expect(try lab.portctl("open", "26").status == 0)
        try? FileManager.default.removeItem(atPath: state + "/lock")
        try? FileManager.default.removeItem(atPath: state + "/live-cache.json")
        let before = try FileManager.default.contentsOfDirectory(atPath: state).sorted()
        #expect(try lab.portctl("open", "27", "--dry-run").status == 2)
        #expect(try lab.portctl("ban", "203.0.113.9", "--dry-run").status == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: state).sorted() == before)
    }

    /// Outbound: an allow under the outbound default accept is said to change nothing; the
    /// default drop warns about DNS and updates and the applied line names it; destinations from
    /// an @FILE decide real connections from this host.
    @Test func outboundRulesSayWhatTheyDo() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen([26], in: lab.clientA, udp: false)
        try lab.listen([26], in: lab.clientB, udp: false)
        let file = lab.directory.appendingPathComponent("relays.txt").path
        try "198.51.100.0/24\n".write(toFile: file, atomically: true, encoding: .utf8)
        let opened = try lab.portctl("open", "26", "--out", "--to", "@" + file)
        #expect(opened.status == 0, "\(opened)")
        #expect(opened.stdout.contains("added rule allow-out-tcp-26"), "\(opened)")
        #expect(opened.stderr.contains("the outbound default is accept, so it changes nothing"), "\(opened)")
        #expect(try lab.connect(from: lab.server, to: NetLab.clientB4, port: 26) == .connected)
        let dropped = try lab.portctl("default", "outbound", "drop")
        #expect(dropped.status == 0, "\(dropped)")
        #expect(dropped.stderr.contains("DNS (53), NTP (123/udp), package updates"), "\(dropped)")
        #expect(dropped.stdout.contains("outbound default drop"), "\(dropped)")
        #expect(try lab.kernelMatchesPolicy())
        #expect(try lab.connect(from: lab.server, to: NetLab.clientA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.server, to: NetLab.clientB4, port: 26) == .timedOut)
    }

    /// status shows an address file as the file and what it holds, and counts one packet as one.
    @Test func statusShowsAnAddressFileTruthfully() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        let file = lab.directory.appendingPathComponent("relays.txt").path
        try "198.51.100.10\n198.51.100.2\n198.51.100.12\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.10,@" + file).status == 0)
        let status = try lab.portctl("status")
        #expect(status.status == 0, "\(status)")
        #expect(status.stdout.contains("198.51.100.10, @\(file) (3 addresses: 198.51.100.10, 198.51.100.2, ...)"), "\(status)")
        #expect(!status.stdout.contains(" 1 packets") && !status.stdout.contains(" 1 bytes"), "\(status)")
    }
}
