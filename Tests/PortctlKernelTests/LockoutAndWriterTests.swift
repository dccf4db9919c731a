import Foundation
import PortPolicy
import Testing

/// The third review's ways into the host: writers that replaced devices, a forward that sent the
/// admin's login elsewhere, an option silently dropped, and a damaged history hidden.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct LockoutAndWriterTests {
    let ssh = ["SSH_CONNECTION": "\(NetLab.clientA4) 50000 \(NetLab.serverA4) 22"]

    /// What lies at a path, in words (`lstat`), or nil when nothing is there.
    static func kind(_ path: String) -> mode_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : nil
    }

    @Test func writersReplaceOnlyRegularFiles() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        // Every kind of thing that is not a regular file, made in the lab's own folder: a device
        // node (the machine's /dev/null's numbers), a FIFO, a socket and a folder.
        let folder = lab.directory.appendingPathComponent("out").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        #expect(mknod(folder + "/null", S_IFCHR | 0o600, dev_t(1 << 8 | 3)) == 0)  // makedev(1, 3)
        #expect(mkfifo(folder + "/fifo", 0o600) == 0)
        let socket = try run(["python3", "-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", folder + "/socket"])
        #expect(socket.status == 0, "\(socket)")
        try FileManager.default.createDirectory(atPath: folder + "/folder", withIntermediateDirectories: false)
        for (name, type) in [("null", S_IFCHR), ("fifo", S_IFIFO), ("socket", S_IFSOCK), ("folder", S_IFDIR)] {
            let path = folder + "/" + name
            let refused = try lab.portctl("plan", "-o", path)
            #expect(refused.status == 64 && refused.stderr.contains("refusing to write \(path)"), "\(name): \(refused)")
            #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused)")
            #expect(Self.kind(path) == type, "\(name) was replaced")
            // The metrics textfile collector's file, likewise.
            let metricsFolder = lab.directory.appendingPathComponent("metrics-\(name)").path
            try FileManager.default.createDirectory(atPath: metricsFolder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
            #expect(rename(path, metricsFolder + "/portctl.prom") == 0)
            let metrics = try lab.portctl("metrics", "--textfile", metricsFolder)
            #expect(metrics.status != 0 && Self.kind(metricsFolder + "/portctl.prom") == type, "\(name): \(metrics)")
        }
        // `-o -`: the saved plan on standard output, a regular file still written as before.
        let standard = try lab.portctl("plan", "-o", "-")
        #expect(standard.status == 0 && standard.stdout.contains("\"digest\""), "\(standard)")
        let file = folder + "/change.plan"
        #expect(try lab.portctl("plan", "-o", file).status == 0)
        #expect(Self.kind(file) == S_IFREG)
    }

    @Test func forwardingTheSSHPortAwayIsALockout() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        let kernel = try lab.ruleset()
        let file = lab.policyBytes()
        for arguments in [["forward", "22", "--to", "203.0.113.2"], ["forward", "22", "--to", "203.0.113.2:2222", "--from", "198.51.100.0/24"],
                          ["forward", "20-30", "--to", "203.0.113.2"]] {
            let refused = try lab.portctl(arguments, extraEnvironment: ssh)
            #expect(refused.status == 1 && refused.stderr.contains("refusing: this change would block new SSH logins")
                    && refused.stderr.contains("forward it to 203.0.113.2"), "\(arguments): \(refused)")
            let dry = try lab.portctl(arguments + ["--dry-run"], extraEnvironment: ssh)
            #expect(dry.status == 1, "\(dry)")
        }
        #expect(try lab.ruleset() == kernel && lab.policyBytes() == file)
        // A forward for other sources leaves the admin's login alone; --force overrides.
        #expect(try lab.portctl(["forward", "22", "--to", "203.0.113.2", "--from", "203.0.113.0/24"], extraEnvironment: ssh).status == 0)
        #expect(try lab.portctl(["forward", "22", "--to", "203.0.113.3", "--force"], extraEnvironment: ssh).status == 0)
        #expect(try lab.kernelMatchesPolicy())
    }

    @Test func anOptionThatDoesNotApplyIsAUsageError() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        let kernel = try lab.ruleset()
        let file = lab.policyBytes()
        for command in ["open", "deny", "reject"] {
            let refused = try lab.portctl(command, "26", "--out-interface", "eth0")
            #expect(refused.status == 64 && refused.stderr.contains("--out-interface \"eth0\" applies only to outbound rules (--out) and to traffic this host routes (--routed)"), "\(refused)")
        }
        #expect(try lab.ruleset() == kernel && lab.policyBytes() == file)
        // A comment is free text: it may start with a dash and a digit; a port may not.
        let comment = try lab.portctl("open", "27", "--comment", "-5 relays")
        #expect(comment.status == 0 && String(decoding: lab.policyBytes(), as: UTF8.self).contains("-5 relays"), "\(comment)")
        let negative = try lab.portctl("open", "-5")
        #expect(negative.status == 64 && negative.stderr.contains("invalid value \"-5\""), "\(negative)")
    }

    @Test func aDamagedHistoryStopsChangesAndRollbacks() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        for port in ["26", "27", "28"] { #expect(try lab.portctl("open", port).status == 0) }
        let entry = lab.directory.appendingPathComponent("state/history/00000002.json").path
        let whole = try Data(contentsOf: URL(fileURLWithPath: entry))
        try whole.prefix(30).write(to: URL(fileURLWithPath: entry))
        let kernel = try lab.ruleset()
        let file = lab.policyBytes()
        for arguments in [["open", "29"], ["rollback"], ["history"], ["close", "26"]] {
            let refused = try lab.portctl(arguments)
            #expect(refused.status == 65 && refused.stderr.contains(entry), "\(arguments): \(refused)")
        }
        #expect(try lab.ruleset() == kernel && lab.policyBytes() == file)
        // Put back, everything works, and the numbers carry on.
        try whole.write(to: URL(fileURLWithPath: entry))
        #expect(try lab.portctl("open", "29").status == 0)
        #expect(try lab.portctl("history").stdout.contains("#4 "))
    }
}
