import Foundation
import PortPolicy
import Testing

/// Real rootful Podman (Debian's podman: netavark with iptables-nft) inside the server namespace:
/// it publishes a container's port with a DNAT in `table ip nat`, as Docker does, and portctl's
/// policy must govern it the same way.
/// See ../shared/notes/podman-in-a-namespace.md for how Podman runs in a namespace.
@Suite(.serialized, .enabled(if: KernelLab.available && PodmanLab.installed, Comment(rawValue: PodmanLab.reason)))
struct PodmanTests {
    @Test func thePolicyGovernsAContainersPublishedPort() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        let podman = try PodmanLab(lab)
        defer { podman.stop() }
        try podman.runWebContainer(publishing: 8080)
        let nat = try lab.nft("list", "table", "ip", "nat").stdout
        #expect(nat.contains("chain NETAVARK-DN-") && nat.contains(/tcp dport 8080 counter packets \d+ bytes \d+ dnat to 192.0.2.2:80/),
                "netavark publishes with a DNAT: \(nat)")

        try podman.checkThePolicyGovernsThePublishedPort()

        podman.stop()
        #expect(podman.leftovers().isEmpty, "\(podman.leftovers())")
    }
}

/// Rootful Podman with its own storage under the lab's folder, run in the lab's server namespace
/// inside a private mount namespace (tmpfs over /run and /dev/shm) that a holder process keeps
/// alive between `podman` commands. Its containers' cgroups hang below a cgroup named after the
/// lab, so cleaning up removes only what this test made.
final class PodmanLab: PublishingRuntime {
    static var installed: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/podman") && FileManager.default.isExecutableFile(atPath: "/usr/bin/nsenter")
            && BusyboxImage.installed
    }
    static let reason = "Podman tests need podman and busybox-static (scripts/install-deps), and root"
    /// `podman import` writes a blob cache here whatever `--root` says (no option moves it).
    static let sharedCache = "/var/lib/containers"

    let name = "Podman"
    let lab: NetLab
    let root: URL
    /// Below every cgroup hierarchy's root: the parent of this lab's containers and their conmon.
    let cgroup: String
    let network: String
    private var holder: Process?
    private let cacheBefore: Set<String>?

    init(_ lab: NetLab) throws {
        self.lab = lab
        root = lab.directory.appendingPathComponent("p")
        cgroup = String(lab.server.dropLast()) + "podman"
        network = String(lab.server.dropLast()) + "net"
        cacheBefore = Self.paths(under: Self.sharedCache)
        for folder in ["storage", "run", "libpod", "networks", "tmp"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        // Not `ip netns exec`: its private /sys hides the cgroup mounts the runtime needs.
        // nsenter, unshare and sh each exec the next: the holder's PID is the sleep's.
        holder.arguments = ["--net=/run/netns/\(lab.server)", "unshare", "-m", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /dev/shm && echo ready && exec sleep 900"]
        let out = Pipe()
        holder.standardOutput = out
        try holder.run()
        self.holder = holder
        // "ready", or end of file when the shell failed.
        let ready = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        guard ready.hasPrefix("ready") else {
            stop()
            throw LabError(message: "the mount namespace for Podman could not be made")
        }
    }

    @discardableResult
    func podman(_ arguments: String...) throws -> Outcome {
        try podman(arguments)
    }

    @discardableResult
    func podman(_ arguments: [String]) throws -> Outcome {
        let outcome = try podmanOutcome(arguments)
        if outcome.status != 0 { throw LabError(message: "podman \(arguments.joined(separator: " ")): \(outcome)") }
        return outcome
    }

    private func podmanOutcome(_ arguments: [String]) throws -> Outcome {
        guard let holder, holder.isRunning else { throw LabError(message: "Podman's mount namespace is gone") }
        let folder = { (name: String) in self.root.appendingPathComponent(name).path }
        // Foundation's Process learns that a child ended when the child's end of a socket pair
        // closes; `podman run` hands every inherited descriptor on to conmon, which outlives it,
        // so `run` would wait for the container. bash closes them all before podman starts.
        let closeInherited = #"for path in /proc/$$/fd/*; do fd=${path##*/}; if [ "$fd" -gt 2 ] && [ -e "$path" ]; then eval "exec $fd>&-"; fi; done; exec "$@""#
        return try run(["bash", "-c", closeInherited, "podman",
                        "nsenter", "--target", String(holder.processIdentifier), "--mount", "--net", "podman",
                        "--root", folder("storage"), "--runroot", folder("run"), "--tmpdir", folder("libpod"),
                        "--storage-driver", "vfs", "--network-config-dir", folder("networks"),
                        "--events-backend", "none", "--cgroup-manager", "cgroupfs"] + arguments,
                       environment: ["TMPDIR": folder("tmp")])
    }

    /// An image from busybox-static (no registry), a network in a documentation range and a
    /// container serving HTTP on port 80, published on this host's `port`.
    func runWebContainer(publishing port: Int) throws {
        try podman("import", BusyboxImage.tarball(in: root), "bb:1")
        try podman("network", "create", "--disable-dns", "--subnet", "192.0.2.0/24", network)
        // This machine lacks CAP_SYS_RESOURCE: runc cannot raise the default limits.
        try podman(["run", "-d", "--name", "web", "--network", network, "--cgroup-parent", "/" + cgroup,
                    "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "-p", "\(port):80", "bb:1"] + BusyboxImage.webServer)
        try lab.waitUntilServing(port: port)
    }

    func restartWebContainer() throws {
        // httpd as PID 1 ignores SIGTERM: without -t 0 the restart waits 10 s before SIGKILL.
        try podman("restart", "-t", "0", "web")
        try lab.waitUntilServing()
    }

    /// Removes the container and the network, ends the processes left in this lab's cgroups and
    /// the holder (by PID), removes the cgroups, the storage and what `podman import` added to
    /// the shared cache. Safe to call twice.
    func stop() {
        if holder?.isRunning == true {
            _ = try? podmanOutcome(["rm", "-f", "-t", "0", "web"])
            _ = try? podmanOutcome(["network", "rm", "-f", network])
        }
        let groups = cgroupDirectories()
        for group in groups {
            for pid in (try? String(contentsOfFile: group + "/cgroup.procs", encoding: .utf8))?.split(separator: "\n").compactMap({ Int32($0) }) ?? [] {
                kill(pid, SIGKILL)
            }
        }
        let deadline = Date().addingTimeInterval(10)
        for group in groups {
            while rmdir(group) != 0 && errno == EBUSY && Date() < deadline { usleep(50_000) }
        }
        if let holder, holder.isRunning {
            kill(holder.processIdentifier, SIGKILL)
            holder.waitUntilExit()
        }
        holder = nil
        lab.unmountAll(under: root)
        try? FileManager.default.removeItem(at: root)
        if let cacheBefore {
            let added = (Self.paths(under: Self.sharedCache) ?? []).subtracting(cacheBefore)
            for path in added.sorted(by: { $0.count > $1.count }) { try? FileManager.default.removeItem(atPath: path) }
        } else {
            try? FileManager.default.removeItem(atPath: Self.sharedCache)
        }
    }

    /// What this lab made that is still there: cgroups, the holder, the storage, cache entries.
    func leftovers() -> [String] {
        var left = cgroupDirectories()
        if let holder, holder.isRunning { left.append("holder \(holder.processIdentifier)") }
        if FileManager.default.fileExists(atPath: root.path) { left.append(root.path) }
        switch (cacheBefore, Self.paths(under: Self.sharedCache)) {
        case (nil, .some): left.append(Self.sharedCache)
        case let (before?, now?): left += now.subtracting(before).sorted()
        default: break
        }
        return left
    }

    /// This lab's cgroup and those below it, in every mounted hierarchy, deepest first.
    private func cgroupDirectories() -> [String] {
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        let hierarchies = mounts.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            return fields.count > 2 && (fields[2] == "cgroup" || fields[2] == "cgroup2") ? String(fields[1]) : nil
        }
        var found: [String] = []
        for hierarchy in hierarchies {
            let top = hierarchy + "/" + cgroup
            guard FileManager.default.fileExists(atPath: top) else { continue }
            found.append(top)
            let below = (try? FileManager.default.subpathsOfDirectory(atPath: top)) ?? []
            for path in below {
                var directory: ObjCBool = false
                if FileManager.default.fileExists(atPath: top + "/" + path, isDirectory: &directory), directory.boolValue {
                    found.append(top + "/" + path)
                }
            }
        }
        return found.sorted { $0.count > $1.count }
    }

    /// Every path below `folder`, or nil when it does not exist.
    private static func paths(under folder: String) -> Set<String>? {
        guard FileManager.default.fileExists(atPath: folder) else { return nil }
        return Set(((try? FileManager.default.subpathsOfDirectory(atPath: folder)) ?? []).map { folder + "/" + $0 })
    }
}
