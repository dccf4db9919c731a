import Foundation
import PortPolicy
import Testing

/// The real fail2ban (Debian's package) in the server's namespace, with its own configuration,
/// socket and database in the lab's folder and portctl's action from Examples/fail2ban: failed
/// SMTP logins in a log get the client banned on every port, and unbanip lets it back.
@Suite(.serialized, .enabled(if: KernelLab.available && Fail2banLab.installed, Comment(rawValue: Fail2banLab.reason)))
struct Fail2banTests {
    @Test func failedLoginsGetTheClientBannedAndUnbanipLetsItBack() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(22, 26)
        #expect(try lab.portctl("open", "26").status == 0)
        let fail2ban = try Fail2banLab(lab)
        defer { fail2ban.stop() }

        let log = fail2ban.root.appendingPathComponent("mail-relay.log")
        // Lines of now, in local time as a mail server writes them (fail2ban ignores old ones).
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        formatter.timeZone = TimeZone.current
        var lines = ""
        for _ in 0..<6 { lines += "\(formatter.string(from: Date())) smtp-relay[12]: auth failed for user bob from \(NetLab.clientB4)\n" }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        handle.write(Data(lines.utf8))
        try handle.close()

        // Within seconds the jail bans 203.0.113.2 through portctl (bounded wait).
        let deadline = Date().addingTimeInterval(20)
        while !(try lab.portctl("bans").stdout.contains(NetLab.clientB4)) && Date() < deadline { usleep(300_000) }
        let bans = try lab.portctl("bans")
        #expect(bans.stdout.contains(NetLab.clientB4) && bans.stdout.contains("f2b-portctl-smtp"), "\(bans)\n\(fail2ban.log)")
        for port in [26, 22] {
            #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: port, timeout: 0.5) == .timedOut, "port \(port)")
        }
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)

        let unban = try fail2ban.client("set", "portctl-smtp", "unbanip", NetLab.clientB4)
        #expect(unban.status == 0, "\(unban)")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        #expect(!(try lab.portctl("bans").stdout.contains(NetLab.clientB4)))
    }
}

/// fail2ban-server in the lab's server namespace, all its files in the lab's folder.
final class Fail2banLab {
    static var installed: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/fail2ban-server") }
    static let reason = "the fail2ban test needs fail2ban (scripts/install-deps), and root"
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Examples/fail2ban")

    let lab: NetLab
    let root: URL
    private var server: Process?
    /// The extracted package whose portctl the action runs, when the package is built.
    private(set) var package: PackageLab?
    var socket: String { root.appendingPathComponent("f2b.sock").path }
    var log: String { String(decoding: FileManager.default.contents(atPath: root.appendingPathComponent("f2b.log").path) ?? Data(), as: UTF8.self) }

    init(_ lab: NetLab) throws {
        self.lab = lab
        root = lab.directory.appendingPathComponent("f2b")
        let conf = root.appendingPathComponent("conf")
        for folder in ["action.d", "filter.d", "jail.d"] {
            try FileManager.default.createDirectory(at: conf.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(at: Self.examples.appendingPathComponent("action.d/portctl.conf"), to: conf.appendingPathComponent("action.d/portctl.conf"))
        try FileManager.default.copyItem(at: Self.examples.appendingPathComponent("filter.d/portctl-smtp-auth.conf"),
                                         to: conf.appendingPathComponent("filter.d/portctl-smtp-auth.conf"))
        _ = FileManager.default.createFile(atPath: root.appendingPathComponent("mail-relay.log").path, contents: nil)
        try Data("""
        [Definition]
        loglevel = INFO
        logtarget = \(root.appendingPathComponent("f2b.log").path)
        socket = \(socket)
        pidfile = \(root.appendingPathComponent("f2b.pid").path)
        dbfile = \(root.appendingPathComponent("f2b.sqlite3").path)

        """.utf8).write(to: conf.appendingPathComponent("fail2ban.conf"))
        // The example jail, with this lab's log and a polling backend; the example action as it is,
        // finding `portctl` on fail2ban's PATH: the packaged binary when the package is built,
        // else the built one.
        let bin = root.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let package = PackageLab.found ? try PackageLab() : nil
        self.package = package
        try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent("portctl").path,
                                                   withDestinationPath: package?.binary ?? NetLab.portctlPath)
        try Data("""
        [DEFAULT]
        backend = polling
        usedns = no
        ignoreip =
        bantime = 600
        findtime = 600
        maxretry = 5

        [portctl-smtp]
        enabled = true
        port = 26
        filter = portctl-smtp-auth
        logpath = \(root.appendingPathComponent("mail-relay.log").path)
        maxretry = 5
        banaction = portctl
        action = %(banaction)s

        """.utf8).write(to: conf.appendingPathComponent("jail.conf"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        var environment = ProcessInfo.processInfo.environment
        environment.merge(lab.environment) { $1 }
        environment.removeValue(forKey: "SSH_CONNECTION")
        environment["PATH"] = bin.path + ":" + PackageLab.systemPath
        process.environment = environment
        process.arguments = ["netns", "exec", lab.server, "/usr/bin/fail2ban-server", "-f", "-x", "-c", conf.path, "-s", socket,
                             "-p", root.appendingPathComponent("f2b.pid").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        server = process
        let deadline = Date().addingTimeInterval(20)
        while (try? client("ping"))?.status != 0 {
            guard Date() < deadline, process.isRunning else {
                stop()
                throw LabError(message: "fail2ban-server did not start: \(log.suffix(2000))")
            }
            usleep(300_000)
        }
    }

    func client(_ arguments: String...) throws -> Outcome {
        try run(["ip", "netns", "exec", lab.server, "/usr/bin/fail2ban-client", "-s", socket] + arguments)
    }

    /// Stops the server (politely, then by PID); safe to call twice.
    func stop() {
        guard let server else { return }
        _ = try? client("stop")
        let deadline = Date().addingTimeInterval(10)
        while server.isRunning && Date() < deadline { usleep(100_000) }
        if server.isRunning { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        self.server = nil
        package?.cleanup()
    }
}
