import Foundation
import PortPolicy
import Testing

/// One meaning per flag, values refused by the parser, and values that start with a dash
/// (issue 25). Kernel state is read with nft; refusals change nothing.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct FlagSpellingTests {
    /// Every rule command takes `--in-interface` for the way in and `--out-interface` for the way
    /// out; `--interface` is `--in-interface`.
    @Test func interfacesHaveOneSpellingOnEveryCommand() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        for arguments in [["open", "26", "--in-interface", "eth7"], ["open", "27", "--interface", "eth8"],
                          ["open", "53/udp", "--out", "--out-interface", "eth9", "--to", "203.0.113.0/24"],
                          ["deny", "28", "--in-interface", "eth6"], ["reject", "29", "--routed", "--in-interface", "eth4", "--out-interface", "eth5"],
                          ["forward", "30", "--to", "203.0.113.2", "--in-interface", "eth3", "--from", "198.51.100.0/24"],
                          ["route", "31", "--in-interface", "eth1", "--out-interface", "eth2"]] {
            let outcome = try lab.portctl(arguments)
            #expect(outcome.status == 0, "\(arguments): \(outcome)")
        }
        let table = try lab.nft("list", "table", "inet", "portctl").stdout
        for expected in ["iifname \"eth7\" tcp dport 26", "iifname \"eth8\" tcp dport 27", "oifname \"eth9\"", "iifname \"eth6\"",
                         "iifname \"eth4\" oifname \"eth5\"", "iifname \"eth3\"", "iifname \"eth1\" oifname \"eth2\""] {
            #expect(table.contains(expected), "\(expected) in\n\(table)")
        }
        #expect(try lab.kernelMatchesPolicy())

        // An interface option never changes meaning with the rule's direction.
        let kernel = try lab.ruleset(), file = lab.policyBytes()
        for (arguments, named) in [(["open", "32", "--out", "--in-interface", "eth0"], "use --out-interface"),
                                   (["open", "32", "--out", "--interface", "eth0"], "use --out-interface"),
                                   (["open", "32", "--out-interface", "eth0"], "inbound rules take --in-interface"),
                                   (["deny", "32", "--out-interface", "eth0"], "inbound rules take --in-interface"),
                                   (["explain", NetLab.clientA4, "26", "--out-interface", "eth0"], "--out-interface goes with --to")] {
            let refused = try lab.portctl(arguments)
            #expect(refused.status == 64 && refused.stderr.contains(named) && refused.stderr.split(separator: "\n").count == 1, "\(arguments): \(refused)")
        }
        #expect(try lab.ruleset() == kernel && lab.policyBytes() == file)
    }

    /// Bad ports, durations, confirmation times and rates are refused by the parser: one line
    /// naming the value and what is allowed, exit 64, nothing changed.
    @Test(arguments: [
        (["open", "70000"], "invalid port \"70000\": ports run from 1 to 65535"),
        (["open", "25,70000"], "invalid port \"70000\": ports run from 1 to 65535"),
        (["open", "2\n6"], "invalid port \"2\\n6\""),
        (["close", "10-5"], "invalid port \"10-5\": a range runs from low to high"),
        (["deny", "26/sctp"], "invalid protocol \"sctp\": use tcp, udp or both"),
        (["route", "0"], "invalid port \"0\": ports run from 1 to 65535"),
        (["forward", "65536", "--to", "203.0.113.2"], "invalid port \"65536\""),
        (["explain", "198.51.100.2", "26-27"], "invalid port \"26-27\": explain takes one port"),
        (["open", "26", "--for", "5x"], "invalid duration \"5x\": use a time like 90s"),
        (["open", "26", "--for", "-5m"], "invalid duration \"-5m\""),
        (["ban", "203.0.113.9", "--for", "0s"], "invalid duration \"0s\""),
        (["open", "26", "--confirm", "25h"], "invalid --confirm \"25h\": use seconds (1 to 86400)"),
        (["open", "26", "--limit", "-6/minute"], "\"-6/minute\""),
        (["drops", "--since", "soon"], "invalid duration \"soon\""),
        (["drops", "--port", "99999"], "invalid port \"99999\""),
        (["trace", "203.0.113.5", "26", "--timeout", "-5"], "invalid --timeout \"-5\": use a time like 30s"),
        (["trace", "203.0.113.5", "26-27"], "invalid port \"26-27\": trace takes one port"),
        (["watch", "26", "70000"], "invalid port \"70000\""),
        (["default", "inbound", "bogus"], "invalid inbound default \"bogus\": use drop, reject, accept"),
        (["open", "-5"], "invalid value \"-5\": ports run from 1 to 65535"),
        (["history", "-1"], "invalid value \"-1\""),
        (["open", "26", "--comment", "--dry-run"], "--comment \"--dry-run\": that is an option, not a value"),
        (["open", "26", "--comment", "--from=198.51.100.0/24"], "--comment \"--from=198.51.100.0/24\": that is an option, not a value"),
        (["open", "26", "--comment", "--confirm=30"], "--comment \"--confirm=30\": that is an option, not a value"),
    ] as [([String], String)])
    func badValuesAreRefusedByTheParser(_ arguments: [String], _ named: String) throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "22").status == 0)
        let kernel = try lab.ruleset(), file = lab.policyBytes()
        let refused = try lab.portctl(arguments)
        #expect(refused.status == 64, "\(arguments): \(refused)")
        let lines = refused.stderr.split(separator: "\n").filter { !$0.isEmpty }
        #expect(lines.count == 1 && lines[0].hasPrefix("portctl: ") && lines[0].contains(named), "\(arguments): \(refused)")
        #expect(try lab.ruleset() == kernel && lab.policyBytes() == file)
    }

    /// A value that starts with a dash is the value of the option before it, on every command
    /// that takes free text.
    @Test func aValueMayStartWithADash() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        for arguments in [["open", "26", "--comment", "-5 relays"], ["deny", "23", "--comment", "-x telnet"],
                          ["forward", "30", "--to", "203.0.113.2", "--from", "198.51.100.0/24", "--comment", "-1 forward"],
                          ["route", "31", "--comment", "-2 route"], ["open", "32", "--comment=--dry-run"]] {
            let outcome = try lab.portctl(arguments)
            #expect(outcome.status == 0, "\(arguments): \(outcome)")
        }
        let table = try lab.nft("list", "table", "inet", "portctl").stdout
        for comment in ["-5 relays", "-x telnet", "-1 forward", "-2 route", "--dry-run"] {
            #expect(table.contains(": \(comment)\""), "\(comment) in\n\(table)")
        }
        let banned = try lab.portctl("ban", "203.0.113.9", "--comment", "-f2b")
        #expect(banned.status == 0 && banned.stdout.contains("(-f2b)"), "\(banned)")
        #expect(try lab.kernelMatchesPolicy())
    }
}
