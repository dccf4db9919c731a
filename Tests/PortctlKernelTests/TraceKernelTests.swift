import Foundation
import PortPolicy
import Synchronization
import Testing

/// A portctl command running in the background in the lab's server namespace (`ip netns exec`
/// execs it: the process id is portctl's), its output collected as it comes.
final class BackgroundPortctl {
    let process: Process
    private let output = Collected()

    /// What the pipes brought so far, appended from their handlers' threads.
    final class Collected: Sendable {
        let text = Mutex<(stdout: String, stderr: String)>(("", ""))
        /// How many of the two pipes have reached their end.
        let ended = Mutex(0)
    }

    init(_ lab: NetLab, _ arguments: [String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", lab.server, NetLab.portctlPath] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "SSH_CONNECTION")
        for (key, value) in lab.environment { environment[key] = value }
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let output = self.output
        out.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { return Self.end(handle, output) }
            output.text.withLock { $0.stdout += String(decoding: data, as: UTF8.self) }
        }
        err.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { return Self.end(handle, output) }
            output.text.withLock { $0.stderr += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
    }

    private static func end(_ handle: FileHandle, _ output: Collected) {
        handle.readabilityHandler = nil
        output.ended.withLock { $0 += 1 }
    }

    var stdout: String { output.text.withLock { $0.stdout } }
    var stderr: String { output.text.withLock { $0.stderr } }
    var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }

    /// Waits, bounded, until `condition` holds; false when it never did.
    @discardableResult
    func waitFor(seconds: Double = 15, _ condition: (BackgroundPortctl) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition(self) { return true }
            if !process.isRunning { return condition(self) }
            usleep(20_000)
        }
        return condition(self)
    }

    /// Waits until the trace table is in place (the command says so on stderr).
    func waitUntilStarted() throws {
        guard waitFor({ $0.stderr.contains("(table inet portctl-trace-") }) else {
            throw LabError(message: "the trace did not start: \(stderr)")
        }
    }

    /// Waits for the process to end (bounded; then killed) and returns its exit status, or 128 +
    /// the signal that ended it.
    func finish(seconds: Double = 20) -> Int32 {
        if !waitFor(seconds: seconds, { !$0.process.isRunning }) {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        // The pipes' last bytes: both reach their end once every writer has exited.
        waitUntil(seconds: 5, every: 0.01) { output.ended.withLock { $0 } == 2 }
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }
}

