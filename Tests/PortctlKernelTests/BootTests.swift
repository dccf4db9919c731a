import Foundation
import Testing

/// The boot unit at work: a Debian 12 tree with systemd as PID 1 (``DebianRelease/bookwormSystemd``,
/// debootstrap, cached) with the package installed and portctl.service enabled, booted under
/// systemd-nspawn in the lab's server namespace (made afresh for each boot: a fresh kernel's
/// empty ruleset). The container's /etc/portctl and /var/lib/portctl are the tree's copy's;
/// the host's are never touched. What is in force is read from the namespace's own
/// `nft list ruleset` and with real connections from the lab's clients.
@Suite(.serialized, .enabled(if: KernelLab.available && PackageLab.found && BootLab.nspawnInstalled && DebianRelease.bookwormSystemd.ready,
                             Comment(rawValue: BootLab.reason)))
struct BootTests {
    @Test func theUnitAppliesThePolicyBeforeNetworkPreTarget() throws {
        let hostFolders = BootLab.hostFolders()
        let tree = try BootLab.preparedTree()
        defer { tree.cleanup() }

        let lab = try NetLab()
        defer { lab.cleanup() }
        let boot = try BootedTree(tree, in: lab)
        defer { boot.stop() }
        let state = try boot.waitUntilBooted()
        #expect(state == "running", "\(boot.diagnosis)")

        let ruleset = try run(["ip", "netns", "exec", lab.server, "nft", "list", "ruleset"]).stdout
        #expect(ruleset.contains("table inet portctl {") && ruleset.contains("198.51.100.0/24") && ruleset.contains("26"), "\(ruleset)")
        try lab.listen(26)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut)

        let unit = try boot.inside(["systemctl", "is-active", "portctl.service"])
        #expect(unit.stdout == "active\n", "\(unit)\n\(boot.diagnosis)")
        try BootLab.expectFinishedBeforeNetworkPre(boot, journalLine: "applied")
        // systemd's own account: network-pre.target waited for portctl.service.
        let chain = try boot.inside(["systemd-analyze", "critical-chain", "--no-pager", "network-pre.target"])
        let after = chain.stdout.components(separatedBy: "network-pre.target").dropFirst().joined()
        #expect(chain.status == 0 && after.contains("portctl.service"), "\(chain)")

