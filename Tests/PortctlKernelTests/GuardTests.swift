import Foundation
import PortPolicy
import Testing

/// The lockout guard, input that must be refused whole, `disable` as a real change, and a
/// `--confirm` whose watchdog died.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct GuardTests {
    let ssh = ["SSH_CONNECTION": "\(NetLab.clientA4) 50000 \(NetLab.serverA4) 22"]

    @Test func anUnreadableSSHConnectionIsNotSilentlyUnguarded() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        let kernel = try lab.ruleset()
        for value in ["garbage", "198.51.100.2 50000 198.51.100.1", "198.51.100.2 50000 198.51.100.1 22 extra", ""] {
            let refused = try lab.portctl(["remove", "ssh"], extraEnvironment: ["SSH_CONNECTION": value])
            #expect(refused.status == 1 && refused.stderr.contains("SSH_CONNECTION"), "\(value): \(refused)")
            #expect(refused.stderr.split(separator: "\n").count == 1)
        }
        #expect(try lab.ruleset() == kernel)
        // A link-local client with a zone is read, and guarded.
        let zoned = try lab.portctl(["remove", "ssh"], extraEnvironment: ["SSH_CONNECTION": "fe80::2%eth0 50000 fe80::1%eth0 22"])
        #expect(zoned.status == 1 && zoned.stderr.contains("refusing: this change would block new SSH logins from fe80::2"), "\(zoned)")
        // A service address on lo says nothing about the interface a login arrives on: an allow
        // limited to one interface does not count for it.
        #expect(try run(["ip", "-n", lab.server, "addr", "add", "203.0.113.50/32", "dev", "lo"]).status == 0)
        let onLo = ["SSH_CONNECTION": "\(NetLab.clientA4) 50000 203.0.113.50 22"]
        #expect(try lab.portctl(["open", "22", "--from", NetLab.clientA4, "--interface", "eth9", "--id", "ssh-eth9"], extraEnvironment: onLo).status == 0)
        let loRefused = try lab.portctl(["remove", "ssh"], extraEnvironment: onLo)
        #expect(loRefused.status == 1 && loRefused.stderr.contains("refusing"), "\(loRefused)")
        // --force turns the check off, and says so.
        let forced = try lab.portctl(["open", "27", "--force"], extraEnvironment: ["SSH_CONNECTION": "garbage"])
        #expect(forced.status == 0 && forced.stderr.contains("not checked"), "\(forced)")
    }

    @Test func anExpiringAllowDoesNotCountAndDryRunsRefuseToo() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        #expect(try lab.portctl(["open", "22", "--from", NetLab.clientA4, "--for", "90s", "--id", "ssh-tmp"], extraEnvironment: ssh).status == 0)
        let file = lab.policyBytes()
        let refused = try lab.portctl(["remove", "ssh"], extraEnvironment: ssh)
        #expect(refused.status == 1 && refused.stderr.contains("once rule \"ssh-tmp\" expires"), "\(refused)")
        let dry = try lab.portctl(["remove", "ssh", "--dry-run"], extraEnvironment: ssh)
        #expect(dry.status == 1 && dry.stderr.contains("refusing"), "\(dry)")
        #expect(lab.policyBytes() == file)
        #expect(try lab.kernelMatchesPolicy())
        // A rule that outlives the --confirm deadline counts.
        let confirmed = try lab.portctl(["remove", "ssh", "--confirm", "30"], extraEnvironment: ssh)
        #expect(confirmed.status == 0, "\(confirmed)")
        #expect(try lab.portctl("rollback").status == 0)
        // A tight rate limit on the only rule that admits the login is worth a warning.
        #expect(try lab.portctl(["open", "22", "--from", NetLab.clientA4, "--limit", "1/day", "--id", "ssh-slow"], extraEnvironment: ssh).status == 0)
        let warned = try lab.portctl(["remove", "ssh", "--force"], extraEnvironment: [:])
        #expect(warned.status == 0)
        let next = try lab.portctl(["open", "28"], extraEnvironment: ssh)
        #expect(next.status == 0 && next.stderr.contains("1/day"), "\(next)")
    }

    @Test func badInputChangesNothing() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        let file = lab.policyBytes()
        let kernel = try lab.ruleset()
        let cases: [[String]] = [
            ["open", "27", "--from", "198.51.100.0/24\u{200B}"],
            ["open", "27", "--from", "\u{200B}198.51.100.7"],
            ["open", "27", "--from", "198.51.100.0/024"],
            ["open", "27", "--id", "tcp"],
            ["open", "27", "--id", "accept"],
        ]
        for arguments in cases {
            let refused = try lab.portctl(arguments)
            #expect(refused.status == 64 && refused.stderr.split(separator: "\n").count == 1, "\(arguments): \(refused)")
        }
        #expect(try lab.portctl(["open", "27", "--from", "198.51.100.0/24\u{200B}"]).stderr.contains("\\u200b"))
        // An address file: capped, said so; streams and CRLF work.
        let huge = lab.directory.appendingPathComponent("huge.txt").path
        #expect(FileManager.default.createFile(atPath: huge, contents: nil))
        truncate(huge, 33 << 20)
        let capped = try lab.portctl("open", "27", "--from-file", huge)
        #expect(capped.status == 64 && capped.stderr.contains("32 MiB"), "\(capped)")
        #expect(lab.policyBytes() == file)
        #expect(try lab.ruleset() == kernel)
        let crlf = lab.directory.appendingPathComponent("crlf.txt").path
        try Data("# relays\r\n198.51.100.0/24\r\n203.0.113.0/24 # backup\r\n".utf8).write(to: URL(fileURLWithPath: crlf))
        #expect(try lab.portctl("open", "27", "--from-file", crlf).status == 0)
        let piped = try run(["ip", "netns", "exec", lab.server, "bash", "-c",
                             "\"$0\" open 28 --from-file <(printf '198.51.100.0/24\\n')", NetLab.portctlPath], environment: lab.environment)
        #expect(piped.status == 0, "\(piped)")
        let stdin = try run(["ip", "netns", "exec", lab.server, "bash", "-c",
                             "printf '203.0.113.0/24\\n' | \"$0\" open 29 --from-file -", NetLab.portctlPath], environment: lab.environment)
        #expect(stdin.status == 0, "\(stdin)")
        #expect(try lab.kernelMatchesPolicy())
        // A malformed listing for plan --live is invalid data.
        let listing = lab.directory.appendingPathComponent("bad-listing.json").path
        try Data(#"{"nftables": [{"table": {"family": "inet", "name": "portctl"}}, {"chain": {"family": "inet", "table": "portctl", "name": "input"}}, {"rule": {"family": "inet", "table": "portctl", "chain": "input", "expr": "x"}}]}"#.utf8)
            .write(to: URL(fileURLWithPath: listing))
        let malformed = try lab.portctl("plan", "--live", listing)
        #expect(malformed.status == 65 && malformed.stderr.contains("expr"), "\(malformed)")
    }

    @Test func disableIsAChangeLikeAnyOther() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(27)
        #expect(try lab.portctl("open", "26").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .timedOut)
        let forced = try lab.portctl("disable", "--force")
        #expect(forced.status == 64 && forced.stderr.contains("--force"), "\(forced)")
        let json = try lab.portctl("disable", "--dry-run", "--json")
        #expect(json.status == 2 && json.stdout.contains("\"kind\" : \"remove-table\""), "\(json)")
        let disabled = try lab.portctl("disable", "--confirm", "2")
        #expect(disabled.status == 0 && disabled.stdout.contains("portctl confirm"), "\(disabled)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .connected)
        // Unconfirmed: the table comes back by itself.
        let deadline = Date().addingTimeInterval(10)
        while try !lab.kernelMatchesPolicy() && Date() < deadline { usleep(200_000) }
        #expect(try lab.kernelMatchesPolicy())
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .timedOut)
        let history = try lab.portctl("history").stdout
        #expect(history.contains("disable") && history.contains("auto-rollback"), "\(history)")
    }

    @Test func aDeadWatchdogsChangeIsRolledBackNotLeftForever() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(27, 28)
        #expect(try lab.portctl("open", "26").status == 0)
        #expect(try lab.portctl("open", "27", "--confirm", "300").status == 0)
        let pendingPath = lab.environment["PORTCTL_STATE_DIR"]! + "/pending-confirm.json"
        let pending = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: pendingPath))) as? [String: Any])
        let watchdog = try #require(pending["watchdog"] as? Int)
        kill(Int32(watchdog), SIGKILL)
        #expect(waitUntil(seconds: 5) { hasEnded(Int32(watchdog)) })
        let status = try lab.portctl("status")
        #expect(status.stderr.contains("watchdog is gone"), "\(status)")
        let next = try lab.portctl("open", "28")
        #expect(next.status == 0 && next.stderr.contains("watchdog") && next.stdout.contains("rolled back"), "\(next)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .timedOut)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 28) == .connected)
        #expect(try lab.kernelMatchesPolicy())
        #expect(!FileManager.default.fileExists(atPath: pendingPath))
    }
}
