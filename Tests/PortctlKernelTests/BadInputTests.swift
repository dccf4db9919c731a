import Foundation
import PortPolicy
import Testing

/// Every bad input gets one line naming the value, a documented exit code, and changes nothing:
/// not the policy file, not the kernel.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct BadInputTests {
    static let long = String(repeating: "x", count: 400)

    /// Arguments that must be refused with exit 64.
    static let badArguments: [[String]] = [
        ["open", "0"], ["open", "65536"], ["open", "-1"], ["open", "abc"], ["open", "26/tcpx"], ["open", "10-5"],
        ["open", "1:2"], ["open", ",26"], ["open", "26,"], ["open", ""], ["open", "99999999999999999999999"],
        ["open", "26", "--from", "10.0.0.0/33"], ["open", "26", "--from", "300.1.1.1"], ["open", "26", "--from", "10.0.0.1/8"],
        ["open", "26", "--from", "::/129"], ["open", "26", "--from", "2001:db8:::1"], ["open", "26", "--from", "10.0.0.0/-1"],
        ["open", "26", "--from", ""], ["open", "26", "--from", "10.0.0.0/8,"], ["open", "26", "--from", long],
        ["open", "26", "--comment", "say \"hi\""], ["open", "26", "--comment", "two\nlines"], ["open", "26", "--comment", "back\\slash"],
        ["open", "26", "--comment", long], ["open", "26", "--comment", "bell\u{7}"],
        ["open", "26", "--interface", "eth0\""], ["open", "26", "--interface", "eth0;"], ["open", "26", "--interface", "eth0}"],
        ["open", "26", "--interface", "eth\n0"], ["open", "26", "--interface", long], ["open", "26", "--interface", ""],
        ["open", "26", "--id", "9lives"], ["open", "26", "--id", "a b"], ["open", "26", "--id", long], ["open", "26", "--id", "ssh"],
        ["deny", "23", "--comment", "x\"; flush ruleset; \""], ["reject", "25/sctp"], ["close", "26", "--from", "203.0.113.0/24"],
        ["remove", "no-such-rule"], ["open", "26", "--confirm", "0"], ["open", "26", "--bogus"], ["frobnicate"],
        ["open", "26", "--from", "198.51.100.0/24", "--out"], ["history", "999"],
        ["apply", "--boot", "--dry-run"], ["apply", "--boot", "--confirm", "30"], ["apply", "--boot", "--new", "-"],
    ]

    @Test(arguments: badArguments)
    func badArgumentsExit64AndChangeNothing(_ arguments: [String]) throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        let file = lab.policyBytes()
        let kernel = try lab.ruleset()
        let outcome = try lab.portctl(arguments)
        #expect(outcome.status == 64, "\(outcome)")
        let lines = outcome.stderr.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        #expect(lines.count == 1 && lines[0].hasPrefix("portctl: "), "one line on stderr, got: \(outcome.stderr)")
        #expect(!outcome.stderr.contains("Fatal error") && !outcome.stderr.contains("Stack dump"))
        #expect(lab.policyBytes() == file)
        #expect(try lab.ruleset() == kernel)
    }

    /// Policy files that must be refused with exit 65, by name.
    static let badFiles: [(String, Data)] = {
        let valid = "version: 1\nrules:\n  - id: ssh\n    ports: 22\n  - id: web\n    ports: [80, 443]\n    from: [198.51.100.0/24]\n"
        var binary = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) })
        binary[10] = 0
        return [
            ("unknown key", Data("version: 1\ncolour: blue\n".utf8)),
            ("misspelled key", Data("version: 1\nrules:\n  - id: a\n    prots: 26\n".utf8)),
            ("misspelled nested key", Data("defaults:\n  inbond: drop\n".utf8)),
            ("wrong type for rules", Data("rules: 5\n".utf8)),
            ("wrong type for ports", Data("rules:\n  - id: a\n    ports: {a: 1}\n".utf8)),
            ("wrong type for from", Data("rules:\n  - id: a\n    ports: 26\n    from: {a: 1}\n".utf8)),
            ("bad action", Data("rules:\n  - id: a\n    ports: 26\n    action: permit\n".utf8)),
            ("bad port", Data("rules:\n  - id: a\n    ports: 70000\n".utf8)),
            ("bad address", Data("rules:\n  - id: a\n    ports: 26\n    from: [10.0.0.1/8]\n".utf8)),
            ("duplicate ids", Data("rules:\n  - id: a\n    ports: 26\n  - id: a\n    ports: 27\n".utf8)),
            ("hostile comment", Data("rules:\n  - id: a\n    ports: 26\n    comment: \"x\\\"; flush ruleset\"\n".utf8)),
            ("hostile interface", Data("rules:\n  - id: a\n    ports: 26\n    interface: \"eth0 } table\"\n".utf8)),
            ("truncated", Data(valid.utf8.prefix(valid.utf8.count - 20))),
            ("truncated JSON", Data(#"{"version": 1, "rules": [{"id": "a", "ports": [2"#.utf8)),
            ("empty", Data()),
            ("only whitespace", Data("   \n\n".utf8)),
            ("binary", binary),
            ("a list, not a mapping", Data("- 1\n- 2\n".utf8)),
            ("future version", Data("version: 9\n".utf8)),
            ("50 MB", Data(repeating: UInt8(ascii: "#"), count: 50 << 20)),
        ]
    }()

    @Test(arguments: badFiles.map(\.0))
    func badPolicyFilesExit65AndChangeNothing(_ name: String) throws {
        let content = try #require(Self.badFiles.first { $0.0 == name }?.1)
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        let kernel = try lab.ruleset()
        try content.write(to: URL(fileURLWithPath: lab.policyPath))
        for arguments in [["apply"], ["open", "27"], ["plan"], ["list"], ["render"], ["check"]] {
            let outcome = try lab.portctl(arguments)
            #expect(outcome.status == 65, "\(name), \(arguments): \(outcome)")
            let lines = outcome.stderr.split(separator: "\n").filter { !$0.isEmpty }
            #expect(lines.count == 1 && lines[0].contains(lab.policyPath), "\(name), \(arguments): \(outcome.stderr)")
            #expect(lab.policyBytes() == content, "\(name), \(arguments): the file must stay as it was")
            #expect(try lab.ruleset() == kernel, "\(name), \(arguments)")
        }
    }
}