        boot.stop()
        #expect(boot.stoppedFromInside, "\(boot.diagnosis)")
        #expect(BootLab.hostFolders() == hostFolders, "the host's own folders are untouched")
    }

    @Test func aBrokenPolicyAtBootKeepsTheHostClosedAndFailsTheUnit() throws {
        let hostFolders = BootLab.hostFolders()
        let tree = try BootLab.preparedTree()
        defer { tree.cleanup() }
        // A boot with the policy as it is (it applies it: a change), then the admin stops the
        // unit: its ExecStop (`portctl disable`) removes the table and is the newest change.
        do {
            let lab = try NetLab(withClients: false)
            defer { lab.cleanup() }
            let boot = try BootedTree(tree, in: lab)
            defer { boot.stop() }
            #expect(try boot.waitUntilBooted() == "running", "\(boot.diagnosis)")
            let stopped = try boot.inside(["systemctl", "stop", "portctl.service"])
            #expect(stopped.status == 0, "\(stopped)")
            #expect(try run(["ip", "netns", "exec", lab.server, "nft", "list", "ruleset"]).stdout.isEmpty)
            boot.stop()
            #expect(boot.stoppedFromInside, "\(boot.diagnosis)")
        }
        let newest = try BootLab.newestChange(in: tree)
        #expect(newest.command == "disable", "the unit's ExecStop was recorded: \(newest)")

        let policy = tree.root.appendingPathComponent("etc/portctl/policy.yaml")
        let broken = "version: 1\nrules:\n  - id: smtp-alt\n    ports: 70000\n    from: 198.51.100.0/24\n"
        try Data(broken.utf8).write(to: policy)

        // The last applied policy (the boot's apply, before that disable) comes back from the
        // state folder: the disable is passed over, as a good file would be applied after it.
        do {
            let lab = try NetLab()
            defer { lab.cleanup() }
            let boot = try BootedTree(tree, in: lab)
            defer { boot.stop() }
            let state = try boot.waitUntilBooted()
            #expect(state == "degraded", "\(boot.diagnosis)")

            let ruleset = try run(["ip", "netns", "exec", lab.server, "nft", "list", "ruleset"]).stdout
            #expect(ruleset.contains("table inet portctl {") && ruleset.contains("198.51.100.0/24"), "\(ruleset)")
            try lab.listen(26, 27)
            #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
            #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut)
            #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .timedOut)

            let failed = try boot.inside(["systemctl", "is-failed", "portctl.service"])
            #expect(failed.stdout == "failed\n", "\(failed)\n\(boot.diagnosis)")
            let status = try boot.inside(["systemctl", "show", "-p", "ExecMainStatus", "portctl.service"])
            #expect(status.stdout == "ExecMainStatus=65\n", "\(status)")
            let journal = try boot.inside(["journalctl", "-b", "-u", "portctl.service", "--no-pager", "-o", "cat"]).stdout
            #expect(journal.contains("\"70000\"") && journal.contains("in force instead is the policy of change #\(newest.sequence - 1)"), "\(journal)")
            try BootLab.expectFinishedBeforeNetworkPre(boot, journalLine: "70000")
            #expect(try String(contentsOf: policy, encoding: .utf8) == broken, "the admin's file is left as it is")
        }

        // Without any applied change in the state folder: the first-run policy, inbound drop.
        let state = tree.root.appendingPathComponent("var/lib/portctl")
        for name in try FileManager.default.contentsOfDirectory(atPath: state.path) {
            try FileManager.default.removeItem(at: state.appendingPathComponent(name))
        }
        do {
            let lab = try NetLab()
            defer { lab.cleanup() }
            let boot = try BootedTree(tree, in: lab)
            defer { boot.stop() }
            _ = try boot.waitUntilBooted()
            let ruleset = try run(["ip", "netns", "exec", lab.server, "nft", "list", "ruleset"]).stdout
            #expect(ruleset.contains("table inet portctl {") && !ruleset.contains("198.51.100.0/24"), "\(ruleset)")
            try lab.listen(22, 26)
            #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .timedOut)
            #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 22) == .connected, "SSH stays reachable")
            let journal = try boot.inside(["journalctl", "-b", "-u", "portctl.service", "--no-pager", "-o", "cat"]).stdout
            #expect(journal.contains("in force instead is the first-run policy (inbound drop, SSH 22/tcp allowed from anywhere)"), "\(journal)")
            #expect(try boot.inside(["systemctl", "is-failed", "portctl.service"]).stdout == "failed\n")
        }
        #expect(BootLab.hostFolders() == hostFolders, "the host's own folders are untouched")
    }
}

/// A machine meant to run every test fails here when it cannot boot the tree, rather than skipping.
@Test func theBootLabIsHereWhenRequired() {
    if KernelLab.required && KernelLab.available {
        #expect(BootLab.nspawnInstalled, Comment(rawValue: BootLab.reason))
    }
}

/// What the boot tests share: the tree with the package installed, a port opened and the unit
/// enabled, and checks made inside a booted container.
enum BootLab {
    static let nspawn = "/usr/bin/systemd-nspawn"
    static var nspawnInstalled: Bool { FileManager.default.isExecutableFile(atPath: nspawn) }
    static let reason = "the boot tests need systemd-nspawn (apt-get install systemd-container), nsenter, root, the .deb (./scripts/package) and a Debian 12 tree with systemd (debootstrap and the Debian archive (\(DebianTree.mirror)) for the first run; cached in .build/debian-tree/bookworm-systemd)"

    /// Whether the host's /etc/portctl and /var/lib/portctl exist (they must not change).
    static func hostFolders() -> [Bool] {
        ["/etc/portctl", "/var/lib/portctl"].map { FileManager.default.fileExists(atPath: $0) }
    }

