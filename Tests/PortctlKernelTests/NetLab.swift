import Foundation
import PortPolicy
import PortctlDriver
import PortctlTestSupport
import Testing

/// The output of a finished command.
struct Outcome: CustomStringConvertible {
    let status: Int32
    let stdout: String
    let stderr: String

    var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// Runs a program to completion and captures its output.
@discardableResult
func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Outcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "SSH_CONNECTION")
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes while the process runs, so a large output cannot block it.
    nonisolated(unsafe) var errData = Data()
    let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
    reader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !reader.isFinished { usleep(1000) }
    return Outcome(status: process.terminationStatus,
                   stdout: String(decoding: outData, as: UTF8.self),
                   stderr: String(decoding: errData, as: UTF8.self))
}

/// Waits, bounded, until `condition` holds, asking again every `interval` seconds; whether it
/// did. For states a test can observe (a process gone, a kernel element expired, a connection
/// answered), never a fixed sleep in their place.
@discardableResult
func waitUntil(seconds: Double, every interval: Double = 0.1, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(UInt32(interval * 1_000_000))
    }
    return try condition()
}

/// Whether a process this test did not start (so cannot wait for) has ended: gone, or a zombie
/// its own parent has yet to reap.
func hasEnded(_ pid: Int32) -> Bool {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return true }
    return text[text.index(after: close)...].split(separator: " ").first == "Z"
}

/// Whether every difference the oracle found is a leftover of the rule `id` in the kernel: its
/// lines, set and counter, which the next change removes (an expired rule's, for one).
func onlyLeftovers(of id: String, _ differences: [RulesetOracle.Difference]) -> Bool {
    !differences.isEmpty && differences.allSatisfy { difference in
        difference.onlyRendered.isEmpty && difference.note == nil && difference.onlyInKernel.allSatisfy { $0.contains(id) }
    }
}

/// Where the built executables are: next to this test binary in the build folder.
let productsDirectory: URL = {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var directory = exe.deletingLastPathComponent()
    // On Linux the test binary is BUILD/portctlPackageTests.xctest; on other layouts walk up.
    for _ in 0..<3 where !FileManager.default.fileExists(atPath: directory.appendingPathComponent("portctl").path) {
        directory = directory.deletingLastPathComponent()
    }
    return directory
}()

/// Whether real-kernel tests can run here: root, `ip`, and the built binaries.
enum KernelLab {
    static var isRoot: Bool { geteuid() == 0 }
    static var available: Bool {
        isRoot && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
            && FileManager.default.isExecutableFile(atPath: productsDirectory.appendingPathComponent("portctl").path)
    }
    static let reason = "real-kernel tests need root (to make network namespaces), iproute2 and a built portctl; run them with sudo ./scripts/test"
    /// `PORTCTL_REQUIRE_KERNEL_LAB=1` (scripts/test, CI) makes a missing lab a failure, not a skip.
    static var required: Bool { ProcessInfo.processInfo.environment["PORTCTL_REQUIRE_KERNEL_LAB"] == "1" }
}

/// In CI the kernel tests must run: a lab that cannot be made fails the run instead of skipping
/// every test that proves behaviour.
@Test func theKernelLabIsHereWhenRequired() {
    if KernelLab.required {
        #expect(KernelLab.available, Comment(rawValue: KernelLab.reason))
        #expect(DockerLab.installed, Comment(rawValue: DockerLab.reason))
        #expect(PodmanLab.installed, Comment(rawValue: PodmanLab.reason))
        #expect(MonitoringLab.installed, Comment(rawValue: MonitoringLab.reason))
        #expect(Fail2banLab.installed, Comment(rawValue: Fail2banLab.reason))
    }
}

nonisolated(unsafe) private var labCounter = 0
private let labLock = NSLock()

/// Three network namespaces joined by veth pairs, made for one test and removed after it:
///
///     client-a 198.51.100.2, 2001:db8:1::2  <->  server 198.51.100.1, 2001:db8:1::1
///     client-b 203.0.113.2,  2001:db8:2::2  <->  server 203.0.113.1,  2001:db8:2::1
///
/// Firewall changes happen only in the server namespace; traffic only between these three.
final class NetLab {
    let server: String
    let clientA: String
    let clientB: String
    /// The server's end of the veth pair to client A (packets from A arrive on it), and to B.
    let interfaceA: String
    let interfaceB: String
    let directory: URL
    private var listeners: [Process] = []
    /// A fourth namespace behind the server (see ``addTarget()``), for DNAT and routing tests.
    let target: String
    /// An empty namespace where ``kernelDifference(_:)`` loads the rendered table; no traffic.
    let scratch: String
    private var scratchMade = false
    static let serverT4 = "192.0.2.1", target4 = "192.0.2.2"

