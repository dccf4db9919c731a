import Foundation
import PortPolicy
import Testing

/// Safety against the real kernel: commit-confirmed rollback, the lockout guard, concurrent
/// invocations, kill -9 at any moment, privilege, and file permissions.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct SafetyTests {
    /// Waits (bounded) until the pending confirmation is gone.
    func waitForNoPendingConfirmation(_ lab: NetLab, seconds: Double) {
        let path = lab.environment["PORTCTL_STATE_DIR"]! + "/pending-confirm.json"
        let deadline = Date().addingTimeInterval(seconds)
        while FileManager.default.fileExists(atPath: path) && Date() < deadline { usleep(100_000) }
    }

    func pendingWatchdog(_ lab: NetLab) throws -> Int32 {
        let path = lab.environment["PORTCTL_STATE_DIR"]! + "/pending-confirm.json"
        let data = try #require(FileManager.default.contents(atPath: path))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return try #require(object?["watchdog"] as? Int32 ?? (object?["watchdog"] as? Int).map(Int32.init))
    }

    @Test func unconfirmedChangeRollsBackByItselfEvenWithTheTerminalGone() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 27)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        let file = lab.policyBytes()

        // Start the change in a session of its own, then hang that session up, as a dropped SSH
        // connection would: the rollback must still happen.
        let started = try run(["setsid", "--wait", "ip", "netns", "exec", lab.server, NetLab.portctlPath,
                               "open", "27", "--from", "198.51.100.0/24", "--confirm", "2"], environment: lab.environment)
        #expect(started.status == 0, "\(started)")
        #expect(started.stdout.contains("portctl confirm"))
        let watchdog = try pendingWatchdog(lab)
        let stat = try String(contentsOfFile: "/proc/\(watchdog)/stat", encoding: .utf8)
        let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
        #expect(fields.count > 4 && Int32(fields[3]) == watchdog, "the watchdog leads its own session: \(stat)")
        kill(-watchdog, SIGHUP)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .connected)

        waitForNoPendingConfirmation(lab, seconds: 10)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .timedOut)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(lab.policyBytes() == file)
        #expect(try lab.kernelMatchesPolicy())
        let history = try lab.portctl("history")
        #expect(history.stdout.contains("auto-rollback") && history.stdout.contains("[rolled back]"), "\(history)")
        let late = try lab.portctl("confirm")
        #expect(late.status == 1 && late.stderr.contains("too late"), "\(late)")
    }

    @Test func confirmedChangeStays() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(27)
        #expect(try lab.portctl("open", "26").status == 0)
        #expect(try lab.portctl("open", "27", "--from", "198.51.100.0/24", "--confirm", "2").status == 0)
        // While it waits, other changes are refused rather than silently confirmed.
        let blocked = try lab.portctl("open", "28")
        #expect(blocked.status == 1 && blocked.stderr.contains("awaits confirmation"), "\(blocked)")
        let confirmed = try lab.portctl("confirm")
        #expect(confirmed.status == 0 && confirmed.stdout.contains("confirmed"), "\(confirmed)")
        let file = lab.policyBytes()
        usleep(3_000_000)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .connected)
        #expect(lab.policyBytes() == file)
        #expect(try lab.portctl("history").stdout.contains("[confirmed]"))
    }

    @Test func rollbackRestoresThePreviousPolicyAndRuleset() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(27)
        #expect(try lab.portctl("open", "26").status == 0)
        let file = lab.policyBytes()
        #expect(try lab.portctl("open", "27").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .connected)
        let rolled = try lab.portctl("rollback")
        #expect(rolled.status == 0, "\(rolled)")
        #expect(lab.policyBytes() == file)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .timedOut)
        // Rolling back again undoes the rollback: 27 is open again.
        #expect(try lab.portctl("rollback").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .connected)
    }

    @Test func lockoutGuardRefusesAndForceProceeds() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(22)
        #expect(try lab.portctl("open", "26").status == 0)
        let ssh = ["SSH_CONNECTION": "\(NetLab.clientB4) 40000 \(NetLab.serverB4) 22"]
        let file = lab.policyBytes()
        let kernel = try lab.ruleset()
        for arguments in [["deny", "22", "--from", "203.0.113.0/24"], ["close", "22"], ["reject", "22"], ["remove", "ssh"]] {
            let refused = try lab.portctl(arguments, extraEnvironment: ssh)
            #expect(refused.status == 1, "\(arguments): \(refused)")
            #expect(refused.stderr.contains("refusing") && refused.stderr.contains("--force"), "\(refused)")
            #expect(refused.stderr.split(separator: "\n").count == 1)
            #expect(lab.policyBytes() == file)
            #expect(try lab.ruleset() == kernel)
        }
        // Changes that leave the login path open go through.
        #expect(try lab.portctl(["deny", "22", "--from", "198.51.100.0/24"], extraEnvironment: ssh).status == 0)
        #expect(try lab.portctl(["remove", "deny-tcp-22"], extraEnvironment: ssh).status == 0)
        let forced = try lab.portctl(["deny", "22", "--from", "203.0.113.0/24", "--force"], extraEnvironment: ssh)
        #expect(forced.status == 0, "\(forced)")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 22) == .timedOut)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 22) == .connected)
    }

    @Test func twentyConcurrentOpensAllLand() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        let ports = Array(1001...1020)
        let processes = try ports.map { port -> Process in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = ["netns", "exec", lab.server, NetLab.portctlPath, "open", String(port), "--from", "198.51.100.0/24"]
            process.environment = ProcessInfo.processInfo.environment.merging(lab.environment) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        for process in processes { process.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 })
        let policy = try PolicyFile.decode(lab.policyBytes())
        #expect(Set(policy.rules.map(\.id)) == Set(ports.map { "allow-tcp-\($0)" } + ["ssh"]))
        #expect(try lab.kernelMatchesPolicy(), "the kernel holds exactly the file's 21 rules")
        let rules = try lab.nft("list", "chain", "inet", "portctl", "input").stdout
        for port in ports { #expect(rules.contains("tcp dport \(port) "), "\(port)") }
    }

    @Test func killDashNineLeavesOldOrNewNeverAMix() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        // Old: a small policy. New: 50,000 sources, big enough that apply takes a while.
        let old = PortPolicy(rules: [PortRule(id: "ssh", ports: [try PortRange(22)])])
        var new = old
        new.rules.append(PortRule(id: "big", ports: [try PortRange(26)], sources: (0..<50_000).map { index in
            try! IPNetwork(address: IPAddress(family: .ipv4, bits: UInt128(0x0A00_0000 + 2 * index))!, prefixLength: 32)
        }))
        let oldPath = lab.directory.appendingPathComponent("old.yaml").path
        let newPath = lab.directory.appendingPathComponent("new.yaml").path
        try PolicyFile.encode(old).write(toFile: oldPath, atomically: true, encoding: .utf8)
        try PolicyFile.encode(new).write(toFile: newPath, atomically: true, encoding: .utf8)
        // How long a whole apply takes here, so the kills land before, during and after it.
        #expect(try lab.portctl("apply", "--policy", oldPath).status == 0)
        let started = Date()
        #expect(try lab.portctl("apply", "--policy", newPath).status == 0)
        let duration = Date().timeIntervalSince(started)
        var outcomes: [String] = []
        for (round, fraction) in [0, 0.3, 0.6, 0.8, 0.9, 0.95, 1.0, 1.05, 1.3].enumerated() {
            #expect(try lab.portctl("apply", "--policy", oldPath).status == 0)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = ["netns", "exec", lab.server, NetLab.portctlPath, "apply", "--policy", newPath]
            process.environment = ProcessInfo.processInfo.environment.merging(lab.environment) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(duration * 1_000_000 * fraction))
            // `ip netns exec` execs portctl in place, so this PID is portctl itself.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let isOld = try lab.kernelMatchesPolicy(oldPath)
            let isNew = try lab.kernelMatchesPolicy(newPath)
            #expect(isOld != isNew, "round \(round): the table must be exactly the old or exactly the new one")
            outcomes.append(isOld ? "old" : (isNew ? "new" : "mixed"))
        }
        #expect(!outcomes.contains("mixed"), "\(outcomes)")
        print("kill -9 during a \(Int(duration * 1000)) ms apply, per round: \(outcomes)")

        // The policy file too: a kill during `open` on a large file leaves it old or new, valid.
        try PolicyFile.encode(new).write(toFile: lab.policyPath, atomically: true, encoding: .utf8)
        for round in 0..<6 {
            let before = try PolicyFile.decode(lab.policyBytes())
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = ["netns", "exec", lab.server, NetLab.portctlPath, "open", String(3000 + round)]
            process.environment = ProcessInfo.processInfo.environment.merging(lab.environment) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(100_000 * round))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let after = try PolicyFile.decode(lab.policyBytes())
            #expect(after == before || after.rules.count == before.rules.count + 1, "round \(round)")
        }
    }

    @Test func withoutNetAdminKernelCommandsExit77() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        // The normal case: root's state folder, mode 0700, which nobody cannot even enter. The
        // privilege is checked before the lock is taken.
        let env = lab.environment
        let state = try #require(env["PORTCTL_STATE_DIR"])
        #expect((try FileManager.default.attributesOfItem(atPath: state)[.posixPermissions] as? Int) == 0o700)
        // The policy file must be readable to nobody (it is 0644 in a 0755 folder).
        chmod(lab.directory.path, 0o755)
        let kernel = try lab.ruleset()
        for arguments in [["open", "27"], ["close", "26"], ["deny", "23"], ["reject", "25"], ["remove", "allow-tcp-26"],
                          ["apply"], ["disable"], ["plan"], ["rollback"], ["confirm"]] {
            let outcome = try run(["ip", "netns", "exec", lab.server, "setpriv", "--reuid=65534", "--regid=65534",
                                   "--clear-groups", "--inh-caps=-all", NetLab.portctlPath] + arguments, environment: env)
            #expect(outcome.status == 77, "\(arguments): \(outcome)")
            #expect(outcome.stderr.contains("root or CAP_NET_ADMIN"), "\(arguments): \(outcome)")
            #expect(outcome.stderr.split(separator: "\n").count == 1, "\(arguments): \(outcome.stderr)")
        }
        // What needs no privilege works without the state folder: a dry run shows the full table,
        // and a plan against a saved listing reads nothing of the machine's but the policy file.
        let nobody = ["ip", "netns", "exec", lab.server, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                      "--inh-caps=-all", NetLab.portctlPath]
        let dry = try run(nobody + ["open", "27", "--dry-run"], environment: env)
        #expect(dry.status == 2 && dry.stdout.contains("cannot be read without root"), "\(dry)")
        let listing = lab.directory.appendingPathComponent("listing.json").path
        try Data(try lab.nft("-j", "list", "table", "inet", "portctl").stdout.utf8).write(to: URL(fileURLWithPath: listing))
        chmod(listing, 0o644)
        let offline = try run(nobody + ["plan", "--live", listing], environment: env)
        #expect(offline.status == 0, "\(offline)")
        #expect(try lab.ruleset() == kernel)
    }

    @Test func policyFileWritableByOthersIsRefused() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        let kernel = try lab.ruleset()
        chmod(lab.policyPath, 0o666)
        let refused = try lab.portctl("apply")
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr.contains(lab.policyPath) && refused.stderr.contains("chmod"), "\(refused)")
        #expect(try lab.portctl("open", "27").status == 1)
        #expect(try lab.ruleset() == kernel)
        chmod(lab.policyPath, 0o644)
        chown(lab.policyPath, 65534, 65534)
        #expect(try lab.portctl("apply").status == 1)
        chown(lab.policyPath, 0, 0)
        #expect(try lab.portctl("apply").status == 0)
    }

    @Test func stateFolderWritableByOthersIsRefused() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        let kernel = try lab.ruleset(), file = lab.policyBytes()
        let state = try #require(lab.environment["PORTCTL_STATE_DIR"])
        chmod(state, 0o777)
        let refused = try lab.portctl("open", "27")
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr.contains("state folder \(state)") && refused.stderr.contains("chmod 700"), "\(refused)")
        #expect(try lab.ruleset() == kernel && lab.policyBytes() == file)
        chmod(state, 0o700)
        #expect(try lab.portctl("open", "27").status == 0)
    }

    /// The generation cache lets `plan` skip listing the kernel, so it is believed only when
    /// root alone could have written it. A forged one is believed when root-only (the trust
    /// model), and ignored once others could have written it.
    @Test func aCacheOthersCouldWriteIsNotBelieved() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        let cachePath = try #require(lab.environment["PORTCTL_STATE_DIR"]) + "/live-cache.json"
        var cache = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cachePath))) as? [String: Any])
        let generation = try #require(cache["generation"] as? Int)
        // Drift by hand: one commit, so the kernel's generation is now the next one.
        #expect(try lab.nft("add", "element", "inet", "portctl", "allow-tcp-26-v4", "{ 203.0.113.0/24 }").status == 0)
        cache["generation"] = generation + 1
        try JSONSerialization.data(withJSONObject: cache).write(to: URL(fileURLWithPath: cachePath))
        chmod(cachePath, 0o644)
        #expect(try lab.portctl("plan").status == 0, "a root-only cache is believed: that is what it is for")
        chmod(cachePath, 0o666)
        let plan = try lab.portctl("plan")
        #expect(plan.status == 2 && plan.stdout.contains("203.0.113.0/24"), "a cache others could write is ignored: \(plan)")
    }
}
