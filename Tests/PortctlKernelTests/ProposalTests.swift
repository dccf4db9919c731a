import Foundation
import PortPolicy
import Testing

/// Change control for proposals, with real connections: a proposed policy reviewed while
/// production stays in sync, applied exactly as reviewed or not at all, offline review as an
/// ordinary user through Examples/gitops, `rollback --to`, `--only` and forward extension.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct ProposalTests {
    /// A lab with 26 open to client A's network, a listener on 26 and 27, and a proposal that
    /// moves 26 to client B's network.
    func lab() throws -> (NetLab, proposal: String) {
        let lab = try NetLab()
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24", "--id", "relays").status == 0)
        try lab.listen(26, 27)
        let text = String(decoding: lab.policyBytes(), as: UTF8.self).replacingOccurrences(of: "198.51.100.0/24", with: "203.0.113.0/24")
        let proposal = lab.directory.appendingPathComponent("proposed.yaml").path
        try text.write(toFile: proposal, atomically: true, encoding: .utf8)
        return (lab, proposal)
    }

    func digest(_ planFile: String) throws -> String {
        let document = try PlanDocument.decode(try Data(contentsOf: URL(fileURLWithPath: planFile)))
        return document.digest
    }

    @Test func aProposalIsReviewedWhileProductionStaysInSyncThenAppliedExactly() throws {
        let (lab, proposal) = try lab()
        defer { lab.cleanup() }
        let planFile = lab.directory.appendingPathComponent("change.plan").path
        let planned = try lab.portctl("plan", "--new", proposal, "-o", planFile)
        #expect(planned.status == 2 && planned.stdout.contains("~ relays: sources +203.0.113.0/24 -198.51.100.0/24")
                && planned.stdout.contains("plan digest: sha256:"), "\(planned)")
        // During the review, production is untouched and says so.
        #expect(try lab.portctl("plan").status == 0)
        let nagios = try lab.portctl("status", "--nagios")
        #expect(nagios.status != 2 && !nagios.stdout.contains("CRITICAL"), "in sync, not out of sync: \(nagios)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        // The same difference between the two files, with no kernel: exit 2, then 0 for a file and itself.
        let diff = try run([NetLab.portctlPath, "diff", lab.policyPath, proposal])
        #expect(diff.status == 2 && diff.stdout.contains("~ relays:") && diff.stdout.contains("+203.0.113.0/24 -198.51.100.0/24"), "\(diff)")
        #expect(try run([NetLab.portctlPath, "diff", proposal, proposal]).status == 0)
        let markdown = try lab.portctl("plan", "--new", proposal, "--format", "markdown")
        #expect(markdown.stdout.contains("| ~ | `relays` |") && markdown.stdout.contains("| 203.0.113.0/24 | 198.51.100.0/24 |"), "\(markdown)")

        let applied = try lab.portctl("apply", planFile, "--expect-digest", try digest(planFile))
        #expect(applied.status == 0 && applied.stdout.contains("wrote") , "\(applied)")
        #expect(lab.policyBytes() == FileManager.default.contents(atPath: proposal), "the proposal is the policy file byte for byte")
        #expect(try lab.kernelMatchesPolicy())
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .timedOut)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        let history = try lab.portctl("history").stdout
        #expect(history.contains("apply of plan sha256:"), "\(history)")
        // Like any change: rolled back.
        #expect(try lab.portctl("rollback").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
    }

    @Test func anythingButTheReviewedPlanOnTheReviewedHostIsRefused() throws {
        let (lab, proposal) = try lab()
        defer { lab.cleanup() }
        let planFile = lab.directory.appendingPathComponent("change.plan").path
        func plan() throws -> String {
            #expect(try lab.portctl("plan", "--new", proposal, "-o", planFile).status == 2)
            return try digest(planFile)
        }
        func refused(_ expected: String, code: Int32 = 1, _ extra: [String] = []) throws {
            let kernel = try lab.ruleset()
            let file = lab.policyBytes()
            let outcome = try lab.portctl(["apply", planFile] + extra)
            #expect(outcome.status == code && outcome.stderr.contains(expected) && !outcome.stderr.contains("\n\n"), "\(outcome)")
            #expect(try lab.ruleset() == kernel && lab.policyBytes() == file)
        }
        // Production's policy file changed after planning.
        _ = try plan()
        #expect(try lab.portctl("open", "27").status == 0)
        try refused("the policy file \(lab.policyPath) changed since the plan was made")
        // The table changed after planning.
        _ = try plan()
        #expect(try lab.nft("add", "counter", "inet", "portctl", "extra").status == 0)
        try refused("table inet portctl changed since the plan was made")
        #expect(try lab.portctl("apply").status == 0)
        // An address file the proposal reads changed after planning.
        let relays = lab.directory.appendingPathComponent("relays.txt").path
        try "203.0.113.0/24\n".write(toFile: relays, atomically: true, encoding: .utf8)
        let withFile = String(decoding: lab.policyBytes(), as: UTF8.self)
            .replacingOccurrences(of: "from: [\"198.51.100.0/24\"]", with: "from: [\"@\(relays)\"]")
        #expect(withFile.contains("@\(relays)"))
        try withFile.write(toFile: proposal, atomically: true, encoding: .utf8)
        _ = try plan()
        try "203.0.113.0/24\n198.51.100.0/24\n".write(toFile: relays, atomically: true, encoding: .utf8)
        try refused("the address file \(relays) gives other addresses")
        // An edited plan whose digest was recomputed to match: not the approved one.
        try "203.0.113.0/24\n".write(toFile: relays, atomically: true, encoding: .utf8)
        let approved = try plan()
        var document = try PlanDocument.decode(try Data(contentsOf: URL(fileURLWithPath: planFile)))
        document.newPolicy = document.newPolicy?.replacingOccurrences(of: "@\(relays)", with: "0.0.0.0/0")
        document.digest = document.contentDigest
        try document.encoded().write(toFile: planFile, atomically: true, encoding: .utf8)
        try refused("is not the plan that was approved", code: 65, ["--expect-digest", approved])
        try refused("holds a batch that portctl would not make", code: 65)
        // A plan that shows readers one change (its policy and changes) and carries another: a
        // real plan of an evil proposal, dressed in a benign plan's policy and changes.
        _ = try plan()
        let benign = try PlanDocument.decode(try Data(contentsOf: URL(fileURLWithPath: planFile)))
        let evilProposal = lab.directory.appendingPathComponent("evil.yaml").path
        try (withFile + "  - id: \"telnet\"\n    action: allow\n    protocol: tcp\n    ports: [23]\n").write(toFile: evilProposal, atomically: true, encoding: .utf8)
        #expect(try lab.portctl("plan", "--new", evilProposal, "-o", planFile).status == 2)
        var mixed = try PlanDocument.decode(try Data(contentsOf: URL(fileURLWithPath: planFile)))
        #expect(mixed.script.contains("dport 23"))
        mixed.policy = benign.policy
        mixed.changes = benign.changes
        mixed.digest = mixed.contentDigest
        try mixed.encoded().write(toFile: planFile, atomically: true, encoding: .utf8)
        try refused("holds a batch that portctl would not make", code: 65, ["--expect-digest", mixed.digest])
        // A plan of another policy file (--policy, not --new) is refused with what to run instead.
        let other = lab.directory.appendingPathComponent("other.yaml").path
        try withFile.write(toFile: other, atomically: true, encoding: .utf8)
        #expect(try lab.portctl("plan", "--policy", other, "-o", planFile).status == 2)
        try refused("was made for the policy file \(other), not \(lab.policyPath)")
        let said = try lab.portctl("apply", planFile)
        #expect(!said.stderr.contains("stale") && said.stderr.contains("portctl plan --new \(other)"), "\(said)")
    }

    @Test func aProposalIsPlannedOfflineByAnOrdinaryUserAndAppliedOnTheHost() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Examples/gitops")
        // Production: the example's policy for mail1, applied on the host.
        let production = try String(contentsOf: example.appendingPathComponent("hosts/mail1/policy.yaml"), encoding: .utf8)
        try production.write(toFile: lab.policyPath, atomically: true, encoding: .utf8)
        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut)
        let listing = lab.directory.appendingPathComponent("listing.json").path
        let saved = try lab.portctl("status", "--save-listing", listing)
        #expect(saved.status == 0, "\(saved)")

        // The policy repository, as the CI user (nobody) has it: main = production, a branch
        // that admits client B's network too.
        let repo = lab.directory.appendingPathComponent("repo").path
        try FileManager.default.createDirectory(atPath: repo + "/hosts/mail1", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: example.appendingPathComponent("ci").path, toPath: repo + "/ci")
        try production.write(toFile: repo + "/hosts/mail1/policy.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: listing, toPath: repo + "/hosts/mail1/listing.json")
        #expect(try run(["chown", "-R", "nobody:nogroup", repo]).status == 0)
        #expect(chmod(lab.directory.path, 0o755) == 0)
        func asNobody(_ command: String) throws -> Outcome {
            try run(["runuser", "-u", "nobody", "--", "sh", "-c", "cd \(repo) && " + command],
                    environment: ["HOME": repo, "PORTCTL": NetLab.portctlPath, "GIT_CONFIG_GLOBAL": "/dev/null",
                                  "PORTCTL_POLICY": repo + "/none.yaml", "PORTCTL_STATE_DIR": repo + "/state"])
        }
        let git = "git -c user.name=ci -c user.email=ci@example.org"
        #expect(try asNobody("\(git) init -q -b main && \(git) add -A && \(git) commit -qm production").status == 0)
        let proposed = production.replacingOccurrences(of: "[\"198.51.100.0/24\"]", with: "[\"198.51.100.0/24\", \"203.0.113.0/24\"]")
        #expect(proposed != production)
        #expect(try asNobody("\(git) checkout -qb more-relays && printf '%s' '\(proposed)' > hosts/mail1/policy.yaml && \(git) commit -qam 'relays in 203.0.113.0/24'").status == 0)
        let ci = try asNobody("sh ci/plan.sh main out")
        #expect(ci.status == 2 && ci.stdout.contains("mail1: portctl plan: 1 change"), "\(ci)")
        let review = try String(contentsOfFile: repo + "/out/mail1.md", encoding: .utf8)
        #expect(review.contains("| ~ | `smtp-alt` |") && review.contains("| 203.0.113.0/24 |") && review.contains("<details>"), "\(review)")
        let approved = try String(contentsOfFile: repo + "/out/mail1.digest", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(approved.hasPrefix("sha256:") && review.contains(approved))
        // Production was not touched by the review, and the host applies exactly the plan.
        #expect(try lab.portctl("plan").status == 0)
        let applied = try run(["ip", "netns", "exec", lab.server, "sh", repo + "/ci/apply.sh", repo + "/out/mail1.plan", approved],
                              environment: lab.environment.merging(["PORTCTL": NetLab.portctlPath]) { $1 })
        #expect(applied.status == 0, "\(applied)")
        #expect(String(decoding: lab.policyBytes(), as: UTF8.self) == proposed)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.kernelMatchesPolicy())
    }

    @Test func rollbackToAnEarlierChangePutsItsPolicyBack() throws {
        let (lab, _) = try lab()
        defer { lab.cleanup() }
        let after1 = lab.policyBytes()
        #expect(try lab.portctl("open", "26", "--from", "203.0.113.0/24", "--id", "relays").status == 0)
        #expect(try lab.portctl("open", "27").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 27) == .connected)
        let restored = try lab.portctl("rollback", "--to", "1")
        #expect(restored.status == 0 && restored.stdout.contains("as they were after change #1"), "\(restored)")
        #expect(lab.policyBytes() == after1)
        #expect(try lab.kernelMatchesPolicy())
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 27) == .timedOut)
        #expect(try lab.portctl("history").stdout.contains("rollback --to 1"))
        // It is a change like any: a plain rollback undoes it.
        #expect(try lab.portctl("rollback").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 27) == .connected)
        let bad = try lab.portctl("rollback", "--to", "99")
        #expect(bad.status == 64 && bad.stderr.contains("no history entry #99"), "\(bad)")
    }

    @Test func onlyReplacesTheSourcesWithNoMomentOfNeitherOrBoth() throws {
        let (lab, _) = try lab()
        defer { lab.cleanup() }
        let dry = try lab.portctl("open", "26", "--from", "203.0.113.0/24", "--id", "relays", "--only", "--dry-run")
        #expect(dry.status == 2 && dry.stdout.contains("delete element") && dry.stdout.contains("add element"), "one batch: \(dry)")
        // Pairs of concurrent probes, from A (the old list) and from B (the new), while the change lands.
        nonisolated(unsafe) var sampled: [[Connection]] = []
        let sampledLock = NSLock()
        nonisolated(unsafe) let shared = lab
        let sampler = Thread {
            for _ in 0..<14 {
                let pair = (try? shared.connectAll([NetLab.Probe(from: shared.clientA, to: NetLab.serverA4, port: 26),
                                                    NetLab.Probe(from: shared.clientB, to: NetLab.serverB4, port: 26)], timeout: 0.3)) ?? []
                sampledLock.withLock { sampled.append(pair) }
            }
        }
        sampler.start()
        // The change lands once the old list has been seen admitting A and refusing B twice.
        #expect(waitUntil(seconds: 10, every: 0.05) { sampledLock.withLock { sampled.count } >= 2 })
        let only = try lab.portctl("open", "26", "--from", "203.0.113.0/24", "--id", "relays", "--only")
        #expect(only.status == 0, "\(only)")
        #expect(waitUntil(seconds: 20, every: 0.05) { sampler.isFinished })
        let pairs = sampledLock.withLock { sampled }
        let old: [Connection] = [.connected, .timedOut], new: [Connection] = [.timedOut, .connected]
        #expect(pairs.first == old && pairs.last == new, "\(pairs)")
        // Only a pair whose two probes straddle the one transaction may see both or neither.
        #expect(pairs.filter { $0 != old && $0 != new }.count <= 1, "\(pairs)")
        #expect(try lab.kernelMatchesPolicy())
        let refused = try lab.portctl("open", "26", "--only")
        #expect(refused.status == 64 && refused.stderr.contains("--only names the sources"), "\(refused)")
    }

    @Test func aSecondForwardToTheSameTargetExtendsTheFirst() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.addTarget()
        try lab.listen([2525], in: lab.target, udp: false)
        #expect(try run(["ip", "-n", lab.clientB, "route", "add", "192.0.2.0/24", "via", NetLab.serverB4]).status == 0)
        #expect(try run(["ip", "-n", lab.clientA, "route", "add", "192.0.2.0/24", "via", NetLab.serverA4]).status == 0)
        #expect(try lab.portctl("forward", "26", "--to", "192.0.2.2:2525", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut)
        let preview = try lab.portctl("forward", "26", "--to", "192.0.2.2:2525", "--from", "203.0.113.0/24", "--dry-run")
        #expect(preview.stdout.contains("~ fwd-tcp-26: sources +203.0.113.0/24"), "the plan names the sources: \(preview)")
        let second = try lab.portctl("forward", "26", "--to", "192.0.2.2:2525", "--from", "203.0.113.0/24")
        #expect(second.status == 0 && second.stdout.contains("updated rule fwd-tcp-26"), "\(second)")
        let list = try lab.portctl("list", "--json").stdout
        #expect(!list.contains("fwd-tcp-26-2"), "\(list)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        // --only: exactly these again.
        #expect(try lab.portctl("forward", "26", "--to", "192.0.2.2:2525", "--from", "203.0.113.0/24", "--only").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .timedOut)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        #expect(try lab.kernelMatchesPolicy())
    }
}
