import Foundation
import PortPolicy
import Testing

/// Monitoring with the real components: Debian's prometheus-node-exporter (textfile collector)
/// and prometheus scraping it every second, inside the server's namespace; the alert rules under
/// promtool; `status --nagios` in every real kernel state.
@Suite(.serialized, .enabled(if: KernelLab.available && MonitoringLab.installed, Comment(rawValue: MonitoringLab.reason)))
struct MonitoringTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Examples/monitoring")

    @Test func prometheusSeesRuleCountersAndDrift() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24", "--id", "smtp-alt").status == 0)
        let monitoring = try MonitoringLab(lab)
        defer { monitoring.stop() }

        for _ in 0..<5 { #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected) }
        let written = try lab.portctl("metrics", "--textfile", monitoring.textfiles.path)
        #expect(written.status == 0, "\(written)")
        let file = monitoring.textfiles.appendingPathComponent("portctl.prom").path
        #expect((try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) == 0o644)
        let packets = try monitoring.waitForValue(#"portctl_rule_packets_total{id="smtp-alt"}"#) { $0 >= 5 }
        #expect(packets >= 5, "prometheus saw \(packets) packets for smtp-alt after 5 connections")
        #expect(try monitoring.waitForValue("portctl_in_sync") { $0 == 1 } == 1)

        // Drift made by hand: the next metrics say so, and prometheus sees it.
        #expect(try lab.nft("add", "rule", "inet", "portctl", "input", "tcp", "dport", "9", "accept").status == 0)
        #expect(try lab.portctl("metrics", "--textfile", monitoring.textfiles.path).status == 0)
        #expect(try monitoring.waitForValue("portctl_in_sync") { $0 == 0 } == 0)

        // A policy that no longer reads: the file says so instead of going on with "in sync".
        try Data("inbound: dorp\n".utf8).write(to: URL(fileURLWithPath: lab.policyPath))
        #expect(try lab.portctl("metrics", "--textfile", monitoring.textfiles.path).status == 65)
        #expect(try monitoring.waitForValue("portctl_up") { $0 == 0 } == 0)
    }

    @Test func theMetricsAreValidForPromtool() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "22", "--limit", "6/minute").status == 0)
        #expect(try lab.portctl("open", "8443", "--from", "203.0.113.7", "--for", "2h").status == 0)
        #expect(try lab.portctl("forward", "2525", "--to", "203.0.113.2").status == 0)
        let metrics = try lab.portctl("metrics")
        #expect(metrics.status == 0 && metrics.stdout.contains("portctl_rule_expiry_timestamp_seconds{id=\"allow-tcp-8443\"}"), "\(metrics)")
        let path = lab.directory.appendingPathComponent("metrics.txt").path
        try Data(metrics.stdout.utf8).write(to: URL(fileURLWithPath: path))
        let check = try run(["sh", "-c", "promtool check metrics < \"$0\"", path])
        #expect(check.status == 0 && check.stdout.isEmpty && check.stderr.isEmpty, "promtool: \(check)")
    }

    @Test func theAlertRulesFireOnASpikeAndStayQuietOtherwise() throws {
        let rules = try run(["promtool", "check", "rules", Self.examples.appendingPathComponent("portctl-alerts.yml").path])
        #expect(rules.status == 0 && rules.stdout.contains("SUCCESS: 8 rules found"), "\(rules)")
        let test = try run(["promtool", "test", "rules", Self.examples.appendingPathComponent("portctl-alerts.test.yml").path])
        #expect(test.status == 0 && test.stdout.contains("SUCCESS"), "\(test)")
    }

    @Test func nagiosStatesFollowTheKernel() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        let unknown = try lab.portctl("status", "--nagios")
        #expect(unknown.status == 3 && unknown.stdout.hasPrefix("PORTCTL UNKNOWN - no policy file"), "\(unknown)")
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        // An opening nothing listens on is an audit warning, and the line says which; portctl's
        // own first-run SSH rule with nothing on 22 is only for the record (issue 22).
        let warning = try lab.portctl("status", "--nagios")
        #expect(warning.status == 1 && warning.stdout.contains("1 audit warning: rule \"allow-tcp-26\" opens 26/tcp but nothing listens there"), "\(warning)")
        #expect(!warning.stdout.contains("\"ssh\""), "\(warning)")
        #expect(try lab.portctl("remove", "ssh").status == 0)
        try lab.listen(26)
        let ok = try lab.portctl("status", "--nagios")
        #expect(ok.status == 0 && ok.stdout.hasPrefix("PORTCTL OK - ") && ok.stdout.contains("| rules=1 default_packets="), "\(ok)")
        #expect(ok.stdout.split(separator: "\n").count == 1)
        #expect(try lab.portctl("open", "8443", "--from", "203.0.113.7", "--for", "30m").status == 0)
        let expiring = try lab.portctl("status", "--nagios")
        #expect(expiring.status == 1 && expiring.stdout.contains("expires within the hour"), "\(expiring)")
        #expect(try lab.portctl("remove", "allow-tcp-8443").status == 0)
        #expect(try lab.nft("add", "rule", "inet", "portctl", "input", "tcp", "dport", "9", "accept").status == 0)
        let drift = try lab.portctl("status", "--nagios")
        #expect(drift.status == 2 && drift.stdout.contains("differs from the policy") && drift.stdout.contains("drift=1"), "\(drift)")
        #expect(try lab.nft("delete", "table", "inet", "portctl").status == 0)
        let missing = try lab.portctl("status", "--nagios")
        #expect(missing.status == 2 && missing.stdout.contains("is not in the kernel"), "\(missing)")
        // Someone else's table under the policy's name: the policy is not in force at all.
        #expect(try lab.nft("add", "table", "inet", "portctl").status == 0)
        let foreign = try lab.portctl("status", "--nagios")
        #expect(foreign.status == 2 && foreign.stdout.contains("portctl did not create it"), "\(foreign)")
    }
}

