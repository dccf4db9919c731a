import Foundation
import PortPolicy
import Testing

/// Real Docker (Debian's docker.io) inside the server namespace: a container's published port is
/// DNATed in prerouting and never reaches the input hook. ufw and firewalld say "denied" while
/// the world gets in; portctl's policy must hold for it as for a local listener.
/// See ../shared/notes/docker-in-a-namespace.md for how dockerd runs in a namespace.
@Suite(.serialized, .enabled(if: KernelLab.available && DockerLab.installed, Comment(rawValue: DockerLab.reason)))
struct DockerTests {
    @Test func thePolicyGovernsAContainersPublishedPort() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        let docker = try DockerLab(lab)
        defer { docker.stop() }
        try docker.runWebContainer(publishing: 8080)

        func reach() throws -> [Connection] {
            try lab.connectAll([NetLab.Probe(from: lab.clientA, to: NetLab.serverA4, port: 8080),
                                NetLab.Probe(from: lab.clientB, to: NetLab.serverB4, port: 8080)], timeout: 1)
        }
        #expect(try reach() == [.connected, .connected], "before portctl, Docker publishes to everyone")
        let theirs = try docker.tables()

        func portctl(_ arguments: String...) throws -> Outcome {
            let outcome = try lab.portctl(arguments)
            #expect(try docker.tables() == theirs, "Docker's tables are unchanged after portctl \(arguments)")
            return outcome
        }
        let first = try portctl("open", "22")
        #expect(first.status == 0, "\(first)")
        #expect(first.stderr.contains("published port 8080/tcp (DNAT to 192.0.2.2:80"), "\(first)")
        #expect(try reach() == [.timedOut, .timedOut], "inbound drop covers the container's port")

        #expect(try portctl("open", "8080", "--from", "198.51.100.0/24").status == 0)
        #expect(try reach() == [.connected, .timedOut])
        #expect(try portctl("deny", "8080", "--from", NetLab.clientA4).status == 0)
        #expect(try reach() == [.timedOut, .timedOut], "the deny wins")
        #expect(try portctl("remove", "deny-tcp-8080").status == 0)
        #expect(try reach() == [.connected, .timedOut])

        // The counters see forwarded connections.
        let before = try packets(lab, "allow-tcp-8080")
        for _ in 0..<3 { #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 8080) == .connected) }
        #expect(try packets(lab, "allow-tcp-8080") >= before + 3)

        let audit = try portctl("audit", "--json")
        #expect(audit.stdout.contains("\"kind\" : \"published\"") && audit.stdout.contains("\"target\" : \"192.0.2.2:80\""), "\(audit)")

        // The container restarts (Docker rewrites its rules): the policy still holds.
        try docker.docker("restart", "web")
        try docker.waitUntilServing(from: lab.clientA)
        #expect(try reach() == [.connected, .timedOut])
        let restarted = try docker.tables()

        #expect(try lab.portctl("default", "published", "accept").status == 0)
        #expect(try reach() == [.connected, .connected], "left to Docker again")
        #expect(try lab.portctl("default", "published", "filter").status == 0)
        #expect(try reach() == [.connected, .timedOut])
        #expect(try lab.portctl("disable").status == 0)
        #expect(try reach() == [.connected, .connected], "portctl gone: Docker's own behaviour")
        #expect(try docker.tables() == restarted)
    }

    func packets(_ lab: NetLab, _ counter: String) throws -> Int {
        let json = try lab.portctl("status", "--json").stdout
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let rules = object?["rules"] as? [[String: Any]] ?? []
        return rules.first { $0["id"] as? String == counter }?["packets"] as? Int ?? -1
    }
}

