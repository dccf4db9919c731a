import Foundation
import Testing

/// The whole policy through Ansible: ansible-playbook (the pinned ansible-core) runs one playbook
/// with both modules, `portctl_policy` and `portctl`, against localhost inside a lab's server
/// namespace, and real connections from the lab's clients show what the kernel does.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct AnsiblePolicyTests {
    /// One ansible-playbook run and its recap line for localhost.
    struct PlaybookRun: CustomStringConvertible {
        let outcome: Outcome
        let ok: Int
        let changed: Int
        let failed: Int
        var description: String { outcome.description }
    }

    /// The policy the play gives: SSH from anywhere, 26 from client A's network only.
    static let goodPolicy = """
        # the mail relays' firewall (kept by Ansible)
        version: 1
        defaults:
          inbound: drop
        rules:
          - id: ssh
            ports: 22
          - id: smtp-alt
            ports: 26
            from: [198.51.100.0/24]
            comment: mail relays

        """

    /// The same policy with a host-bits error portctl names in one line.
    static let badPolicy = goodPolicy.replacingOccurrences(of: "from: [198.51.100.0/24]", with: "from: [198.51.100.1/24]")

    /// The playbook: the whole policy (from `src:` on the controller or inline `content:`, as the
    /// extra vars say) with a confirm deadline (60 s and confirmed by the module unless the extra
    /// vars say otherwise), and single-port blocks with the older module.
    static let playbook = """
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: the whole firewall policy
              portctl_policy:
                src: "{{ policy_src | default(omit) }}"
                content: "{{ policy_text | default(omit) }}"
                confirm: "{{ confirm_seconds | default(60) }}"
                auto_confirm: "{{ auto_confirm | default(true) }}"
              tags: [policy]
            - name: client A may no longer reach 26
              portctl:
                port: "26"
                from: [198.51.100.2]
                state: denied
              tags: [blocks]
            - name: client B's network is refused on 26 rather than left to time out
              portctl:
                port: "26"
                from: [203.0.113.0/24]
                state: rejected
              tags: [blocks]

        """

    func playbook(_ lab: NetLab, _ arguments: [String]) throws -> PlaybookRun {
        let outcome = try run(["ip", "netns", "exec", lab.server, AnsibleModuleTests.venv.appendingPathComponent("ansible-playbook").path,
                               "-i", "localhost,", "-c", "local", lab.directory.appendingPathComponent("site.yml").path] + arguments,
                              environment: AnsibleModuleTests.environment(lab))
        let recap = outcome.stdout.firstMatch(of: #/localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)/#)
        return PlaybookRun(outcome: outcome, ok: recap.flatMap { Int($0.1) } ?? -1,
                           changed: recap.flatMap { Int($0.2) } ?? -1, failed: recap.flatMap { Int($0.3) } ?? -1)
    }

    /// portctl's history, oldest first.
    func history(_ lab: NetLab) throws -> [[String: Any]] {
        let history = try lab.portctl("history", "--json")
        return try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]] ?? []
    }

    /// The last history entry's confirmation state ("confirmed", "pending", ...).
    func lastConfirmation(_ lab: NetLab) throws -> String? {
        try history(lab).last?["confirmation"] as? String
    }

    /// Files and folders the module left under the lab's folder (its temporary copy of the text).
    func moduleLeftovers(_ lab: NetLab) -> [String] {
        let walker = FileManager.default.enumerator(atPath: lab.directory.path)
        return (walker?.allObjects as? [String] ?? []).filter { $0.split(separator: "/").contains { $0.hasPrefix("portctl_policy-") } }
    }

    @Test func checkModePredictsTheRunAppliesTheRerunIsOkABadPolicyChangesNothing() throws {
        #expect(FileManager.default.isExecutableFile(atPath: AnsibleModuleTests.venv.appendingPathComponent("ansible-playbook").path),
                "ansible-core is installed by scripts/test into .build/ansible-venv")
        try AnsibleModuleTests.expectPinnedAnsible()
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        let directory = lab.directory
        let good = directory.appendingPathComponent("good.yaml"), bad = directory.appendingPathComponent("bad.yaml")
        try Self.goodPolicy.write(to: good, atomically: true, encoding: .utf8)
        try Self.badPolicy.write(to: bad, atomically: true, encoding: .utf8)
        try Self.playbook.write(to: directory.appendingPathComponent("site.yml"), atomically: true, encoding: .utf8)
        let inline = directory.appendingPathComponent("inline.yml")
        try ("policy_text: |\n" + Self.goodPolicy.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.isEmpty ? "" : "  " + $0 }.joined(separator: "\n")).write(to: inline, atomically: true, encoding: .utf8)
        let content = ["-e", "@" + inline.path], fromSource = ["-e", "policy_src=" + good.path]

        // Check mode (inline content): changed, with the policy text and portctl's plan as the
        // diff; no policy file, an empty ruleset, and traffic untouched.
        let check = try playbook(lab, ["--tags", "policy", "--check", "--diff"] + content)
        #expect(check.outcome.status == 0 && check.changed == 1 && check.failed == 0, "\(check)")
        let shown = check.outcome.stdout
        #expect(shown.contains("+    from: [198.51.100.0/24]"), "the diff shows the policy text: \(check)")
        #expect(shown.contains("+ table inet portctl (missing: it will be created)")
                && shown.contains("+ ssh: allow 22/tcp from any")
                && shown.contains("+ smtp-alt: allow 26/tcp from 198.51.100.0/24"), "the diff shows the plan: \(check)")
        #expect(!FileManager.default.fileExists(atPath: lab.policyPath), "check mode writes no policy file")
        #expect(try lab.nft("list", "ruleset").stdout.isEmpty, "check mode leaves the kernel alone")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)

        // The run (the policy from the controller file through the action plugin): the file holds
        // exactly that text, the kernel matches it, the change is confirmed, and packets follow.
        let real = try playbook(lab, ["--tags", "policy"] + fromSource)
        #expect(real.outcome.status == 0 && real.changed == 1, "\(real)")
        #expect(lab.policyBytes() == Data(Self.goodPolicy.utf8), "the policy file holds the text byte for byte")
        let mode = try FileManager.default.attributesOfItem(atPath: lab.policyPath)[.posixPermissions] as? Int
        #expect(mode == 0o644)
        #expect(try lab.kernelMatchesPolicy())
        #expect(try lastConfirmation(lab) == "confirmed", "the module confirmed its --confirm change")
        let recorded = try history(lab)
        #expect(recorded.count == 1 && recorded.first?["command"] as? String == "apply"
                && (recorded.first?["arguments"] as? [String])?.contains("--new") == true,
                "file and kernel changed as one recorded change, portctl apply --new: \(recorded)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix(".policy.yaml.") }
        #expect(leftovers.isEmpty, "no temporary file is left next to the policy: \(leftovers)")
        #expect(moduleLeftovers(lab).isEmpty, "the module removed its temporary copy: \(moduleLeftovers(lab))")

        // The rerun (inline content again, same text): ok, and the kernel is not touched at all.
        let applied = try lab.ruleset()
        let again = try playbook(lab, ["--tags", "policy"] + content)
        #expect(again.outcome.status == 0 && again.changed == 0 && again.ok == 1, "\(again)")
        #expect(try lab.ruleset() == applied)

        // A bad policy: the task fails with portctl's one-line error; file and kernel as they were.
        let bytes = lab.policyBytes()
        let refused = try playbook(lab, ["--tags", "policy"] + ["-e", "policy_src=" + bad.path])
        #expect(refused.outcome.status != 0 && refused.failed == 1, "\(refused)")
        let said = refused.outcome.stdout + refused.outcome.stderr
        #expect(said.contains("portctl: \(lab.policyPath) (new content, not written): rule")
                && said.contains("host bits are set; did you mean 198.51.100.0/24?"), "\(refused)")
        #expect(lab.policyBytes() == bytes)
        #expect(try lab.ruleset() == applied)

        // An apply portctl refuses although its dry run planned it (an earlier change awaits
        // confirmation): the task fails with portctl's line, and portctl changed neither the file
        // nor the kernel.
        try #require(lab.portctl(["open", "27", "--from", "203.0.113.0/24", "--confirm", "120"]).status == 0)
        let pendingBytes = lab.policyBytes(), pendingRuleset = try lab.ruleset()
        let blocked = try playbook(lab, ["--tags", "policy"] + content)
        let blockedSaid = blocked.outcome.stdout + blocked.outcome.stderr
        #expect(blocked.outcome.status != 0 && blocked.failed == 1 && blockedSaid.contains("awaits confirmation"), "\(blocked)")
        #expect(lab.policyBytes() == pendingBytes)
        #expect(try lab.ruleset() == pendingRuleset)
        try #require(lab.portctl("rollback").status == 0)
        #expect(lab.policyBytes() == bytes)
        #expect(moduleLeftovers(lab).isEmpty, "\(moduleLeftovers(lab))")
    }

    /// The first change on a fresh host (no policy file, no history, an empty ruleset), applied
    /// with `confirm:` and left unconfirmed, rolls back whole: by `portctl rollback`, and by the
    /// watchdog at the deadline. Either way the host is as it was: no policy file, no table.
    @Test func anUnconfirmedFirstApplyRollsBackToNoFileAndAnEmptyRuleset() throws {
        for (undo, seconds) in [("rollback", 60), ("watchdog", 15)] {
            let lab = try NetLab()
            defer { lab.cleanup() }
            try lab.listen(26)
            let good = lab.directory.appendingPathComponent("good.yaml")
            try Self.goodPolicy.write(to: good, atomically: true, encoding: .utf8)
            try Self.playbook.write(to: lab.directory.appendingPathComponent("site.yml"), atomically: true, encoding: .utf8)
            try #require(!FileManager.default.fileExists(atPath: lab.policyPath))
            try #require(try lab.nft("list", "ruleset").stdout.isEmpty)

            let applied = try playbook(lab, ["--tags", "policy", "-v", "-e", "policy_src=" + good.path,
                                             "-e", "confirm_seconds=\(seconds)", "-e", "auto_confirm=false"])
            #expect(applied.outcome.status == 0 && applied.changed == 1, "\(undo): \(applied)")
            #expect(applied.outcome.stdout.contains("\"pending_confirmation\": true"), "\(undo): \(applied)")
            #expect(lab.policyBytes() == Data(Self.goodPolicy.utf8), "\(undo)")
            #expect(try lab.kernelMatchesPolicy(), "\(undo)")
            #expect(try lastConfirmation(lab) == "pending", "\(undo)")
            #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut, "\(undo): the policy is in force")

            if undo == "rollback" {
                let rolled = try lab.portctl("rollback")
                #expect(rolled.status == 0, "\(rolled)")
            } else {
                let pending = lab.environment["PORTCTL_STATE_DIR"]! + "/pending-confirm.json"
                #expect(waitUntil(seconds: Double(seconds) + 30) { !FileManager.default.fileExists(atPath: pending) },
                        "the watchdog rolled back by the deadline")
                let entries = try history(lab)
                #expect(entries.contains { $0["command"] as? String == "auto-rollback" }, "\(entries)")
            }
            #expect(waitUntil(seconds: 5) { !FileManager.default.fileExists(atPath: lab.policyPath) },
                    "\(undo): the policy file the first apply created is removed")
            #expect(try lab.nft("list", "ruleset").stdout.isEmpty, "\(undo): portctl's table is removed, the ruleset is empty")
            let entries = try history(lab)
            #expect(entries.first?["confirmation"] as? String == "rolled back", "\(undo): \(entries)")
            #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected, "\(undo)")
        }
    }

    @Test func theOlderModuleDeniesAndRejectsAndTheWholePolicyThenShowsThemAsChanges() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        let good = lab.directory.appendingPathComponent("good.yaml")
        try Self.goodPolicy.write(to: good, atomically: true, encoding: .utf8)
        try Self.playbook.write(to: lab.directory.appendingPathComponent("site.yml"), atomically: true, encoding: .utf8)
        let fromSource = ["-e", "policy_src=" + good.path]
        try #require(try playbook(lab, ["--tags", "policy"] + fromSource).changed == 1)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)

        // state: denied drops client A on 26; state: rejected refuses client B's network.
        let blocks = try playbook(lab, ["--tags", "blocks"])
        #expect(blocks.outcome.status == 0 && blocks.changed == 2, "\(blocks)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .timedOut)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .refused)
        #expect(try lab.kernelMatchesPolicy())
        let again = try playbook(lab, ["--tags", "blocks"])
        #expect(again.outcome.status == 0 && again.changed == 0 && again.ok == 2, "\(again)")

        // The whole-policy module owns the file: the blocks are not in its text, so its check
        // mode now predicts removing them.
        let check = try playbook(lab, ["--tags", "policy", "--check", "--diff"] + fromSource)
        #expect(check.changed == 1, "\(check)")
        #expect(check.outcome.stdout.contains("- deny-tcp-26: deny 26/tcp from 198.51.100.2")
                && check.outcome.stdout.contains("- reject-tcp-26: reject 26/tcp from 203.0.113.0/24"), "\(check)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .timedOut, "check mode changed nothing")
    }
}