/// No text a user supplies can change the structure of the rendered ruleset: random hostile
/// strings in every free-text field are either refused, or applied and read back from the
/// kernel as exactly the table the policy describes (one table, one chain, the policy's rules).
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct HostileTextTests {
    static let fragments = ["\"", "\\", ";", "{", "}", "\n", "\r", "\t", "#", "$", "@", " ", "'", "*", ":", ".", "-", "_",
                            "a", "Z", "0", "9", "é", "🔥", "\u{202e}", "\u{0}", "\u{7f}", "table inet x {", "flush ruleset",
                            "accept", "drop;", "comment \"", "} chain y {", "\\\"", "//", "/*", "eth0", "lo", "ip saddr"]

    static func text(_ generator: inout SeededGenerator, maximum: Int) -> String {
        (0..<Int.random(in: 0...maximum, using: &generator)).map { _ in fragments.randomElement(using: &generator)! }.joined()
    }

    @Test func randomHostileTextNeverChangesTheTablesStructure() throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["PORTCTL_FUZZ_SEED"].flatMap(UInt64.init) ?? 20261129
        let cases = environment["PORTCTL_FUZZ_CASES"].flatMap(Int.init) ?? 60
        var generator = SeededGenerator(state: seed)
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "22").status == 0)
        var accepted = 0, refused = 0
        for index in 0..<cases {
            var rule = PortRule(id: "r\(index)", ports: [try PortRange(1000 + index)])
            // Each field gets hostile text on its own or alongside the others.
            let which = Int.random(in: 0..<4, using: &generator)
            if which == 0 || which == 3 { rule.comment = Self.text(&generator, maximum: 12) }
            if which == 1 || which == 3 { rule.interface = Self.text(&generator, maximum: 4) }
            if which == 2 || which == 3 { rule.id = "r" + Self.text(&generator, maximum: 6) }
            let policy = PortPolicy(rules: [PortRule(id: "ssh", ports: [try PortRange(22)]), rule])
            let before = try lab.ruleset()
            try PolicyFile.encode(policy).write(toFile: lab.policyPath, atomically: true, encoding: .utf8)
            let outcome = try lab.portctl("apply")
            let context = "seed \(seed) case \(index): id \(rule.id.debugDescription) comment \(String(describing: rule.comment).debugDescription) interface \(String(describing: rule.interface).debugDescription)"
            do {
                try policy.validate()
            } catch {
                refused += 1
                #expect(outcome.status == 65, "\(context): \(outcome)")
                #expect(try lab.ruleset() == before, "\(context)")
                continue
            }
            accepted += 1
            #expect(outcome.status == 0, "\(context): \(outcome)")
            let listing = try lab.nft("-j", "list", "ruleset").stdout
            let json = try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [String: Any]
            let items = json?["nftables"] as? [[String: Any]] ?? []
            #expect(items.compactMap { ($0["table"] as? [String: Any])?["name"] as? String } == ["portctl"], "\(context)")
            #expect(items.compactMap { ($0["chain"] as? [String: Any])?["name"] as? String } == Renderer.model(policy).chains.map(\.name),
                    "\(context): exactly the chains the policy renders")
            let live = try LiveTable.read(json: listing, table: "portctl")
            #expect(Planner.plan(policy, live: live).isEmpty, "\(context): the kernel's table must be exactly the policy's")
        }
        #expect(accepted > 5 && refused > 5, "the generator must exercise both paths (accepted \(accepted), refused \(refused))")
    }
}
