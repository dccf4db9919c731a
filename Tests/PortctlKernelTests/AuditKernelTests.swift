import Foundation
import Testing

/// `portctl audit` reads the kernel: what someone changed by hand in portctl's live table is
/// judged as the kernel does it, proven with real connections from the client namespaces.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct AuditKernelTests {
    func findings(_ outcome: Outcome) throws -> [[String: Any]] {
        let json = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
        return json?["findings"] as? [[String: Any]] ?? []
    }

    func summary(_ findings: [[String: Any]]) -> Set<String> {
        Set(findings.map { "\($0["port"] as? Int ?? -1)/\($0["protocol"] as? String ?? "") \($0["severity"] as? String ?? "") \($0["kind"] as? String ?? "")" })
    }

    /// The issue's walk: a port opened by hand in the live table was "only this host can use it"
    /// to audit while a scan found it open.
    @Test func aRuleAddedByHandThatOpensAListeningPortIsHigh() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 8080)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.portctl("remove", "ssh").status == 0)
        let before = try lab.portctl("audit", "--json")
        let found = summary(try findings(before))
        #expect(before.status == 0 && found.contains("8080/tcp info listener-blocked"), "\(before)")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 8080, timeout: 0.5) == .timedOut)

        #expect(try lab.nft("add", "rule", "inet", "portctl", "input", "tcp", "dport", "8080", "accept").status == 0)
        // The kernel truly admits it: a real connection from a source the policy never names.
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 8080) == .connected)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA6, port: 8080) == .connected)

        let text = try lab.portctl("audit")
        #expect(text.status == 3, "a high finding exits 3: \(text)")
        let line = text.stdout.split(separator: "\n").first { $0.hasPrefix("HIGH") && $0.contains("8080/tcp") }.map(String.init) ?? ""
        #expect(line.contains("the kernel admits any source") && line.contains("`tcp dport 8080 accept`")
                && line.contains("the policy admits no one"), "\(text)")
        #expect(!text.stdout.split(separator: "\n").contains { $0.contains("8080/tcp") && $0.contains("only this host can use it") },
                "the file's view is not presented as the kernel's: \(text)")
        #expect(text.stderr.isEmpty, "root reads the kernel and says nothing about the file: \(text)")
        let json = try lab.portctl("audit", "--json")
        #expect(json.status == 3)
        let high = try findings(json).first { $0["kind"] as? String == "kernel-admits" }
        #expect(high?["port"] as? Int == 8080 && high?["severity"] as? String == "high"
                && high?["kernelAdmits"] as? [String] == ["0.0.0.0/0", "::/0"], "\(json)")
        #expect((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["view"] as? String == "kernel")

        // apply puts the policy back; the kernel agrees again and the finding goes.
        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 8080, timeout: 0.5) == .timedOut)
        #expect(try lab.portctl("audit").status == 0)
    }

    @Test func anElementAddedByHandToARulesSetIsHigh() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.portctl("remove", "ssh").status == 0)
        #expect(try lab.portctl("audit").status == 0)
        #expect(try lab.nft("add", "element", "inet", "portctl", "allow-tcp-26-v4", "{ 203.0.113.0/24 }").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected, "the kernel admits the added network")
        let audit = try lab.portctl("audit", "--json")
        #expect(audit.status == 3, "\(audit)")
        let high = try findings(audit).first { $0["kind"] as? String == "kernel-admits" }
        #expect(high?["port"] as? Int == 26 && high?["kernelAdmits"] as? [String] == ["203.0.113.0/24"], "\(audit)")
        #expect((high?["message"] as? String)?.contains("whose set allow-tcp-26-v4 in the kernel does not hold what the policy lists") == true, "\(audit)")
    }

    @Test func whatThePolicyOpensAndTheKernelDoesNotIsAWarning() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 8080)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.portctl("remove", "ssh").status == 0)
        // The rule's accept line is deleted by hand: its clients are turned away.
        let listing = try lab.nft("-a", "list", "chain", "inet", "portctl", "input").stdout
        let line = try #require(listing.split(separator: "\n").first { $0.contains("\"allow-tcp-26\"") && $0.contains("accept") })
        let handle = try #require(line.components(separatedBy: "# handle ").last)
        #expect(try lab.nft("delete", "rule", "inet", "portctl", "input", "handle", handle).status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26, timeout: 0.5) == .timedOut)
        let audit = try lab.portctl("audit", "--json")
        #expect(audit.status == 0, "a warning, not a high finding: \(audit)")
        let warning = try findings(audit).first { $0["kind"] as? String == "kernel-refuses" }
        #expect(warning?["port"] as? Int == 26 && warning?["severity"] as? String == "warning"
                && warning?["policyAdmits"] as? [String] == ["198.51.100.0/24"], "\(audit)")

        // The table gone: the policy is not in force, and nothing of portctl's refuses 8080.
        #expect(try lab.nft("delete", "table", "inet", "portctl").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 8080) == .connected)
        let gone = try lab.portctl("audit", "--json")
        let goneFindings = summary(try findings(gone))
        #expect(gone.status == 3 && goneFindings.isSuperset(of: ["0/tcp warning table-not-in-force", "8080/tcp high kernel-admits"]), "\(gone)")
    }

    @Test func withoutRootItSaysItJudgedTheFileOnly() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        try lab.listen(8080)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.portctl("remove", "ssh").status == 0)
        #expect(try lab.nft("add", "rule", "inet", "portctl", "input", "tcp", "dport", "8080", "accept").status == 0)
        // The policy is readable by all, as on a host.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: lab.directory.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: lab.policyPath)
        let nobody = ["ip", "netns", "exec", lab.server, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                      "--inh-caps=-all", NetLab.portctlPath]
        for arguments in [["audit"], ["audit", "--json"], ["audit", "--all"]] {
            let blind = try run(nobody + arguments, environment: lab.environment)
            #expect(blind.status == 0, "the file alone has no high finding: exit codes as before: \(blind)")
            let lines = blind.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].contains("judged the policy file only"), "\(arguments): \(blind)")
            #expect(!blind.stdout.contains("kernel-admits"))
        }
        let json = try run(nobody + ["audit", "--json"], environment: lab.environment)
        #expect((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["view"] as? String == "policy file")
        #expect(try lab.portctl("audit").status == 3, "root sees the kernel")
    }

    @Test func allListsEveryListenerWithItsDeciderAndSources() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 5432, 8080)
        try lab.listenUDP(53)
        try lab.listen([8081], in: lab.server, udp: false, address: "127.0.0.1")
        let file = lab.directory.appendingPathComponent("relays.txt").path
        try "203.0.113.0/24\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24,@" + file).status == 0)
        #expect(try lab.portctl("open", "53/udp").status == 0)
        #expect(try lab.portctl("remove", "ssh").status == 0)
        #expect(try lab.nft("add", "rule", "inet", "portctl", "input", "tcp", "dport", "8080", "accept").status == 0)

        let outcome = try lab.portctl("audit", "--all", "--json")
        #expect(outcome.status == 3, "--all still judges: \(outcome)")
        let json = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
        let rows = (json?["listeners"] as? [[String: Any]] ?? []).map { row in
            "\(row["address"] as? String ?? "") \(row["port"] as? Int ?? 0)/\(row["protocol"] as? String ?? "") | "
                + "\((row["decidedBy"] as? [String] ?? []).joined(separator: ", ")) | \(row["sources"] as? String ?? "") | \(row["admits"] as? String ?? "")"
        }
        #expect(rows == [
            ":: 26/tcp | allow-tcp-26 | 198.51.100.0/24, @\(file) | some",
            ":: 53/udp | allow-udp-53 | anyone | any",
            ":: 5432/tcp | default drop | no one | none",
            ":: 8080/tcp | `tcp dport 8080 accept` (not from the policy) | anyone | any",
            "127.0.0.1 8081/tcp | bound to loopback | only this host (loopback) | local",
        ], "\(rows)")
        let processes = (json?["listeners"] as? [[String: Any]] ?? []).compactMap { $0["process"] as? String }
        #expect(processes.count == 5 && processes.allSatisfy { $0.hasPrefix("netpeer[") }, "\(processes)")

        // What the rows say is what real connections get.
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA6, port: 26, timeout: 0.5) == .timedOut)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB6, port: 53, udp: true) == .connected)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 5432, timeout: 0.5) == .timedOut)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB6, port: 8080) == .connected)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 8081, timeout: 0.5) != .connected)

        let text = try lab.portctl("audit", "--all")
        #expect(text.stdout.contains("ADDRESS") && text.stdout.contains("DECIDED BY") && text.stdout.contains("only this host (loopback)")
                && text.stdout.contains("kernel's table inet portctl"), "\(text)")
    }
}
