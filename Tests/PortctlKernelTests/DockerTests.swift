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
        try docker.checkThePolicyGovernsThePublishedPort()
    }
}

/// dockerd with all its state in the lab's folder, in the lab's server namespace.
final class DockerLab: PublishingRuntime {
    let name = "Docker"
    static var installed: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/sbin/dockerd") && BusyboxImage.installed
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
        try docker(arguments)
    }

    @discardableResult
    func docker(_ arguments: [String]) throws -> Outcome {
        let outcome = try run(["/usr/bin/docker", "-H", socket] + arguments)
        if outcome.status != 0 { throw LabError(message: "docker \(arguments.joined(separator: " ")): \(outcome)") }
        return outcome
    }

    /// An image from busybox-static (no registry), and a container serving HTTP on port 80,
    /// published on this host's `port`.
    func runWebContainer(publishing port: Int) throws {
        try docker("import", BusyboxImage.tarball(in: root), "bb:1")
        try docker(["run", "-d", "--name", "web", "-p", "\(port):80", "bb:1"] + BusyboxImage.webServer)
        try lab.waitUntilServing(port: port)
    }

    func restartWebContainer() throws {
        // httpd as PID 1 ignores SIGTERM: without -t 0 the restart waits 10 s before SIGKILL.
        try docker("restart", "-t", "0", "web")
        try lab.waitUntilServing()
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
        // cleanup; mounts under the lab's folder go here.
        lab.unmountAll(under: root)
    }
}
