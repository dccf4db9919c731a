import Foundation
import PortPolicy
import Testing

/// What root trusts, against a local attacker and a careless admin: symlinks, folders others can
/// write, saved plans edited by hand, tables portctl did not make. Each case was an attack that
/// worked before; nothing here may reach the kernel.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct TrustTests {
    func makeFolder(_ path: String, mode: mode_t) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, mode)
    }

    @Test func aPolicyReachedThroughAFolderOthersCanWriteIsRefused() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        // The file moved into a folder anyone can write, and a symlink put back in its place:
        // anyone could swap the target. Refused, and the kernel keeps what it had.
        let open = lab.directory.appendingPathComponent("open").path
        try makeFolder(open, mode: 0o777)
        try FileManager.default.moveItem(atPath: lab.policyPath, toPath: open + "/policy.yaml")
        try FileManager.default.createSymbolicLink(atPath: lab.policyPath, withDestinationPath: open + "/policy.yaml")
        let kernel = try lab.ruleset()
        let refused = try lab.portctl("open", "4444")
        #expect(refused.status == 1 && refused.stderr.contains("the folder \(open)") && refused.stderr.contains("writable"), "\(refused)")
        #expect(try lab.portctl("apply").status == 1)
        #expect(try lab.ruleset() == kernel)
        // The same folder holding the link instead of the file: the link could be swapped.
        let link = open + "/link.yaml"
        try FileManager.default.removeItem(atPath: lab.policyPath)
        try FileManager.default.moveItem(atPath: open + "/policy.yaml", toPath: lab.policyPath)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: lab.policyPath)
        let viaLink = try lab.portctl(["apply"], extraEnvironment: ["PORTCTL_POLICY": link])
        #expect(viaLink.status == 1 && viaLink.stderr.contains(open), "\(viaLink)")
        #expect(try lab.ruleset() == kernel)
    }

    @Test func aSymlinkedPolicyInRootsFoldersIsFollowedAndStaysALink() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        let real = lab.directory.appendingPathComponent("etc/portctl").path
        try makeFolder(real, mode: 0o755)
        try FileManager.default.createSymbolicLink(atPath: lab.policyPath, withDestinationPath: real + "/policy.yaml")
        let opened = try lab.portctl("open", "26", "--from", "198.51.100.0/24")
        #expect(opened.status == 0, "\(opened)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: lab.policyPath) == real + "/policy.yaml")
        let text = try String(contentsOfFile: real + "/policy.yaml", encoding: .utf8)
        #expect(text.contains("198.51.100.0/24"))
        #expect(try lab.kernelMatchesPolicy())
    }

    @Test func stickyFoldersAreRefusedForThePolicyAndTheState() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        // A sticky folder like /tmp: others cannot replace root's files there, but they can plant
        // links and files (the old predictable temporary name, a forged pending confirmation).
        let sticky = lab.directory.appendingPathComponent("sticky").path
        try makeFolder(sticky, mode: 0o1777)
        let planted = sticky + "/.policy.yaml.\(getpid()).tmp"
        let victim = lab.directory.appendingPathComponent("victim").path
        try Data("root's file\n".utf8).write(to: URL(fileURLWithPath: victim))
        try FileManager.default.createSymbolicLink(atPath: planted, withDestinationPath: victim)
        let policy = try lab.portctl(["open", "26"], extraEnvironment: ["PORTCTL_POLICY": sticky + "/policy.yaml"])
        #expect(policy.status == 1 && policy.stderr.contains("the folder \(sticky)"), "\(policy)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "root's file\n")
        #expect(!FileManager.default.fileExists(atPath: sticky + "/policy.yaml"))
        let state = try lab.portctl(["open", "26"], extraEnvironment: ["PORTCTL_STATE_DIR": sticky])
        #expect(state.status == 1 && state.stderr.contains("state folder") && state.stderr.contains("chmod 700"), "\(state)")
        #expect(try lab.nft("list", "tables").stdout.isEmpty)
        // Temporary files get unpredictable names and are created exclusively: a planted link at
        // any name is never written through.
        #expect(try lab.portctl("open", "26").status == 0)
        let siblings = try FileManager.default.contentsOfDirectory(atPath: lab.directory.path)
        #expect(!siblings.contains { $0.hasSuffix(".tmp") }, "\(siblings)")
    }

    @Test func aSymlinkedStateFolderPointingAtARootOnlyFolderIsAccepted() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        let real = lab.directory.appendingPathComponent("var/lib/portctl").path
        try makeFolder(real, mode: 0o700)
        let link = lab.directory.appendingPathComponent("state-link").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
        let opened = try lab.portctl(["open", "26"], extraEnvironment: ["PORTCTL_STATE_DIR": link])
        #expect(opened.status == 0, "\(opened)")
        #expect(FileManager.default.fileExists(atPath: real + "/history"))
    }

    /// A local user's symlink anywhere on the way (holding the state folder, in the middle of the
    /// policy path) could be repointed between portctl's check and its use: refused, and nothing
    /// is created through it.
    @Test func linksALocalUserCouldRepointAreRefused() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        let theirs = lab.directory.appendingPathComponent("theirs").path
        try makeFolder(theirs, mode: 0o755)
        chown(theirs, 65534, 65534)
        let safeState = lab.environment["PORTCTL_STATE_DIR"]!
        // 1. A link to root's own state folder, in a folder nobody owns.
        try FileManager.default.createSymbolicLink(atPath: theirs + "/state", withDestinationPath: safeState)
        let state = try lab.portctl(["status"], extraEnvironment: ["PORTCTL_STATE_DIR": theirs + "/state"])
        #expect(state.status == 1 && state.stderr.contains(theirs), "\(state)")
        // 2. A link owned by nobody, in root's folder.
        let owned = lab.directory.appendingPathComponent("state-by-nobody").path
        try FileManager.default.createSymbolicLink(atPath: owned, withDestinationPath: safeState)
        lchown(owned, 65534, 65534)
        let link = try lab.portctl(["apply"], extraEnvironment: ["PORTCTL_STATE_DIR": owned])
        #expect(link.status == 1 && link.stderr.contains("owned by uid 65534"), "\(link)")
        // 3. A link in the middle of the policy's path.
        let etc = lab.directory.appendingPathComponent("etc").path
        try makeFolder(etc, mode: 0o755)
        try FileManager.default.copyItem(atPath: lab.policyPath, toPath: etc + "/policy.yaml")
        try FileManager.default.createSymbolicLink(atPath: theirs + "/etclink", withDestinationPath: etc)
        let middle = try lab.portctl(["apply"], extraEnvironment: ["PORTCTL_POLICY": theirs + "/etclink/policy.yaml"])
        #expect(middle.status == 1 && middle.stderr.contains(theirs), "\(middle)")
        // 4. Nothing is created through such a link, not even by a dry run.
        // (A dry run reads no state folder that is not there: it shows the plan and writes nothing.)
        let dry = try lab.portctl(["open", "27", "--dry-run"], extraEnvironment: ["PORTCTL_STATE_DIR": theirs + "/etclink/newstate"])
        #expect(dry.status == 2 || dry.status == 1, "\(dry)")
        #expect(!FileManager.default.fileExists(atPath: etc + "/newstate"))
        // 5. history reads no state folder others could have written.
        let history = try lab.portctl(["history"], extraEnvironment: ["PORTCTL_STATE_DIR": theirs + "/state"])
        #expect(history.status == 1 && history.stderr.contains("refusing the state folder"), "\(history)")
    }

    /// Names read from the kernel are never pasted into commands: a chain someone named
    /// `input<newline>delete table inet victim` in portctl's table cannot delete another table.
    @Test func hostileObjectNamesInTheTableAreNeverPastedIntoCommands() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        #expect(try lab.nft("add", "table", "inet", "victim").status == 0)
        let hostile = #"{"nftables": [{"chain": {"family": "inet", "table": "portctl", "name": "input\ndelete table inet victim"}}, {"quota": {"family": "inet", "table": "portctl", "name": "q\ndelete table inet victim", "bytes": 100}}]}"#
        let path = lab.directory.appendingPathComponent("hostile.json").path
        try Data(hostile.utf8).write(to: URL(fileURLWithPath: path))
        let planted = try lab.nft("-j", "-f", path)
        #expect(planted.status == 0, "\(planted)")
        #expect(try lab.nft("add", "table", "inet", "portctl", "{ flags dormant; }").status == 0)
        #expect(try lab.portctl("status").status == 0)
        #expect(try lab.nft("list", "table", "inet", "victim").status == 0, "status deleted nothing")
        let plan = try lab.portctl("plan")
        #expect(plan.status == 2 && plan.stdout.contains("rewrites the table"), "\(plan)")
        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.nft("list", "table", "inet", "victim").status == 0, "apply deleted nothing else")
        #expect(try lab.kernelMatchesPolicy())
    }

    @Test func aSavedPlanCannotReopenWhatExpiredSince() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(25)
        #expect(try lab.portctl("open", "26").status == 0)
        var policy = try PolicyFile.decode(lab.policyBytes())
        var rule = PortRule(id: "short", ports: [try PortRange(25)])
        rule.expires = Date().addingTimeInterval(3)
        policy.rules.append(rule)
        try Data(PolicyFile.encode(policy).utf8).write(to: URL(fileURLWithPath: lab.policyPath))
        let planPath = lab.directory.appendingPathComponent("old.json").path
        #expect(try lab.portctl("plan", "-o", planPath).status == 2)
        usleep(4_000_000)
        let stale = try lab.portctl("apply", planPath)
        #expect(stale.status == 1 && stale.stderr.contains("expired"), "\(stale)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 25) == .timedOut)
    }

    /// Re-encodes a saved plan after `edit`, with its digest made to match again.
    func forge(_ path: String, _ edit: (inout PlanDocument) -> Void) throws {
        var document = try PlanDocument.decode(try Data(contentsOf: URL(fileURLWithPath: path)))
        edit(&document)
        document.digest = document.contentDigest
        try Data(document.encoded().utf8).write(to: URL(fileURLWithPath: path))
    }

    @Test func aSavedPlanRunsOnlyThePlannersOwnScript() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 4444)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.nft("add", "table", "inet", "other").status == 0)
        // Edit the file and save a plan for it.
        var text = try String(contentsOfFile: lab.policyPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "[\"198.51.100.0/24\"]", with: "[\"198.51.100.0/24\", \"203.0.113.0/24\"]")
        try Data(text.utf8).write(to: URL(fileURLWithPath: lab.policyPath))
        let planPath = lab.directory.appendingPathComponent("reviewed.json").path
        #expect(try lab.portctl("plan", "-o", planPath).status == 2)
        let kernel = try lab.ruleset()

        // 1. Appended commands, digest left alone: the digest gives it away.
        let original = try String(contentsOfFile: planPath, encoding: .utf8)
        let appended = original.replacingOccurrences(of: "\"script\" : \"", with: "\"script\" : \"delete table inet other\\n")
        #expect(appended != original)
        try Data(appended.utf8).write(to: URL(fileURLWithPath: planPath))
        let edited = try lab.portctl("apply", planPath)
        #expect(edited.status == 65 && edited.stderr.contains("edited"), "\(edited)")

        // 2. The same with the digest recomputed: the script is not what the planner makes.
        try Data(original.utf8).write(to: URL(fileURLWithPath: planPath))
        try forge(planPath) { $0.script += "delete table inet other\nadd rule inet portctl input tcp dport 4444 accept\n" }
        let forged = try lab.portctl("apply", planPath)
        #expect(forged.status == 65 && forged.stderr.contains("would not make"), "\(forged)")
        #expect(try lab.ruleset() == kernel)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 4444) == .timedOut)

        // 3. A plan file others can write is refused like a policy file.
        try Data(original.utf8).write(to: URL(fileURLWithPath: planPath))
        chmod(planPath, 0o666)
        let writable = try lab.portctl("apply", planPath)
        #expect(writable.status == 1 && writable.stderr.contains("users other than root"), "\(writable)")
        chmod(planPath, 0o644)

        // 4. Its policy field (what readers of the plan are shown) must be what is applied: a plan
        // that shows one policy and carries another is refused, digest recomputed or not.
        try forge(planPath) { $0.policy.rules.removeAll() }
        let ssh = ["SSH_CONNECTION": "\(NetLab.clientA4) 50000 \(NetLab.serverA4) 22"]
        let shown = try lab.portctl(["apply", planPath], extraEnvironment: ssh)
        #expect(shown.status == 65 && shown.stderr.contains("would not make"), "\(shown)")
        #expect(try !lab.kernelMatchesPolicy() && lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut,
                "nothing of the plan was applied")
        try Data(original.utf8).write(to: URL(fileURLWithPath: planPath))
        let applied = try lab.portctl(["apply", planPath], extraEnvironment: ssh)
        #expect(applied.status == 0, "\(applied)")
        #expect(try lab.kernelMatchesPolicy())
        #expect(try lab.nft("list", "table", "inet", "other").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)

        // 5. --dry-run --json prints the plan document.
        #expect(try lab.portctl("plan", "-o", planPath).status == 0)
        let json = try lab.portctl("apply", planPath, "--dry-run", "--json")
        #expect(json.status == 0 && json.stdout.contains("\"format\" : \"portctl-plan\""), "\(json)")
    }

    @Test func portctlChangesOnlyATableItMade() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        // Someone's own table, named in the policy by mistake (or on purpose).
        let mine = "table inet mine {\n counter hits { }\n chain input { type filter hook input priority 10; policy accept; tcp dport 80 counter name hits accept\n }\n}\n"
        let minePath = lab.directory.appendingPathComponent("mine.nft").path
        try Data(mine.utf8).write(to: URL(fileURLWithPath: minePath))
        #expect(try lab.nft("-f", minePath).status == 0)
        let before = try lab.nft("list", "table", "inet", "mine").stdout
        try Data("table: mine\ndefaults:\n  inbound: drop\nrules:\n  - id: ssh\n    ports: [22]\n".utf8).write(to: URL(fileURLWithPath: lab.policyPath))
        for arguments in [["apply"], ["open", "26"], ["disable"], ["plan"], ["status"]] {
            let refused = try lab.portctl(arguments)
            #expect(refused.status == 1 && refused.stderr.contains("portctl did not create it"), "\(arguments): \(refused)")
        }
        #expect(try lab.nft("list", "table", "inet", "mine").stdout == before)

        // A rename of portctl's own table removes the old one in the same batch.
        try Data("table: portctl\nrules:\n  - id: ssh\n    ports: [22]\n".utf8).write(to: URL(fileURLWithPath: lab.policyPath))
        #expect(try lab.portctl("apply").status == 0)
        try Data("table: relays\nrules:\n  - id: ssh\n    ports: [22]\n".utf8).write(to: URL(fileURLWithPath: lab.policyPath))
        let plan = try lab.portctl("plan")
        #expect(plan.status == 2 && plan.stdout.contains("- table inet portctl"), "\(plan)")
        #expect(try lab.portctl("apply").status == 0)
        let tables = try lab.nft("list", "tables").stdout
        #expect(tables.contains("inet relays") && !tables.contains("inet portctl") && tables.contains("inet mine"), "\(tables)")
        #expect(try lab.kernelMatchesPolicy())
    }
}