/// prometheus-node-exporter and prometheus in the lab's server namespace, on its loopback.
final class MonitoringLab {
    static var installed: Bool {
        ["/usr/bin/prometheus", "/usr/bin/prometheus-node-exporter", "/usr/bin/promtool"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }
    static let reason = "monitoring tests need prometheus and prometheus-node-exporter (scripts/install-deps), and root"

    let lab: NetLab
    let root: URL
    let textfiles: URL
    private var processes: [Process] = []

    init(_ lab: NetLab) throws {
        self.lab = lab
        root = lab.directory.appendingPathComponent("monitoring")
        textfiles = root.appendingPathComponent("textfiles")
        try FileManager.default.createDirectory(at: textfiles, withIntermediateDirectories: true)
        let config = """
        global:
          scrape_interval: 1s
          evaluation_interval: 1s
        scrape_configs:
          - job_name: node
            static_configs:
              - targets: ["127.0.0.1:19100"]

        """
        try Data(config.utf8).write(to: root.appendingPathComponent("prometheus.yml"))
        do {
            try start(["/usr/bin/prometheus-node-exporter", "--web.listen-address=127.0.0.1:19100", "--collector.disable-defaults",
                       "--collector.textfile", "--collector.textfile.directory=\(textfiles.path)"], log: "node-exporter.log")
            try start(["/usr/bin/prometheus", "--config.file=\(root.appendingPathComponent("prometheus.yml").path)",
                       "--storage.tsdb.path=\(root.appendingPathComponent("data").path)", "--web.listen-address=127.0.0.1:19090"],
                      log: "prometheus.log")
            let deadline = Date().addingTimeInterval(30)
            while (try? query("up")) == nil {
                guard Date() < deadline, processes.allSatisfy(\.isRunning) else {
                    throw LabError(message: "prometheus did not start: \(log("prometheus.log").suffix(1500))")
                }
                usleep(300_000)
            }
        } catch {
            stop()
            throw error
        }
    }

    private func start(_ arguments: [String], log name: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", lab.server] + arguments
        let url = root.appendingPathComponent(name)
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        processes.append(process)
    }

    private func log(_ name: String) -> String {
        String(decoding: FileManager.default.contents(atPath: root.appendingPathComponent(name).path) ?? Data(), as: UTF8.self)
    }

    /// The value of an instant query (the first sample), through prometheus' HTTP API.
    func query(_ expression: String) throws -> Double? {
        let outcome = try run(["ip", "netns", "exec", lab.server, "curl", "-sf", "--max-time", "2", "http://127.0.0.1:19090/api/v1/query",
                               "--data-urlencode", "query=\(expression)"])
        guard outcome.status == 0,
              let json = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any],
              json["status"] as? String == "success",
              let results = (json["data"] as? [String: Any])?["result"] as? [[String: Any]]
        else { throw LabError(message: "query \(expression): \(outcome)") }
        guard let value = results.first?["value"] as? [Any], value.count == 2, let text = value[1] as? String else { return nil }
        return Double(text)
    }

    /// Polls (bounded, 20 s) until the query's value satisfies `done`; returns the last value.
    func waitForValue(_ expression: String, until done: (Double) -> Bool) throws -> Double {
        let deadline = Date().addingTimeInterval(20)
        var last = -1.0
        while Date() < deadline {
            if let value = try query(expression) {
                last = value
                if done(value) { return value }
            }
            usleep(500_000)
        }
        return last
    }

    /// Stops both daemons (by PID) and waits for them; safe to call twice.
    func stop() {
        for process in processes where process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning && Date() < deadline { usleep(100_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        }
        processes = []
    }
}