/// dockerd with all its state in the lab's folder, in the lab's server namespace.
final class DockerLab {
    static var installed: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/sbin/dockerd") && FileManager.default.isExecutableFile(atPath: "/bin/busybox")
    }
    static let reason = "Docker tests need docker.io and busybox-static (scripts/install-deps), and root"

    let lab: NetLab
    let root: URL
    var socket: String { "unix://" + root.appendingPathComponent("docker.sock").path }
    private var daemon: Process?

    init(_ lab: NetLab) throws {
        self.lab = lab
        root = lab.directory.appendingPathComponent("d")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        // Not `ip netns exec`: its private /sys hides the cgroup mounts and dockerd dies.
        daemon.arguments = ["--net=/var/run/netns/\(lab.server)", "dockerd",
                            "--data-root", root.appendingPathComponent("data").path,
                            "--exec-root", root.appendingPathComponent("exec").path,
                            "--pidfile", root.appendingPathComponent("docker.pid").path,
                            "-H", socket, "--ip6tables=false", "--bip", "192.0.2.1/24"]
        let log = try FileHandle(forWritingTo: {
            let url = root.appendingPathComponent("dockerd.log")
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            return url
        }())
        daemon.standardOutput = log
        daemon.standardError = log
        try daemon.run()
        self.daemon = daemon
        do {
            let deadline = Date().addingTimeInterval(60)
            while try run(["/usr/bin/docker", "-H", socket, "version"]).status != 0 {
                guard Date() < deadline, daemon.isRunning else {
                    throw LabError(message: "dockerd did not start: \(String(decoding: FileManager.default.contents(atPath: root.appendingPathComponent("dockerd.log").path) ?? Data(), as: UTF8.self).suffix(2000))")
                }
                usleep(300_000)
            }
        } catch {
            stop()
            throw error
        }
    }

    @discardableResult
    func docker(_ arguments: String...) throws -> Outcome {
        let outcome = try run(["/usr/bin/docker", "-H", socket] + arguments)
        if outcome.status != 0 { throw LabError(message: "docker \(arguments.joined(separator: " ")): \(outcome)") }
        return outcome
    }

    /// An image from busybox-static (no registry), and a container serving HTTP on port 80,
    /// published on this host's `port`.
    func runWebContainer(publishing port: Int) throws {
        let rootfs = root.appendingPathComponent("rootfs")
        try FileManager.default.createDirectory(at: rootfs.appendingPathComponent("bin"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: rootfs.appendingPathComponent("www"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: rootfs.appendingPathComponent("bin/busybox").path)
        try Data("hello\n".utf8).write(to: rootfs.appendingPathComponent("www/index.html"))
        let imported = try run(["sh", "-c", "tar -C \"$0\" -c . | /usr/bin/docker -H \"$1\" import - bb:1", rootfs.path, socket])
        if imported.status != 0 { throw LabError(message: "docker import: \(imported)") }
        try docker("run", "-d", "--name", "web", "-p", "\(port):80", "bb:1", "/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www")
        try waitUntilServing(from: lab.clientA)
    }

    /// Waits (bounded) until the container answers through its published port.
    func waitUntilServing(from client: String) throws {
        let deadline = Date().addingTimeInterval(20)
        while try lab.connect(from: client, to: NetLab.serverA4, port: 8080, timeout: 0.5) != .connected {
            guard Date() < deadline else { throw LabError(message: "the container did not answer on 8080") }
            usleep(200_000)
        }
    }

    /// Docker's tables (everything but portctl's), with counter values stripped.
    func tables() throws -> String {
        let listing = try lab.nft("list", "ruleset").stdout
        var kept: [Substring] = []
        var inPortctl = false
        for line in listing.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("table ") { inPortctl = line.hasPrefix("table inet portctl ") }
            if !inPortctl { kept.append(line) }
            if line == "}" { inPortctl = false }
        }
        return kept.joined(separator: "\n").replacingOccurrences(of: #"counter packets \d+ bytes \d+"#, with: "counter", options: .regularExpression)
    }

    /// Removes the container, stops dockerd (and its containerd), unmounts anything left under
    /// the lab's folder. Safe to call twice.
    func stop() {
        _ = try? run(["/usr/bin/docker", "-H", socket, "rm", "-f", "web"])
        if let daemon, daemon.isRunning {
            kill(daemon.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(20)
            while daemon.isRunning && Date() < deadline { usleep(100_000) }
            if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL); daemon.waitUntilExit() }
        }
        daemon = nil
        // Processes dockerd left in the namespace (containerd, shims) are ended by the lab's
        // cleanup; mounts under the lab's folder go here, deepest first.
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        let ours = mounts.split(separator: "\n").compactMap { $0.split(separator: " ").dropFirst().first.map(String.init) }
            .filter { $0.hasPrefix(root.path) }.sorted { $0.count > $1.count }
        for path in ours { _ = try? run(["umount", "-l", path]) }
    }
}