    /// A copy of the tree with the package installed (dpkg), 26/tcp opened for 198.51.100.0/24 by
    /// the tree's portctl (so the state folder records an applied change, #1), and the unit
    /// enabled by the tree's own systemctl. The namespace used for this is gone before any boot.
    static func preparedTree() throws -> DebianTree {
        let tree = try DebianTree(.bookwormSystemd)
        do {
            let lab = try NetLab(withClients: false)
            defer { lab.cleanup() }
            try tree.add(try #require(PackageLab.deb), as: "/tmp/portctl.deb")
            for command in [["dpkg", "-i", "/tmp/portctl.deb"],
                            ["/usr/sbin/portctl", "open", "26", "--from", "198.51.100.0/24"],
                            ["systemctl", "enable", "portctl.service"]] {
                let outcome = try tree.runInside(command, in: lab)
                if outcome.status != 0 { throw LabError(message: "\(command.joined(separator: " ")): \(outcome)") }
            }
            let link = tree.root.appendingPathComponent("etc/systemd/system/multi-user.target.wants/portctl.service").path
            #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) != nil, "enabled")
        } catch {
            tree.cleanup()
            throw error
        }
        return tree
    }

    /// The newest entry of the tree's history (`/var/lib/portctl/history/N.json`, N zero-padded): its number and command.
    static func newestChange(in tree: DebianTree) throws -> (sequence: Int, command: String) {
        let folder = tree.root.appendingPathComponent("var/lib/portctl/history")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .compactMap { name in name.hasSuffix(".json") ? Int(name.dropLast(".json".count)).map { ($0, name) } : nil }
        let (sequence, name) = try #require(files.max { $0.0 < $1.0 })
        let entry = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent(name)))
        return (sequence, ((entry as? [String: Any])?["command"] as? String) ?? "")
    }

    /// portctl.service's ExecStart ended before network-pre.target was reached, by systemd's
    /// monotonic timestamps, and in the journal portctl's line (containing `journalLine`) comes
    /// before "Reached target network-pre.target".
    static func expectFinishedBeforeNetworkPre(_ boot: BootedTree, journalLine: String,
                                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        func stamp(_ property: String, _ unit: String) throws -> UInt64 {
            let shown = try boot.inside(["systemctl", "show", "--value", "-p", property, unit])
            return UInt64(shown.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        let started = try stamp("ExecMainStartTimestampMonotonic", "portctl.service")
        let finished = try stamp("ExecMainExitTimestampMonotonic", "portctl.service")
        let reached = try stamp("ActiveEnterTimestampMonotonic", "network-pre.target")
        #expect(started > 0 && finished >= started && reached > 0 && finished <= reached,
                "portctl.service ran \(started)-\(finished) µs, network-pre.target reached at \(reached) µs", sourceLocation: sourceLocation)
        let journal = try boot.inside(["journalctl", "-b", "--no-pager", "-o", "short-monotonic"]).stdout.split(separator: "\n")
        let portctl = journal.firstIndex { $0.contains("portctl[") && $0.contains(journalLine) }
        let target = journal.firstIndex { $0.contains("Reached target network-pre.target") }
        #expect(portctl != nil && target != nil && portctl! < target!,
                "journal: \(journal.filter { $0.contains("portctl") || $0.contains("network-pre") }.joined(separator: "\n"))",
                sourceLocation: sourceLocation)
    }
}

/// A Debian tree booted with systemd as PID 1 under systemd-nspawn, in a lab's server namespace
/// (never the host's: `--network-namespace-path`), with CAP_NET_ADMIN, unregistered (`--register=no
/// --keep-unit`: the host's PID 1 need not be systemd). Commands run inside with nsenter. ``stop()``
/// powers it off from inside, bounded by a deadline, and kills what it started by PID otherwise.
final class BootedTree {
    private let process = Process()
    private let console: URL
    private let namespace: String
    /// The container's PID 1, as the host numbers it (0 until found).
    private(set) var leader: pid_t = 0
    /// Whether the last ``stop()`` ended the container by its own poweroff.
    private(set) var stoppedFromInside = false

