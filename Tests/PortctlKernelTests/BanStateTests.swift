import Foundation
import PortPolicy
import Testing

/// Ban state is never lost or misread: damaged files are errors naming them, a rewritten table
/// gets back every ban the kernel accepts, bans are lifted as given, and nothing bans this host,
/// the admin, or writes into a table portctl did not create.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct BanStateTests {
    /// The elements of one of portctl's ban sets, as `nft` lists them (text), or "" without the set.
    static func banSet(_ lab: NetLab, _ name: String, table: String = "portctl") throws -> String {
        try lab.nft("list", "set", "inet", table, name).stdout
    }

    @Test func damagedBanStateIsAnErrorNamingTheFileAndNothingIsLost() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        #expect(try lab.portctl("ban", NetLab.clientB4, "203.0.113.64/26").status == 0)
        // Compact the log into bans.json (an unban rewrites the list), then cut the list short.
        #expect(try lab.portctl("unban", "203.0.113.64/26").status == 0)
        let state = lab.environment["PORTCTL_STATE_DIR"]!
        let list = state + "/bans.json"
        let whole = try #require(FileManager.default.contents(atPath: list))
        #expect(String(decoding: whole, as: UTF8.self).contains(NetLab.clientB4))
        let truncated = whole.prefix(whole.count / 2)
        try truncated.write(to: URL(fileURLWithPath: list))
        let kernel = try lab.ruleset()
        for arguments in [["bans"], ["unban", NetLab.clientB4], ["unban", "198.51.100.77"], ["ban", "203.0.113.128/26"],
                          ["explain", NetLab.clientB4, "26"], ["status"], ["metrics"]] {
            let refused = try lab.portctl(arguments)
            #expect(refused.status == 65 && refused.stderr.contains(list) && refused.stderr.contains("damaged")
                    && refused.stderr.split(separator: "\n").count == 1, "\(arguments): \(refused)")
        }
        // Nothing changed: the file is as damaged as it was (an unban did not make "no bans"
        // permanent), and the kernel still holds the ban.
        #expect(FileManager.default.contents(atPath: list) == truncated)
        #expect(try lab.ruleset() == kernel)
        #expect(try Self.banSet(lab, "portctl-bans-h4").contains(NetLab.clientB4))
        // Removing the table would drop the kernel's copy, the only good one: disable refuses,
        // naming the file (and a rewrite after it would refuse too).
        let disable = try lab.portctl("disable")
        #expect(disable.status == 65 && disable.stderr.contains(list), "\(disable)")
        #expect(try Self.banSet(lab, "portctl-bans-h4").contains(NetLab.clientB4))

        // A damaged line of the log, likewise (the line is named).
        try whole.write(to: URL(fileURLWithPath: list))
        #expect(try lab.portctl("apply").status == 0)
        #expect(try Self.banSet(lab, "portctl-bans-h4").contains(NetLab.clientB4))
        try "{\"network\":\"198.51.100.9\",\"added\":\"2026-01-01T00:00:00Z\"}\n{\"network\":\"198.51.10"
            .write(toFile: state + "/bans.log", atomically: false, encoding: .utf8)
        let bans = try lab.portctl("bans")
        #expect(bans.status == 65 && bans.stderr.contains(state + "/bans.log is damaged at line 2"), "\(bans)")
        // A ban appended after the torn line is a line of its own: the damage stays at line 2.
        #expect(try lab.portctl("ban", "203.0.113.9").status == 0)
        let log = try String(contentsOfFile: state + "/bans.log", encoding: .utf8)
        #expect(log.split(separator: "\n").last?.hasPrefix("{\"") == true && log.split(separator: "\n").count == 3, "\(log)")
        #expect(try lab.portctl("bans").stderr.contains("is damaged at line 2"))
    }

    @Test func aRewrittenTableGetsBackEveryGoodBanAndNamesTheBadOnes() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        #expect(try lab.portctl("open", "26").status == 0)
        #expect(try lab.portctl("ban", NetLab.clientA4, "203.0.113.64/26", "2001:db8:5::/64").status == 0)
        #expect(try lab.portctl("unban", "2001:db8:5::/64").status == 0)  // compacts the log into bans.json
        let list = lab.environment["PORTCTL_STATE_DIR"]! + "/bans.json"
        let data = try #require(FileManager.default.contents(atPath: list))
        var bans = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        // Two entries the kernel cannot take: a network overlapping a banned one, and an expiry
        // too far off for nft's timeout; they sit between good ones.
        // (The earlier of two overlapping bans is the one kept.)
        bans.insert(["network": "2001:db8:3::7", "added": "2026-01-01T00:00:00Z", "expires": "2999-01-01T00:00:00Z"], at: 1)
        bans.append(["network": "203.0.113.96/27", "added": "2026-01-01T00:00:00Z"])
        bans.append(["network": "2001:db8:4::/48", "added": "2026-01-01T00:00:00Z"])
        try JSONSerialization.data(withJSONObject: bans).write(to: URL(fileURLWithPath: list))

        #expect(try lab.portctl("disable").status == 0)
        let applied = try lab.portctl("apply")
        #expect(applied.status == 0, "\(applied)")
        #expect(applied.stderr.contains("ban 203.0.113.96/27 was NOT put back"), "\(applied)")
        #expect(applied.stderr.contains("ban 2001:db8:3::7 was NOT put back"), "\(applied)")
        #expect(!applied.stderr.contains("ban \(NetLab.clientA4) was NOT"), "\(applied)")
        // The kernel holds every good ban.
        #expect(try Self.banSet(lab, "portctl-bans-h4").contains(NetLab.clientA4))
        #expect(try Self.banSet(lab, "portctl-bans-n4").contains("203.0.113.64/26"))
        #expect(try Self.banSet(lab, "portctl-bans-n6").contains("2001:db8:4::/48"))
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26, timeout: 0.5) == .timedOut)
        // What is in force is what the kernel holds: the two it refused are said to be missing.
        let status = try lab.portctl("status")
        #expect(status.stdout.contains("bans: 3 in force") && status.stdout.contains("2 listed in the state folder not in the kernel"), "\(status)")
        #expect(try lab.portctl("metrics").stdout.contains("portctl_bans 3"))
        let listed = try lab.portctl("bans")
        #expect(listed.stdout.contains("NOT IN KERNEL") && listed.stderr.contains("2 bans listed in the state folder are not in the kernel"), "\(listed)")
        // And the advice works: unban takes a ban the kernel does not hold out of the state.
        let lifted = try lab.portctl("unban", "203.0.113.96/27")
        #expect(lifted.status == 0, "\(lifted)")
        #expect(!(try lab.portctl("bans").stdout.contains("203.0.113.96/27")))
    }

    @Test func disableNeverDropsTheOnlyGoodCopyOfTheBans() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        #expect(try lab.portctl("ban", "203.0.113.7", "203.0.113.8").status == 0)
        #expect(try lab.portctl("unban", "203.0.113.8").status == 0)  // compacts the log into bans.json
        let list = lab.environment["PORTCTL_STATE_DIR"]! + "/bans.json"
        let data = try #require(FileManager.default.contents(atPath: list))
        try data.prefix(20).write(to: URL(fileURLWithPath: list))
        let kernel = try lab.ruleset()
        let refused = try lab.portctl("disable")
        #expect(refused.status == 65 && refused.stderr.contains(list), "\(refused)")
        #expect(try lab.ruleset() == kernel, "the table and its bans stay")
    }

    @Test func bansAreKeptAsGivenAndLiftedAsGiven() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        #expect(try lab.portctl("open", "26").status == 0)
        // Two adjacent addresses stay two bans: lifting one lifts that one.
        #expect(try lab.portctl("ban", NetLab.clientA4, "198.51.100.3").status == 0)
        let listed = try lab.portctl("bans")
        #expect(listed.stdout.contains("198.51.100.3") && !listed.stdout.contains("/31"), "\(listed)")
        let one = try lab.portctl("unban", "198.51.100.3")
        #expect(one.status == 0 && one.stdout.contains("unbanned 198.51.100.3"), "\(one)")
        #expect(try Self.banSet(lab, "portctl-bans-h4").contains(NetLab.clientA4))
        #expect(!(try Self.banSet(lab, "portctl-bans-h4").contains("198.51.100.3")))
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26, timeout: 0.5) == .timedOut)
        #expect(try lab.portctl("unban", NetLab.clientA4).status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)

        // Within one request, a source inside a wider one is covered by it, whatever the order.
        for request in [["203.0.113.128/25", "203.0.113.200/29", "203.0.113.201"], ["203.0.113.201", "203.0.113.200/29", "203.0.113.128/25"]] {
            let covered = try lab.portctl(["ban"] + request)
            #expect(covered.status == 0 && covered.stdout.contains("203.0.113.200/29 is covered by the ban of 203.0.113.128/25")
                    && covered.stdout.contains("203.0.113.201 is covered by the ban of 203.0.113.128/25"), "\(covered)")
            #expect(try Self.banSet(lab, "portctl-bans-n4").contains("203.0.113.128/25"))
            #expect(try lab.portctl("unban", "203.0.113.128/25").status == 0)
        }

        // One address inside a banned network: refused, naming the network; nothing changes.
        #expect(try lab.portctl("ban", "198.51.100.2/31").status == 0)
        let kernel = try lab.ruleset()
        let inside = try lab.portctl("unban", NetLab.clientA4)
        #expect(inside.status == 64 && inside.stderr.contains("198.51.100.2/31")
                && inside.stderr.split(separator: "\n").count == 1, "\(inside)")
        #expect(try lab.ruleset() == kernel)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26, timeout: 0.5) == .timedOut)
        #expect(try lab.portctl("unban", "198.51.100.2/31").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
    }

    @Test func banRefusesAnUnreadableSSHConnectionAndThisHostsOwnAddresses() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        let kernel = try lab.ruleset()
        let state = lab.environment["PORTCTL_STATE_DIR"]!
        let unreadable = ["198.51.100.2 40000 198.51.100.1", "198.51.100.2 40000 198.51.100.1 22 9",
                          "198.51.100.2\t40000 198.51.100.1 22", "198.51.100.2 0 198.51.100.1 22",
                          "198.51.100.2 99999 198.51.100.1 22", "admin.example 40000 198.51.100.1 22", ""]
        for value in unreadable {
            let refused = try lab.portctl(["ban", NetLab.clientA4], extraEnvironment: ["SSH_CONNECTION": value])
            #expect(refused.status == 1 && refused.stderr.contains("SSH_CONNECTION") && refused.stderr.contains("--force")
                    && refused.stderr.split(separator: "\n").count == 1, "\(value.debugDescription): \(refused)")
        }
        for address in ["127.0.0.1", "::1", "127.0.0.0/8", "127.9.0.0/16", "0.0.0.0/0", "::/0",
                        NetLab.serverA4, NetLab.serverB6, "198.51.100.0/24"] {
            let refused = try lab.portctl("ban", address)
            #expect(refused.status == 1 && refused.stderr.contains("this host's own traffic") && refused.stderr.contains("--force")
                    && refused.stderr.split(separator: "\n").count == 1, "\(address): \(refused)")
        }
        #expect(try lab.ruleset() == kernel)
        #expect(!FileManager.default.fileExists(atPath: state + "/bans.log"))
        // With --force it is the admin's call.
        let forced = try lab.portctl(["ban", NetLab.clientA4, "--force"], extraEnvironment: ["SSH_CONNECTION": "garbage"])
        #expect(forced.status == 0 && forced.stderr.contains("not checked"), "\(forced)")
        #expect(try lab.portctl("ban", "127.0.0.1", "--force").status == 0)
        #expect(try Self.banSet(lab, "portctl-bans-h4").contains("127.0.0.1"))
    }

    @Test func checkBanAndUnbanRefuseAForeignTable() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        // Someone's own table with sets named like portctl's ban sets.
        let script = lab.directory.appendingPathComponent("foreign.nft").path
        try """
        table inet X {
            set portctl-bans-h4 { type ipv4_addr; flags timeout; }
            set portctl-bans-n4 { type ipv4_addr; flags interval, timeout; }
            chain input { type filter hook input priority 0; policy accept; }
        }

        """.write(toFile: script, atomically: true, encoding: .utf8)
        #expect(try lab.nft("-f", script).status == 0)
        let before = try lab.nft("list", "table", "inet", "X").stdout
        try "table: X\ndefaults:\n  inbound: drop\nrules:\n  - id: ssh\n    ports: 22\n".write(toFile: lab.policyPath, atomically: true, encoding: .utf8)
        let policyBytes = lab.policyBytes()
        for arguments in [["check"], ["ban", NetLab.clientB4], ["ban", "203.0.113.64/26"], ["unban", NetLab.clientB4], ["apply"]] {
            let refused = try lab.portctl(arguments)
            #expect(refused.status == 1 && refused.stderr.contains("portctl did not create it")
                    && refused.stderr.split(separator: "\n").count == 1, "\(arguments): \(refused)")
        }
        #expect(try lab.nft("list", "table", "inet", "X").stdout == before)
        #expect(lab.policyBytes() == policyBytes)
    }

    @Test func aUserWithoutRootIsToldWhatItCannotSee() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        #expect(try lab.portctl("ban", NetLab.clientA4).status == 0)
        // The policy is readable by all, as on a host; the state folder is root's, mode 700.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: lab.directory.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: lab.policyPath)
        let nobody = ["ip", "netns", "exec", lab.server, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                      "--inh-caps=-all", NetLab.portctlPath]
        for arguments in [["bans"], ["bans", "--json"], ["history"], ["apply", "--dry-run"], ["plan"]] {
            let blind = try run(nobody + arguments, environment: lab.environment)
            #expect(blind.status == 77 && blind.stderr.split(separator: "\n").count == 1 && blind.stdout.isEmpty, "\(arguments): \(blind)")
        }
        // explain answers from the policy, and says on stderr that the bans were not read.
        let explained = try run(nobody + ["explain", NetLab.clientA4, "26"], environment: lab.environment)
        #expect(explained.status == 0 && explained.stderr.contains("bans could not be read"), "\(explained)")
        // With root, the ban is there.
        #expect(try lab.portctl("explain", NetLab.clientA4, "26").stdout.contains("drop (banned"))
    }

    @Test func fromFileErrorsNameTheLineNotItsText() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        let secret = lab.directory.appendingPathComponent("shadow").path
        try "root:$6$not-an-address-secret:19000:0:99999:7:::\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let policy = lab.policyBytes()
        for arguments in [["ban", "--from-file", secret, "--dry-run"], ["ban", "--from-file", secret],
                          ["open", "27", "--from-file", secret, "--dry-run"], ["open", "27", "--from-file", secret]] {
            let refused = try lab.portctl(arguments)
            #expect(refused.status == 64 && refused.stderr.contains("\(secret), line 1") && !refused.stderr.contains("secret:")
                    && !refused.stderr.contains("$6$") && refused.stderr.split(separator: "\n").count == 1, "\(arguments): \(refused)")
        }
        #expect(lab.policyBytes() == policy)
    }

    @Test func metricsWritesOnlyIntoAFolderOnlyRootCanWrite() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        let base = lab.directory.appendingPathComponent("textfiles").path
        let manager = FileManager.default
        func folder(_ name: String, mode: Int, owner: uid_t = 0) throws -> String {
            let path = base + "/" + name
            try manager.createDirectory(atPath: path, withIntermediateDirectories: true)
            chmod(path, mode_t(mode))
            chown(path, owner, owner == 0 ? 0 : 65534)
            return path
        }
        let good = try folder("good", mode: 0o755)
        let open = try folder("open", mode: 0o777)
        let sticky = try folder("sticky", mode: 0o1777)
        let theirs = try folder("theirs", mode: 0o755, owner: 65534)
        let theirLink = base + "/their-link"
        try manager.createSymbolicLink(atPath: theirLink, withDestinationPath: good)
        lchown(theirLink, 65534, 65534)
        let linkInSticky = sticky + "/link"
        try manager.createSymbolicLink(atPath: linkInSticky, withDestinationPath: good)
        for target in [open, sticky, theirs, theirLink, linkInSticky] {
            let refused = try lab.portctl("metrics", "--textfile", target)
            #expect(refused.status == 1 && refused.stderr.contains("refusing --textfile") && refused.stderr.split(separator: "\n").count == 1,
                    "\(target): \(refused)")
        }
        for target in [good, open, sticky, theirs] {
            #expect(!manager.fileExists(atPath: target + "/portctl.prom"), "\(target)")
        }
        // Root's folder in another user's folder (Debian's /var/lib/prometheus is prometheus's): fine,
        // since root writes through the folder's descriptor.
        let debian = try folder("prometheus", mode: 0o755, owner: 65534)
        let inside = debian + "/node-exporter"
        try manager.createDirectory(atPath: inside, withIntermediateDirectories: false)
        for target in [good, inside] {
            let written = try lab.portctl("metrics", "--textfile", target)
            #expect(written.status == 0, "\(target): \(written)")
            let text = try String(contentsOfFile: target + "/portctl.prom", encoding: .utf8)
            #expect(text.contains("portctl_up 1"), "\(text)")
        }
    }
}
