import Foundation
import PortPolicy
import PortctlTestSupport
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

    /// Packets per port in the kernel's own listing of the drop record (`nft list set`), not
    /// through portctl: `203.0.113.2 . tcp . 26 . 0x10000000 counter packets 4 bytes 240`.
    static func recordedPackets(_ lab: NetLab) throws -> [String: Int] {
        var perPort: [String: Int] = [:]
        for family in ["4", "6"] {
            let listing = try lab.nft("list", "set", "inet", "portctl", "portctl-drops\(family)").stdout
            for match in listing.matches(of: #/ \. (tcp|udp) \. (\d+) \. 0x([0-9a-f]{8}) counter packets (\d+)/#) where !match.3.hasPrefix("5") {
                perPort["\(match.2)/\(match.1)", default: 0] += Int(match.4)!
            }
        }
        return perPort
    }

    /// Real refused connections (TCP between namespaces): `metrics` exports them per port and
    /// reason, promtool accepts the families, and `status --nagios --warn-drops/--crit-drops`
    /// judges the busiest port, naming it with the count the kernel holds.
    @Test func refusedConnectionsReachMetricsAndTheNagiosThresholds() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.portctl("deny", "3306").status == 0)
        let quiet = try lab.portctl("status", "--nagios", "--warn-drops", "1", "--crit-drops", "2")
        #expect(quiet.status == 0 && quiet.stdout.hasSuffix(" busiest_port_drops=0;1;2\n"), "\(quiet)")

        // Refused: clientB on 26 by the default (four times), clientA on 3306 by the rule (twice);
        // clientA's connection to 26 is admitted and never counted.
        let probes = Array(repeating: NetLab.Probe(from: lab.clientB, to: NetLab.serverB4, port: 26), count: 4)
            + Array(repeating: NetLab.Probe(from: lab.clientA, to: NetLab.serverA4, port: 3306), count: 2)
        #expect(try lab.connectAll(probes).allSatisfy { $0 == .timedOut })
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        let kernel = try Self.recordedPackets(lab)
        let on26 = try #require(kernel["26/tcp"]), on3306 = try #require(kernel["3306/tcp"])
        #expect(on26 >= 4 && on3306 >= 2 && kernel.count == 2, "\(kernel)")

        let metrics = try lab.portctl("metrics")
        #expect(metrics.status == 0, "\(metrics)")
        #expect(metrics.stdout.contains("portctl_recent_drops{port=\"26\",protocol=\"tcp\",reason=\"default\"} \(on26)\n"), "\(metrics.stdout)")
        #expect(metrics.stdout.contains("portctl_recent_drops{port=\"3306\",protocol=\"tcp\",reason=\"rule\"} \(on3306)\n"), "\(metrics.stdout)")
        #expect(metrics.stdout.contains("portctl_recent_drop_sources 2\n"), "\(metrics.stdout)")
        let path = lab.directory.appendingPathComponent("metrics.txt").path
        try Data(metrics.stdout.utf8).write(to: URL(fileURLWithPath: path))
        let check = try run(["sh", "-c", "promtool check metrics < \"$0\"", path])
        #expect(check.status == 0 && check.stdout.isEmpty && check.stderr.isEmpty, "promtool: \(check)")

        // Over --warn-drops: WARNING, naming the port and the count; over --crit-drops: CRITICAL.
        let warning = try lab.portctl("status", "--nagios", "--warn-drops", "\(on26 - 1)", "--crit-drops", "\(on26 + 100)")
        #expect(warning.status == 1, "\(warning)")
        #expect(warning.stdout.hasPrefix("PORTCTL WARNING - \(on26) refused packets on 26/tcp from sources seen in the last 10m (threshold \(on26 - 1); portctl drops --port 26/tcp) | "), "\(warning)")
        #expect(warning.stdout.hasSuffix(" busiest_port_drops=\(on26);\(on26 - 1);\(on26 + 100)\n"), "\(warning)")
        let critical = try lab.portctl("status", "--nagios", "--warn-drops", "0", "--crit-drops", "\(on3306 - 1)")
        #expect(critical.status == 2, "\(critical)")
        #expect(critical.stdout.hasPrefix("PORTCTL CRITICAL - \(on26) refused packets on 26/tcp from sources seen in the last 10m (threshold \(on3306 - 1); 1 more port over it: portctl drops) | "), "\(critical)")
        let at = try lab.portctl("status", "--nagios", "--warn-drops", "\(on26)")
        #expect(at.status == 0 && at.stdout.hasPrefix("PORTCTL OK - "), "not above the threshold: \(at)")

        // Bad thresholds: one line naming the value, 64, before anything is read.
        for (bad, named) in [(["--warn-drops", "many"], "'many'"), (["--warn-drops", "-3"], "\"-3\""), (["--crit-drops=-3"], "\"-3\""),
                             (["--warn-drops", "10", "--crit-drops", "5"], "\"5\"")] {
            let outcome = try lab.portctl(["status", "--nagios"] + bad)
            #expect(outcome.status == 64 && outcome.stdout.isEmpty, "\(bad): \(outcome)")
            #expect(outcome.stderr.contains(named) && outcome.stderr.split(separator: "\n").count == 1, "\(bad): \(outcome)")
        }
        let alone = try lab.portctl("status", "--warn-drops", "5")
        #expect(alone.status == 64 && alone.stderr.contains("--nagios"), "\(alone)")

        // Without a drop record the thresholds cannot be judged: UNKNOWN, saying why.
        let text = String(decoding: lab.policyBytes(), as: UTF8.self)
        try Data(text.replacingOccurrences(of: "defaults:\n", with: "defaults:\n  drops: off\n").utf8).write(to: URL(fileURLWithPath: lab.policyPath))
        #expect(try lab.portctl("apply").status == 0)
        let unknown = try lab.portctl("status", "--nagios", "--warn-drops", "1")
        #expect(unknown.status == 3 && unknown.stdout.contains("keeps no drop record"), "\(unknown)")
        #expect(!(try lab.portctl("metrics").stdout.contains("portctl_recent_drops")))
    }

    /// PortctlBruteForce in a real prometheus, from real refused connections scraped through
    /// node_exporter (its threshold lowered from 500 to 3 packets): it fires for 26/tcp, with
    /// the port in its labels, and for no other port.
    @Test func theBruteForceAlertFiresFromRealRefusals() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.portctl("deny", "3306").status == 0)
        let rules = try String(contentsOf: Self.examples.appendingPathComponent("portctl-alerts.yml"), encoding: .utf8)
        let lowered = rules.replacingOccurrences(of: "> 500", with: "> 3")
        #expect(lowered.components(separatedBy: "> 3\n").count == 3, "both of PortctlBruteForce's thresholds lowered")
        let monitoring = try MonitoringLab(lab, rules: lowered)
        defer { monitoring.stop() }

        // Six refused on 26/tcp (the default), one on 3306 (the rule): only 26 is over 3.
        let probes = Array(repeating: NetLab.Probe(from: lab.clientB, to: NetLab.serverB4, port: 26), count: 6)
            + [NetLab.Probe(from: lab.clientA, to: NetLab.serverA4, port: 3306)]
        #expect(try lab.connectAll(probes).allSatisfy { $0 == .timedOut })
        #expect(try lab.portctl("metrics", "--textfile", monitoring.textfiles.path).status == 0)
        let firing = try monitoring.waitForValue(#"ALERTS{alertname="PortctlBruteForce",alertstate="firing",port="26",protocol="tcp"}"#) { $0 == 1 }
        #expect(firing == 1, "PortctlBruteForce did not fire for 26/tcp")
        #expect(try monitoring.query(#"count(ALERTS{alertname="PortctlBruteForce"})"#) == 1)
        #expect(try monitoring.query(#"portctl_recent_drops{port="3306",reason="rule"}"#) == 1)
    }

    @Test func theAlertRulesFireOnASpikeAndStayQuietOtherwise() throws {
        let rules = try run(["promtool", "check", "rules", Self.examples.appendingPathComponent("portctl-alerts.yml").path])
        #expect(rules.status == 0 && rules.stdout.contains("SUCCESS: 8 rules found"), "\(rules)")
        let test = try run(["promtool", "test", "rules", Self.examples.appendingPathComponent("portctl-alerts.test.yml").path])
        #expect(test.status == 0 && test.stdout.contains("SUCCESS"), "\(test)")
    }

    /// Every query of the Grafana dashboard is PromQL that Prometheus' own parser takes (each as a
    /// recording rule under `promtool check rules`, Grafana's $__ intervals filled in). Which
    /// metrics they name is checked against `metrics` by PortPolicyTests' MonitoringExamplesTests.
    @Test func theDashboardQueriesParse() throws {
        let data = try Data(contentsOf: Self.examples.appendingPathComponent("portctl-dashboard.json"))
        let queries = GrafanaDashboard.expressions(in: try JSONSerialization.jsonObject(with: data))
        #expect(queries.count >= 15)
        var rules = "groups:\n  - name: dashboard\n    rules:\n"
        for (number, query) in queries.enumerated() {
            let filled = query.replacingOccurrences(of: "$__rate_interval", with: "1m").replacingOccurrences(of: "$__range", with: "6h")
            let quoted = String(decoding: try JSONSerialization.data(withJSONObject: filled, options: [.fragmentsAllowed, .withoutEscapingSlashes]), as: UTF8.self)
            rules += "      - record: dashboard_query_\(number)\n        expr: \(quoted)\n"
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pctldash\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("dashboard-rules.yml")
        try Data(rules.utf8).write(to: path)
        let check = try run(["promtool", "check", "rules", path.path])
        #expect(check.status == 0 && check.stdout.contains("SUCCESS: \(queries.count) rules found"), "\(check)\n\(rules)")
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

    /// Starts both; with `rules`, prometheus evaluates that rule file's text every second.
    init(_ lab: NetLab, rules: String? = nil) throws {
        self.lab = lab
        root = lab.directory.appendingPathComponent("monitoring")
        textfiles = root.appendingPathComponent("textfiles")
        try FileManager.default.createDirectory(at: textfiles, withIntermediateDirectories: true)
        var config = """
        global:
          scrape_interval: 1s
          evaluation_interval: 1s
        scrape_configs:
          - job_name: node
            static_configs:
              - targets: ["127.0.0.1:19100"]

        """
        if let rules {
            let path = root.appendingPathComponent("rules.yml")
            try Data(rules.utf8).write(to: path)
            config += "rule_files:\n  - \(path.path)\n"
        }
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
