import Foundation
import Testing

/// Change control against the real kernel: dry runs change nothing, plans see drift and go
/// stale, applies send nothing when nothing differs, and counters survive other rules' changes.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct ChangeControlTests {
    func policyBytes(_ lab: NetLab) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: lab.environment["PORTCTL_POLICY"]!))
    }

    /// The whole ruleset with handles: any rewrite shows.
    func ruleset(_ lab: NetLab) throws -> String {
        try lab.nft("-a", "list", "ruleset").stdout
    }

    func counter(_ lab: NetLab, _ name: String) throws -> (packets: Int, bytes: Int) {
        let listing = try lab.nft("-j", "list", "counter", "inet", "portctl", name).stdout
        let json = try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [String: Any]
        let items = json?["nftables"] as? [[String: Any]] ?? []
        let counter = try #require(items.compactMap { $0["counter"] as? [String: Any] }.first, "counter \(name): \(listing)")
        return (counter["packets"] as? Int ?? -1, counter["bytes"] as? Int ?? -1)
    }

    @Test func dryRunChangesNeitherFileNorKernel() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        let file = try policyBytes(lab)
        let kernel = try ruleset(lab)
        for arguments in [["open", "27", "--dry-run"], ["close", "26", "--dry-run"], ["deny", "23", "--dry-run"],
                          ["reject", "25", "--dry-run"], ["remove", "allow-tcp-26", "--dry-run"], ["disable", "--dry-run"]] {
            let outcome = try run(["ip", "netns", "exec", lab.server, productsDirectory.appendingPathComponent("portctl").path] + arguments,
                                  environment: lab.environment)
            #expect(outcome.status == 2, "\(arguments): \(outcome)")
            #expect(try policyBytes(lab) == file, "\(arguments)")
            #expect(try ruleset(lab) == kernel, "\(arguments)")
        }
        // Nothing to change: exit 0, and still nothing written.
        let same = try lab.portctl("open", "26", "--from", "198.51.100.0/24", "--dry-run")
        #expect(same.status == 0, "\(same)")
        #expect(try lab.portctl("apply", "--dry-run").status == 0)
        #expect(try ruleset(lab) == kernel)
        // A dry run on a fresh machine does not even create the policy file.
        try FileManager.default.removeItem(atPath: lab.environment["PORTCTL_POLICY"]!)
        #expect(try lab.portctl("open", "28", "--dry-run").status == 2)
        #expect(!FileManager.default.fileExists(atPath: lab.environment["PORTCTL_POLICY"]!))
    }

    @Test func applyingAnUnchangedPolicySendsNothing() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24,2001:db8:1::/64").status == 0)
        #expect(try lab.portctl("deny", "23").status == 0)
        let plan = try lab.portctl("plan")
        #expect(plan.status == 0, "\(plan)")
        let before = try ruleset(lab)
        let applied = try lab.portctl("apply")
        #expect(applied.status == 0, "\(applied)")
        #expect(applied.stdout.contains("nothing sent"))
        #expect(try ruleset(lab) == before, "handles must not change")
    }

    @Test func ruleAddedByHandIsDriftAndApplyRemovesIt() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(9999)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.nft("add", "rule", "inet", "portctl", "input", "tcp", "dport", "9999", "accept").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 9999) == .connected)

        let plan = try lab.portctl("plan")
        #expect(plan.status == 2, "\(plan)")
        #expect(plan.stdout.contains("tcp dport 9999 accept"))
        #expect(plan.stdout.contains("changed outside portctl"))
        let json = try lab.portctl("plan", "--json")
        let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let kinds = (document?["changes"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
        #expect(kinds == ["drift"], "\(json.stdout)")
        #expect(document?["inSync"] as? Bool == false)

        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.kernelMatchesPolicy())
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 9999) == .timedOut)
    }

    @Test func savedPlanAppliesExactlyAndGoesStale() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 27)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        // Edit the policy file (as a reviewer's change would), plan it, save the plan.
        let policyPath = lab.environment["PORTCTL_POLICY"]!
        var text = try String(contentsOfFile: policyPath, encoding: .utf8)
        text += "  - id: \"web\"\n    ports: [27]\n    from: [\"203.0.113.0/24\"]\n"
        try text.write(toFile: policyPath, atomically: true, encoding: .utf8)
        let planPath = lab.directory.appendingPathComponent("change.plan").path
        let planned = try lab.portctl("plan", "-o", planPath)
        #expect(planned.status == 2, "\(planned)")
        #expect(planned.stdout.contains("+ web: allow 27/tcp from 203.0.113.0/24"))
        let nftScript = try lab.portctl("plan", "--format", "nft")
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: planPath))) as? [String: Any]
        #expect(saved?["script"] as? String == nftScript.stdout)

        // Someone changes the table: the plan is stale and applying it changes nothing.
        #expect(try lab.nft("add", "rule", "inet", "portctl", "input", "tcp", "dport", "9999", "drop").status == 0)
        let kernel = try ruleset(lab)
        let stale = try lab.portctl("apply", planPath)
        #expect(stale.status == 1, "\(stale)")
        #expect(stale.stderr.contains("stale"))
        #expect(try ruleset(lab) == kernel)

        // Plan again; then the policy file changes: stale again.
        #expect(try lab.portctl("plan", "-o", planPath).status == 2)
        try (text + "\n").write(toFile: policyPath, atomically: true, encoding: .utf8)
        let staleFile = try lab.portctl("apply", planPath)
        #expect(staleFile.status == 1 && staleFile.stderr.contains("policy file"), "\(staleFile)")
        #expect(try ruleset(lab) == kernel)

        // A fresh plan applies, exactly as reviewed.
        #expect(try lab.portctl("plan", "-o", planPath).status == 2)
        let applied = try lab.portctl("apply", planPath)
        #expect(applied.status == 0, "\(applied)")
        #expect(try lab.kernelMatchesPolicy())
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 27) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut)
    }

    @Test func countersSurviveChangesToOtherRules() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 27)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        for _ in 0..<3 {
            #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        }
        let before = try counter(lab, "allow-tcp-26")
        #expect(before.packets >= 3, "three new connections must have hit the rule")

        #expect(try lab.portctl("open", "27", "--from", "203.0.113.0/24").status == 0)
        #expect(try lab.portctl("deny", "23").status == 0)
        #expect(try lab.portctl("open", "26", "--from", "2001:db8:1::/64").status == 0)
        let after = try counter(lab, "allow-tcp-26")
        #expect(after.packets == before.packets && after.bytes == before.bytes)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 27) == .connected)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA6, port: 26) == .connected)
        #expect(try counter(lab, "allow-tcp-26").packets > after.packets)
    }

    @Test func checkUsesTheKernelAndPlanLiveNeedsNoRoot() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26", "--from", "10.0.0.0/8").status == 0)
        let checked = try lab.portctl("check")
        #expect(checked.status == 0 && checked.stdout.contains("kernel accepted"), "\(checked)")
        #expect(try lab.nft("list", "tables").stdout == "table inet portctl\n")

        // Plan on a machine that is not the firewall: a saved listing, an unprivileged user.
        let listing = lab.directory.appendingPathComponent("live.json")
        try lab.nft("-j", "list", "table", "inet", "portctl").stdout.write(to: listing, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: lab.directory.path)
        for file in ["policy.yaml", "live.json"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: lab.directory.appendingPathComponent(file).path)
        }
        let nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                      productsDirectory.appendingPathComponent("portctl").path]
        var env = lab.environment
        env["PORTCTL_STATE_DIR"] = lab.directory.appendingPathComponent("nobody-state").path
        try FileManager.default.createDirectory(atPath: env["PORTCTL_STATE_DIR"]!, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        // nobody's own state folder: portctl refuses one that others can write.
        chown(env["PORTCTL_STATE_DIR"]!, 65534, 65534)
        let offline = try run(nobody + ["plan", "--live", listing.path], environment: env)
        #expect(offline.status == 0, "\(offline)")
        let rendered = try run(nobody + ["render"], environment: env)
        #expect(rendered.status == 0 && rendered.stdout.contains("table inet portctl"), "\(rendered)")
        let denied = try run(nobody + ["apply"], environment: env)
        #expect(denied.status == 77, "\(denied)")
        let uncheckable = try run(nobody + ["check"], environment: env)
        #expect(uncheckable.status == 0 && uncheckable.stdout.contains("not checked by the kernel"), "\(uncheckable)")
    }
}