    static let serverA4 = "198.51.100.1", clientA4 = "198.51.100.2"
    static let serverB4 = "203.0.113.1", clientB4 = "203.0.113.2"
    static let serverA6 = "2001:db8:1::1", clientA6 = "2001:db8:1::2"
    static let serverB6 = "2001:db8:2::1", clientB6 = "2001:db8:2::2"

    init(withClients: Bool = true) throws {
        let number = labLock.withLock { labCounter += 1; return labCounter }
        let tag = "pctl\(getpid() % 100000)x\(number)"
        server = tag + "s"
        clientA = tag + "a"
        clientB = tag + "b"
        target = tag + "t"
        scratch = tag + "o"
        interfaceA = tag + "sa"
        interfaceB = tag + "sb"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(tag)
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        do {
            for ns in withClients ? [server, clientA, clientB] : [server] {
                try check(run(["ip", "netns", "add", ns]))
                try check(run(["ip", "-n", ns, "link", "set", "lo", "up"]))
                // No duplicate address detection, for link-local addresses too: a tentative
                // link-local address delays neighbour discovery by a second.
                try check(run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                               "net.ipv6.conf.default.accept_dad=0"]))
            }
            // The kernel sends at most one ICMP error a second per peer by default: a burst of
            // UDP probes against a reject rule would see timeouts instead of port-unreachable.
            for key in ["net.ipv4.icmp_ratelimit", "net.ipv6.icmp.ratelimit"] {
                try check(run(["ip", "netns", "exec", server, "sysctl", "-qw", "\(key)=0"]))
            }
            if !withClients { return }
            try link(tag + "sa", tag + "as", client: clientA, server4: Self.serverA4, client4: Self.clientA4,
                     server6: Self.serverA6, client6: Self.clientA6)
            try link(tag + "sb", tag + "bs", client: clientB, server4: Self.serverB4, client4: Self.clientB4,
                     server6: Self.serverB6, client6: Self.clientB6)
            try waitUntilReachable()
        } catch {
            cleanup()
            throw error
        }
    }

    private func link(_ serverEnd: String, _ clientEnd: String, client: String, server4: String, client4: String,
                      server6: String, client6: String) throws {
        try check(run(["ip", "link", "add", serverEnd, "netns", server, "type", "veth", "peer", "name", clientEnd, "netns", client]))
        try check(run(["ip", "-n", server, "addr", "add", server4 + "/24", "dev", serverEnd]))
        try check(run(["ip", "-n", client, "addr", "add", client4 + "/24", "dev", clientEnd]))
        try check(run(["ip", "-n", server, "addr", "add", server6 + "/64", "dev", serverEnd, "nodad"]))
        try check(run(["ip", "-n", client, "addr", "add", client6 + "/64", "dev", clientEnd, "nodad"]))
        try check(run(["ip", "-n", server, "link", "set", serverEnd, "up"]))
        try check(run(["ip", "-n", client, "link", "set", clientEnd, "up"]))
    }

    /// Adds the target namespace behind the server (192.0.2.2, a documentation range, with the
    /// server at 192.0.2.1 as its default route) and turns forwarding on in the server: a host
    /// that DNATs to it, as Docker does to a container.
    func addTarget() throws {
        try check(run(["ip", "netns", "add", target]))
        try check(run(["ip", "-n", target, "link", "set", "lo", "up"]))
        let tag = String(server.dropLast())
        try check(run(["ip", "link", "add", tag + "st", "netns", server, "type", "veth", "peer", "name", tag + "ts", "netns", target]))
        try check(run(["ip", "-n", server, "addr", "add", Self.serverT4 + "/24", "dev", tag + "st"]))
        try check(run(["ip", "-n", target, "addr", "add", Self.target4 + "/24", "dev", tag + "ts"]))
        try check(run(["ip", "-n", server, "link", "set", tag + "st", "up"]))
        try check(run(["ip", "-n", target, "link", "set", tag + "ts", "up"]))
        try check(run(["ip", "-n", target, "route", "add", "default", "via", Self.serverT4]))
        try check(run(["ip", "netns", "exec", server, "sysctl", "-qw", "net.ipv4.ip_forward=1"]))
    }

    /// For about a second after a veth pair comes up, the first IPv6 exchange over it is lost
    /// (seen here: the first SYN is retransmitted after 1 s). Wait, bounded, until a connection
    /// to a closed port on each server address is refused at once, before any firewall.
    private func waitUntilReachable() throws {
        let peer = productsDirectory.appendingPathComponent("netpeer").path
        for (client, address) in [(clientA, Self.serverA4), (clientA, Self.serverA6), (clientB, Self.serverB4), (clientB, Self.serverB6)] {
            var ready = false
            for _ in 0..<30 where !ready {
                ready = try run(["ip", "netns", "exec", client, peer, "connect", address, "9", "--timeout", "0.2"]).status == 3
            }
            if !ready { throw LabError(message: "\(address) did not become reachable from \(client) within 6 s") }
        }
    }

    private func check(_ outcome: Outcome) throws {
        if outcome.status != 0 { throw LabError(message: outcome.description) }
    }

    /// Ends the listeners this lab started (by PID), and any process still running inside its
    /// namespaces (portctl's --confirm watchdogs, started by these tests), then removes the
    /// namespaces and files.
    func cleanup() {
        for listener in listeners where listener.isRunning {
            kill(listener.processIdentifier, SIGKILL)
            listener.waitUntilExit()
        }
        listeners = []
        for ns in [server, clientA, clientB, target] + (scratchMade ? [scratch] : []) {
            let pids = (try? run(["ip", "netns", "pids", ns]))?.stdout.split(separator: "\n").compactMap { Int32($0) } ?? []
            for pid in pids { kill(pid, SIGKILL) }
            _ = try? run(["ip", "netns", "del", ns])
        }
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { cleanup() }

    /// The environment that points portctl at this lab's policy file and state directory.
    var environment: [String: String] {
        ["PORTCTL_POLICY": directory.appendingPathComponent("policy.yaml").path,
         "PORTCTL_STATE_DIR": directory.appendingPathComponent("state").path]
    }

    /// Runs `portctl ARGS` in the server namespace.
    @discardableResult
    func portctl(_ arguments: String...) throws -> Outcome {
        try portctl(arguments)
    }

    /// Runs `portctl ARGS` in the server namespace with extra environment variables.
    @discardableResult
    func portctl(_ arguments: [String], extraEnvironment: [String: String] = [:]) throws -> Outcome {
        try run(["ip", "netns", "exec", server, Self.portctlPath] + arguments,
                environment: environment.merging(extraEnvironment) { $1 })
    }

    static var portctlPath: String { productsDirectory.appendingPathComponent("portctl").path }

    var policyPath: String { environment["PORTCTL_POLICY"]! }

    /// The policy file's bytes (empty when there is none).
    func policyBytes() -> Data { FileManager.default.contents(atPath: policyPath) ?? Data() }

    /// The server's whole ruleset with handles: any rewrite shows.
    func ruleset() throws -> String { try listing("-a", "list", "ruleset") }

    /// `nft ARGS`' listing in the server namespace without the drop record's elements: they are
    /// state the packet path adds and counts down by itself (`expires 9m58s`), so two listings
    /// of an unchanged table differ in them.
    func listing(_ arguments: String...) throws -> String {
        Self.withoutRecordedDrops(try run(["ip", "netns", "exec", server, "nft"] + arguments).stdout)
    }

    /// The listing text with the `elements = { ... }` of the sets `portctl-drops4/6` left out.
    static func withoutRecordedDrops(_ text: String) -> String {
        var out: [Substring] = []
        var inRecord = false, inElements = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.drop { $0 == "\t" || $0 == " " }
            if trimmed.hasPrefix("set portctl-drops") { inRecord = true }
            if inRecord && trimmed.hasPrefix("elements = {") { inElements = true }
            if inElements {
                if trimmed.hasSuffix("}") { inElements = false }
                continue
            }
            if inRecord && trimmed == "}" { inRecord = false }
            out.append(line)
        }
        return out.joined(separator: "\n")
    }

    /// Runs `nft ARGS` in the server namespace.
    @discardableResult
    func nft(_ arguments: String...) throws -> Outcome {
        try run(["ip", "netns", "exec", server, "nft"] + arguments)
    }

    /// Whether the kernel's table is the one the policy file renders, judged by
    /// ``RulesetOracle`` from nft's own listings (never portctl's cache or its reading of the
    /// kernel). The differences are written to standard error, for the failing test's log.
    func kernelMatchesPolicy(_ path: String? = nil) throws -> Bool {
        let found = try kernelDifferences(path)
        for difference in found { FileHandle.standardError.write(Data("kernelMatchesPolicy: \(difference)\n".utf8)) }
        return found.isEmpty
    }

    /// What differs between the kernel's table and `portctl render` of the policy file loaded
    /// with `nft -f` into a scratch namespace (made on first use, removed by ``cleanup()``).
    func kernelDifferences(_ path: String? = nil) throws -> [RulesetOracle.Difference] {
        let rendered = try run([Self.portctlPath, "render"], environment: ["PORTCTL_POLICY": path ?? policyPath])
        guard rendered.status == 0 else { throw LabError(message: "portctl render failed: \(rendered)") }
        guard let name = rendered.stdout.split(separator: "\n").first?.split(separator: " ").dropFirst(2).first else {
            throw LabError(message: "portctl render printed no table: \(rendered)")
        }
        if !scratchMade {
            try check(run(["ip", "netns", "add", scratch]))
            scratchMade = true
        }
        let file = directory.appendingPathComponent("oracle.nft")
        try ("flush ruleset\n" + rendered.stdout).write(to: file, atomically: true, encoding: .utf8)
        try check(run(["ip", "netns", "exec", scratch, "nft", "-f", file.path]))
        let fresh = try run(["ip", "netns", "exec", scratch, "nft", "-s", "list", "table", "inet", String(name)])
        try check(fresh)
        let applied = try run(["ip", "netns", "exec", server, "nft", "-s", "list", "table", "inet", String(name)])
        if applied.status != 0 {
            if applied.stderr.contains("No such file or directory") {
                return [RulesetOracle.Difference(object: "table inet \(name)", onlyInKernel: [], onlyRendered: ["table inet \(name)"])]
            }
            throw LabError(message: "nft list table failed: \(applied)")
        }
        return RulesetOracle.differences(applied: applied.stdout, rendered: fresh.stdout)
    }

    /// Starts a TCP listener on these ports in the server namespace (all addresses, both families).
    func listen(_ ports: Int...) throws {
        try listen(ports, in: server, udp: false)
    }

    /// Starts a UDP echo listener on these ports in the server namespace.
    func listenUDP(_ ports: Int...) throws {
        try listen(ports, in: server, udp: true)
    }

    /// Starts a listener in any of the lab's namespaces; with `address`, a TCP listener bound to
    /// that address only (`127.0.0.1`: reachable only from inside the namespace).
    func listen(_ ports: [Int], in namespace: String, udp: Bool, address: String? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        var arguments = ["netns", "exec", namespace, productsDirectory.appendingPathComponent("netpeer").path, "listen"]
        arguments += ports.map(String.init) + ["--seconds", "120"]
        if udp { arguments.append("--udp") }
        if let address { arguments += ["--address", address] }
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        listeners.append(process)
        // Wait for "listening" (bounded by the listener's own lifetime).
        _ = out.fileHandleForReading.availableData
    }

    /// What a TCP connection (or, with `udp`, a datagram and its echo) from a namespace of the
    /// lab to `host:port` does.
    func connect(from client: String, to host: String, port: Int, timeout: Double = 1.0, udp: Bool = false) throws -> Connection {
        let outcome = try run(["ip", "netns", "exec", client, productsDirectory.appendingPathComponent("netpeer").path,
                               "connect", host, String(port), "--timeout", String(timeout)] + (udp ? ["--udp"] : []))
        return try Connection(status: outcome.status, detail: outcome.description)
    }

    /// One connection attempt for ``connectAll(_:timeout:)``.
    struct Probe {
        var from: String
        var to: String
        var port: Int
        var udp = false
    }

    /// Runs the probes concurrently (a few at a time), so a grid of drops costs about one timeout
    /// per batch instead of one per probe. Results are in the probes' order.
    func connectAll(_ probes: [Probe], timeout: Double = 0.5) throws -> [Connection] {
        var results: [Connection] = []
        for start in stride(from: 0, to: probes.count, by: 16) {
            let batch = probes[start..<min(start + 16, probes.count)]
            let processes = try batch.map { probe -> Process in
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
                process.arguments = ["netns", "exec", probe.from, productsDirectory.appendingPathComponent("netpeer").path,
                                     "connect", probe.to, String(probe.port), "--timeout", String(timeout)] + (probe.udp ? ["--udp"] : [])
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                return process
            }
            for process in processes {
                process.waitUntilExit()
                results.append(try Connection(status: process.terminationStatus, detail: "\(process.arguments ?? [])"))
            }
        }
        return results
    }
}

/// What a TCP connect attempt saw.
enum Connection: Equatable {
    /// The handshake completed: the port is open.
    case connected
    /// A reset came back: closed, or rejected with a TCP reset.
    case refused
    /// Nothing came back: dropped.
    case timedOut
    /// An ICMP error came back.
    case unreachable

    /// Reads netpeer's exit status.
    init(status: Int32, detail: String) throws {
        switch status {
        case 0: self = .connected
        case 3: self = .refused
        case 4: self = .timedOut
        case 5: self = .unreachable
        default: throw LabError(message: "netpeer failed (exit \(status)): \(detail)")
        }
    }
}

struct LabError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// The driver's seeded generator (SplitMix64, the same sequence for the same seed), so a
/// randomized test's failure can be replayed from its seed.
typealias SeededGenerator = PolicySampler

extension PolicySampler {
    init(state: UInt64) { self.init(seed: state) }
}