/// `portctl trace` and `portctl watch` against real TCP and UDP between namespaces: the kernel's
/// own trace events, every table named, and nothing left behind however they end.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct TraceKernelTests {
    func json(_ line: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
    }

    func traceTables(_ lab: NetLab) throws -> [String] {
        try lab.nft("list", "tables").stdout.split(separator: "\n").filter { $0.contains("portctl-trace") }.map(String.init)
    }

    @Test func traceNamesTheAcceptingRuleAndTheDefault() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)

        let admitted = try BackgroundPortctl(lab, ["trace", NetLab.clientA4, "26", "--timeout", "20", "--json"])
        try admitted.waitUntilStarted()
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(admitted.finish() == 0, "\(admitted.stderr)")
        let accepted = try json(try #require(admitted.stdoutLines.first))
        #expect(accepted["verdict"] as? String == "accept")
        #expect(accepted["rule"] as? String == "allow-tcp-26")
        #expect(accepted["table"] as? String == "inet portctl" && accepted["chain"] as? String == "input")
        #expect(accepted["tcpFlags"] as? String == "syn" && accepted["source"] as? String == NetLab.clientA4)
        let agreement = try #require(accepted["explain"] as? [String: Any])
        #expect(agreement["agrees"] as? Bool == true && agreement["message"] as? String == "explain agrees: accept by allow-tcp-26")

        let refused = try BackgroundPortctl(lab, ["trace", NetLab.clientB4, "26", "--timeout", "20"])
        try refused.waitUntilStarted()
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26, timeout: 0.5) == .timedOut)
        #expect(refused.finish() == 0, "\(refused.stderr)")
        let text = refused.stdout
        #expect(text.contains("inet portctl input (hook input): policy drop  [default]"), "\(text)")
        #expect(text.contains("kernel: dropped by portctl's default"), "\(text)")
        #expect(text.contains("explain agrees: drop by the default"), "\(text)")
        #expect(try traceTables(lab).isEmpty)
    }

    @Test func traceNamesAForeignTableThatDropsWhatPortctlAdmits() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        // Someone else's table, made by hand: it drops port 26 after portctl accepted it.
        #expect(try lab.nft("add", "table", "ip", "other").status == 0)
        #expect(try lab.nft("add", "chain", "ip", "other", "in", "{ type filter hook input priority 10; policy accept; }").status == 0)
        #expect(try lab.nft("add", "rule", "ip", "other", "in", "tcp", "dport", "26", "drop").status == 0)
        let trace = try BackgroundPortctl(lab, ["trace", NetLab.clientA4, "26", "--timeout", "20"])
        try trace.waitUntilStarted()
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26, timeout: 0.5) == .timedOut)
        #expect(trace.finish() == 0, "\(trace.stderr)")
        let text = trace.stdout
        #expect(text.contains("allow-tcp-26\" accept comment \"allow-tcp-26\" -> accept  [allow-tcp-26]"), "\(text)")
        #expect(text.contains("ip other in (hook input): tcp dport 26 drop -> drop"), "\(text)")
        #expect(text.contains("DISAGREES: explain: accept by allow-tcp-26; kernel: dropped by table ip other, chain in"), "\(text)")
        // The foreign table is untouched, and no trace table is left.
        #expect(try lab.nft("list", "table", "ip", "other").stdout.contains("tcp dport 26 drop"))
        #expect(try traceTables(lab).isEmpty)
        // Neither plan nor status calls the foreign table or the trace portctl's problem.
        #expect(try lab.portctl("plan").status == 0)
    }

    @Test func traceFollowsAPublishedPortThroughSomeoneElsesDNAT() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.addTarget()
        try lab.listen([80], in: lab.target, udp: false)
        #expect(try lab.nft("add", "table", "ip", "nat").status == 0)
        #expect(try lab.nft("add", "chain", "ip", "nat", "prerouting", "{ type nat hook prerouting priority dstnat; policy accept; }").status == 0)
        #expect(try lab.nft("add", "rule", "ip", "nat", "prerouting", "tcp", "dport", "8080", "dnat", "to", "\(NetLab.target4):80").status == 0)
        #expect(try lab.portctl("open", "8080", "--from", "198.51.100.0/24").status == 0)
        let trace = try BackgroundPortctl(lab, ["trace", NetLab.clientA4, "8080", "--timeout", "20", "--json"])
        try trace.waitUntilStarted()
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 8080) == .connected)
        #expect(trace.finish() == 0, "\(trace.stderr)")
        let packet = try json(try #require(trace.stdoutLines.first))
        #expect(packet["verdict"] as? String == "forwarded to \(NetLab.target4):80")
        #expect(packet["forwardedTo"] as? String == "\(NetLab.target4):80")
        #expect(packet["rule"] as? String == "allow-tcp-8080" && packet["chain"] as? String == "forward")
        let path = try #require(packet["path"] as? [[String: Any]])
        #expect(path.contains { $0["table"] as? String == "nat" && ($0["rule"] as? String)?.contains("dnat to \(NetLab.target4):80") == true })
        #expect((packet["explain"] as? [String: Any])?["agrees"] as? Bool == true, "\(packet)")
    }

    @Test func traceFollowsARoutedFlowAndComparesWithTheRoutedExplain() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        #expect(try run(["ip", "netns", "exec", lab.server, "sysctl", "-qw", "net.ipv4.ip_forward=1"]).status == 0)
        #expect(try run(["ip", "-n", lab.clientA, "route", "add", "203.0.113.0/24", "via", NetLab.serverA4]).status == 0)
        #expect(try run(["ip", "-n", lab.clientB, "route", "add", "198.51.100.0/24", "via", NetLab.serverB4]).status == 0)
        try lab.listen([26, 27], in: lab.clientB, udp: false)
        #expect(try lab.portctl("default", "routed", "drop").status == 0)
        #expect(try lab.portctl("route", "26", "--from", "198.51.100.0/24", "--to", "203.0.113.0/24").status == 0)
        for (port, connection) in [(26, Connection.connected), (27, .timedOut)] {
            let trace = try BackgroundPortctl(lab, ["trace", NetLab.clientA4, String(port), "--to", NetLab.clientB4, "--timeout", "20", "--json"])
            try trace.waitUntilStarted()
            #expect(try lab.connect(from: lab.clientA, to: NetLab.clientB4, port: port, timeout: 0.5) == connection)
            #expect(trace.finish() == 0, "\(trace.stderr)")
            let packet = try json(try #require(trace.stdoutLines.first))
            let explain = try #require(packet["explain"] as? [String: Any])
            #expect(explain["agrees"] as? Bool == true, "\(packet)")
            if port == 26 {
                #expect(packet["verdict"] as? String == "accept" && packet["rule"] as? String == "route-tcp-26" && packet["chain"] as? String == "routed")
            } else {
                #expect(packet["verdict"] as? String == "drop" && packet["decidedBy"] as? String == "portctl's default", "\(packet)")
            }
        }
        #expect(try traceTables(lab).isEmpty)
    }

    @Test func watchTopCountsSourcesAndPorts() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        let top = try BackgroundPortctl(lab, ["watch", "--top", "--timeout", "30", "--count", "4"])
        try top.waitUntilStarted()
        for _ in 0..<3 { #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected) }
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26, timeout: 0.3) == .timedOut)
        #expect(top.finish() == 0, "\(top.stderr)")
        // Not a terminal: each redraw is a block of its own; the last one counts everything.
        let last = try #require(top.stdout.components(separatedBy: "portctl watch --top: ").last)
        #expect(last.hasPrefix("4 attempts in "), "\(top.stdout)")
        #expect(last.contains("3 accepted, 1 refused"), "\(last)")
        let rows = last.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        #expect(rows.contains([NetLab.clientA4, "3", "3", "0"]), "\(last)")
        #expect(rows.contains([NetLab.clientB4, "1", "0", "1"]), "\(last)")
        #expect(rows.contains(["26/tcp", "4", "3", "1"]), "\(last)")
    }

    @Test func watchPrintsEachAttemptWithItsVerdictAndId() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(23, 25, 26, 27)
        try lab.listenUDP(53)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.portctl("open", "27", "--limit", "1/minute").status == 0)
        #expect(try lab.portctl("reject", "25").status == 0)
        #expect(try lab.portctl("deny", "23").status == 0)
        let watch = try BackgroundPortctl(lab, ["watch", "--json", "--count", "7", "--timeout", "60"])
        try watch.waitUntilStarted()
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26, timeout: 0.3) == .timedOut)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 25) == .refused)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 23, timeout: 0.3) == .timedOut)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .connected)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27, timeout: 0.3) == .timedOut)
        // UDP: a new flow, refused by the default (the datagram is sent twice: two attempts).
        _ = try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 53, timeout: 0.3, udp: true)
        #expect(watch.finish() == 0, "\(watch.stderr)")
        let lines = try watch.stdoutLines.map(json)
        let seen = lines.map { "\($0["source"] as? String ?? "?") \($0["port"] as? Int ?? 0)/\($0["protocol"] as? String ?? "?") \($0["verdict"] as? String ?? "?") \($0["rule"] as? String ?? $0["decidedBy"] as? String ?? "?")" }
        #expect(seen == [
            "198.51.100.2 26/tcp accept allow-tcp-26",
            "203.0.113.2 26/tcp drop portctl's default",
            "198.51.100.2 25/tcp reject reject-tcp-25",
            "198.51.100.2 23/tcp drop deny-tcp-23",
            "198.51.100.2 27/tcp accept allow-tcp-27",
            "198.51.100.2 27/tcp limited allow-tcp-27",
            "203.0.113.2 53/udp drop portctl's default",
        ], "\(watch.stdout)")
        #expect(try traceTables(lab).isEmpty)

        // The same in words, and --verdict keeps only what was asked.
        let words = try BackgroundPortctl(lab, ["watch", "26", "--verdict", "drop", "--count", "1", "--timeout", "30"])
        try words.waitUntilStarted()
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26, timeout: 0.3) == .timedOut)
        #expect(words.finish() == 0)
        #expect(words.stdoutLines.count == 1 && words.stdout.contains("203.0.113.2 -> 26/tcp drop by portctl's default"), "\(words.stdout)")
    }

    @Test(arguments: [SIGINT, SIGTERM])
    func aSignalledWatchRemovesItsTable(signal: Int32) throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        let watch = try BackgroundPortctl(lab, ["watch", "26"])
        try watch.waitUntilStarted()
        #expect(try traceTables(lab).count == 1)
        // While it runs, the trace table is nobody's drift.
        #expect(try lab.portctl("plan").status == 0)
        #expect(try lab.portctl("check").status == 0)
        let status = try lab.portctl("status")
        #expect(status.status == 0 && !status.stdout.contains("portctl-trace"), "\(status)")
        #expect(try traceTables(lab).count == 1, "a running watch's table is not removed")
        kill(watch.process.processIdentifier, signal)
        #expect(watch.finish() == 0, "\(watch.stderr)")
        #expect(!(try lab.nft("list", "ruleset").stdout.contains("portctl-trace")))
        #expect(try lab.kernelMatchesPolicy())
        let plan = try lab.portctl("plan")
        #expect(plan.status == 0 && plan.stdout.contains("nothing to change"), "\(plan)")
    }

    @Test func aKilledWatchsTableIsRemovedByTheNextCommand() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        for next in [["plan"], ["status"], ["open", "27"]] {
            let watch = try BackgroundPortctl(lab, ["watch"])
            try watch.waitUntilStarted()
            kill(watch.process.processIdentifier, SIGKILL)
            #expect(watch.finish() == 128 + SIGKILL)
            #expect(try traceTables(lab).count == 1, "SIGKILL leaves the table")
            let outcome = try lab.portctl(next)
            #expect(outcome.status == 0, "\(next): \(outcome)")
            #expect(!(try lab.nft("list", "ruleset").stdout.contains("portctl-trace")), "\(next) did not remove the table")
        }
        let plan = try lab.portctl("plan")
        #expect(plan.status == 0 && plan.stdout.contains("nothing to change"), "\(plan)")
    }

    @Test func disableRemovesARunningWatchsTableAndTheWatchSaysSo() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        let watch = try BackgroundPortctl(lab, ["watch"])
        try watch.waitUntilStarted()
        #expect(try lab.portctl("disable").status == 0)
        #expect(try lab.nft("list", "ruleset").stdout.isEmpty)
        #expect(watch.finish() == 1)
        #expect(watch.stderr.contains("was removed while the trace ran"), "\(watch.stderr)")
    }

    @Test func badInputAndMissingPrivilege() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26").status == 0)
        let before = try lab.ruleset()
        for arguments in [["trace", "203.0.113.300", "26"], ["trace", "203.0.113.5", "70000"], ["trace", "203.0.113.5", "26-27"],
                          ["trace", "203.0.113.5", "26", "--proto", "sctp"], ["trace", "203.0.113.5", "26/udp", "--proto", "tcp"],
                          ["trace", "203.0.113.5", "26", "--to", "2001:db8::1"], ["trace", "203.0.113.5", "26", "--timeout", "soon"],
                          ["trace", "203.0.113.5", "26", "--count", "0"], ["watch", "70000"], ["watch", "--from", "nowhere"],
                          ["watch", "--verdict", "maybe"], ["watch", "--top", "--json"], ["watch", "--count", "0"]] {
            let outcome = try lab.portctl(arguments)
            #expect(outcome.status == 64 && outcome.stderr.split(separator: "\n").count == 1 && outcome.stdout.isEmpty, "\(arguments): \(outcome)")
        }
        #expect(try lab.ruleset() == before)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: lab.directory.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: lab.policyPath)
        let nobody = ["ip", "netns", "exec", lab.server, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                      "--inh-caps=-all", NetLab.portctlPath]
        for arguments in [["trace", "203.0.113.5", "26"], ["watch"]] {
            let outcome = try run(nobody + arguments, environment: lab.environment)
            #expect(outcome.status == 77 && outcome.stderr.split(separator: "\n").count == 1, "\(arguments): \(outcome)")
        }
        #expect(try lab.ruleset() == before)
        // Nothing arrived: exit 1, table gone.
        let quiet = try lab.portctl("trace", "203.0.113.5", "26", "--timeout", "1")
        #expect(quiet.status == 1 && quiet.stderr.contains("no packet from 203.0.113.5 to port 26/tcp arrived within 1s"), "\(quiet)")
        #expect(try lab.ruleset() == before)
    }
}