    init(_ tree: DebianTree, in lab: NetLab) throws {
        namespace = lab.server
        console = tree.directory.appendingPathComponent("console-\(lab.server).log")
        _ = FileManager.default.createFile(atPath: console.path, contents: nil)
        let output = try FileHandle(forWritingTo: console)
        process.executableURL = URL(fileURLWithPath: BootLab.nspawn)
        process.arguments = ["--directory=\(tree.root.path)", "--boot", "--machine=\(lab.server)",
                             "--register=no", "--keep-unit",
                             "--network-namespace-path=/run/netns/\(lab.server)", "--capability=CAP_NET_ADMIN",
                             "--console=read-only", "--link-journal=no", "--resolv-conf=off", "--timezone=off"]
        process.environment = ["PATH": PackageLab.systemPath, "SYSTEMD_LOG_COLOR": "0"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        try process.run()
        try? output.close()
    }

    deinit { stop() }

    /// What the container printed (its console) and, while it runs, its failed units, for failure messages.
    var diagnosis: String {
        let text = (try? String(contentsOf: console, encoding: .utf8)) ?? ""
        let failed = process.isRunning && leader != 0 ? (try? inside(["systemctl", "--failed", "--no-legend"]))?.stdout ?? "" : ""
        return "failed units: \(failed.isEmpty ? "none known" : failed)\nsystemd-nspawn console (last 60 lines):\n"
            + text.split(separator: "\n").suffix(60).joined(separator: "\n")
    }

    /// Waits (at most `seconds`) until the container's systemd says the boot is over, and returns
    /// its state (`running`, or `degraded` when a unit failed). Throws, with the console, when the
    /// container ends or does not finish booting in time.
    func waitUntilBooted(seconds: Double = 120) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var last = ""
        while Date() < deadline {
            guard process.isRunning else {
                throw LabError(message: "systemd-nspawn could not boot the tree here (exit \(process.terminationStatus)); \(diagnosis)")
            }
            if leader == 0 { leader = findLeader() }
            if leader != 0 {
                last = try inside(["systemctl", "is-system-running"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                if ["running", "degraded", "maintenance"].contains(last) { return last }
            }
            usleep(200_000)
        }
        throw LabError(message: "the container did not finish booting within \(Int(seconds)) s (PID 1 \(leader), state \"\(last)\"); \(diagnosis)")
    }

    /// The host's number for the container's PID 1: in the lab's namespace, PID 1 in its own PID
    /// namespace, and a descendant of this systemd-nspawn.
    private func findLeader() -> pid_t {
        let pids = (try? run(["ip", "netns", "pids", namespace]))?.stdout.split(separator: "\n").compactMap { pid_t($0) } ?? []
        for pid in pids {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("NSpid:") }) else { continue }
            let numbers = line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst()
            guard numbers.count >= 2, numbers.last == "1", descends(pid, from: process.processIdentifier) else { continue }
            return pid
        }
        return 0
    }

    private func descends(_ pid: pid_t, from ancestor: pid_t) -> Bool {
        var current = pid
        for _ in 0..<8 {
            guard let status = try? String(contentsOfFile: "/proc/\(current)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("PPid:") }),
                  let parent = pid_t(line.dropFirst("PPid:".count).trimmingCharacters(in: .whitespaces)) else { return false }
            if parent == ancestor { return true }
            if parent <= 1 { return false }
            current = parent
        }
        return false
    }

    /// Runs a command inside the container (all its namespaces, its root), at most 60 seconds.
    func inside(_ command: [String]) throws -> Outcome {
        guard leader != 0 else { throw LabError(message: "the container's PID 1 is not known: \(diagnosis)") }
        return try run(["timeout", "60", "nsenter", "--target", String(leader), "--mount", "--uts", "--ipc", "--net", "--pid",
                        "--root", "--wd", "env", "-i", "PATH=\(PackageLab.systemPath)", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER="] + command)
    }

    /// Powers the container off from inside (`systemctl poweroff`) and waits at most 60 s for
    /// systemd-nspawn to end; then SIGKILLs it and the container's PID 1 (by PID).
    func stop() {
        guard process.isRunning else { return }
        stoppedFromInside = false
        if leader == 0 { leader = findLeader() }
        if leader != 0 { _ = try? inside(["systemctl", "poweroff", "--no-block"]) }
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { usleep(100_000) }
        if process.isRunning {
            if leader != 0 { kill(leader, SIGKILL) }
            kill(process.processIdentifier, SIGKILL)
        } else {
            stoppedFromInside = true
        }
        process.waitUntilExit()
    }
}
