import Foundation
import Testing
import PortPolicy
import PortctlTestSupport

/// The monitoring examples against what `portctl metrics` prints: every metric the Grafana
/// dashboard and the alert rules query is one portctl exports (issue 24).
@Suite struct MonitoringExamplesTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/monitoring")

    /// Every family `metrics` prints for a policy with every kind of rule, default and a drop record.
    static func printedNames() throws -> Set<String> {
        let policy = try PolicyFile.decode("""
        version: 1
        defaults:
          inbound: drop
          outbound: drop
          published: filter
          routed: drop
        rules:
          - id: ssh
            ports: 22
            limit: 6/minute
          - id: vendor
            ports: 8443
            from: [203.0.113.7]
            expires: "2030-12-01T09:00:00Z"
          - id: block
            action: deny
            ports: 3306
          - id: rej
            action: reject
            protocol: udp
            ports: 53
          - id: dns-out
            direction: out
            protocol: udp
            ports: 53
            to: [198.51.100.53]
          - id: fwd26
            action: forward
            ports: 26
            to: 203.0.113.2
          - id: relays
            action: allow
            direction: routed
            ports: 26
            to: [203.0.113.0/24]

        """)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var snapshot = MetricsSnapshot(policy: policy, tablePresent: true, dormant: false, inSync: true, counters: [:], lastApply: now,
                                       findings: [.high: 1], now: now)
        snapshot.bans = 1
        snapshot.drops = DropReport(connections: [
            DroppedConnection(source: IPAddress("203.0.113.9")!, proto: .tcp, port: 26, reason: DropReason(.inboundDefault), packets: 3, lastSeen: now),
            DroppedConnection(source: IPAddress("203.0.113.9")!, proto: .tcp, port: 22, reason: DropReason(.limit, ruleID: "ssh"), packets: 9, lastSeen: now),
        ], keptSeconds: 600, capacity: 65_536, unrecorded: 2)
        let names = snapshot.text.split(separator: "\n").compactMap { line -> String? in
            let words = line.split(separator: " ")
            return words.count == 4 && words[0] == "#" && words[1] == "TYPE" ? String(words[2]) : nil
        }
        return Set(names)
    }

    /// Every Prometheus query of the dashboard: the panels' targets (rows' own panels too) and the
    /// variables' queries (`label_values(METRIC, label)` gives its metric).
    static func dashboardQueries(_ dashboard: [String: Any]) -> [String] {
        var queries = GrafanaDashboard.expressions(in: dashboard["panels"] ?? [])
        for variable in (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? [] where variable["type"] as? String == "query" {
            // Grafana shows `definition` and runs `query`: both are checked.
            let query = (variable["query"] as? [String: Any])?["query"] as? String ?? variable["query"] as? String ?? ""
            queries += ([query] + [variable["definition"] as? String].compactMap { $0 }).map(PromQLNames.variableQuery)
        }
        return queries
    }

    @Test func theDashboardQueriesOnlyMetricsPortctlPrints() throws {
        let data = try Data(contentsOf: Self.examples.appendingPathComponent("portctl-dashboard.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let printed = try Self.printedNames()
        let queries = Self.dashboardQueries(dashboard)
        #expect(queries.count >= 15, "\(queries)")
        var used: Set<String> = []
        for query in queries {
            #expect(!query.contains("__name__"), "a query that picks metrics by __name__ cannot be checked: \(query)")
            let names = PromQLNames.metrics(in: query)
            #expect(!names.isEmpty, "no metric in \(query)")
            for name in names {
                #expect(printed.contains(name), "the dashboard queries \(name), which portctl metrics does not print: \(query)")
            }
            used.formUnion(names)
        }
        // What the dashboard is for: the rules' accepts and drops, drops per port, rate limits,
        // bans, in sync and the table, and what the drop record could not keep.
        for needed in ["portctl_rule_packets_total", "portctl_recent_drops", "portctl_rule_limited_packets_total", "portctl_bans",
                       "portctl_ban_packets_total", "portctl_in_sync", "portctl_table_present", "portctl_drops_unrecorded_total",
                       "portctl_default_packets_total"] {
            #expect(used.contains(needed), "the dashboard shows nothing of \(needed)")
        }
    }

    @Test func theDashboardImportsWithADataSourceOfTheImportersChoice() throws {
        let data = try Data(contentsOf: Self.examples.appendingPathComponent("portctl-dashboard.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect((dashboard["schemaVersion"] as? Int ?? 0) >= 38, "Grafana 10's schema")
        #expect(dashboard["uid"] as? String == "portctl" && dashboard["id"] is NSNull)
        let variables = (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        #expect(variables.contains { $0["name"] as? String == "datasource" && $0["type"] as? String == "datasource" && $0["query"] as? String == "prometheus" })
        // Every panel and query reads the chosen data source, none a uid of some other Grafana.
        var references: [String] = []
        func walk(_ value: Any) {
            if let object = value as? [String: Any] {
                if let source = object["datasource"] as? [String: Any], source["type"] as? String == "prometheus" {
                    references.append(source["uid"] as? String ?? "")
                }
                for (_, child) in object { walk(child) }
            } else if let array = value as? [Any] {
                array.forEach(walk)
            }
        }
        walk(dashboard)
        #expect(!references.isEmpty && references.allSatisfy { $0 == "${datasource}" }, "\(references)")
        // Panels do not overlap on the grid (24 columns).
        var taken: Set<[Int]> = []
        for panel in dashboard["panels"] as? [[String: Any]] ?? [] {
            let grid = try #require(panel["gridPos"] as? [String: Int])
            let (x, y, w, h) = (grid["x"]!, grid["y"]!, grid["w"]!, grid["h"]!)
            #expect(x + w <= 24, "\(panel["title"] ?? "")")
            for column in x..<(x + w) {
                for row in y..<(y + h) {
                    #expect(taken.insert([column, row]).inserted, "\(panel["title"] ?? "") overlaps another panel at \(column),\(row)")
                }
            }
        }
    }

    @Test func theAlertRulesQueryOnlyMetricsPortctlPrintsOrTheyRecord() throws {
        let text = try String(contentsOf: Self.examples.appendingPathComponent("portctl-alerts.yml"), encoding: .utf8)
        let (expressions, recorded) = PromQLNames.ruleFile(text)
        #expect(expressions.count == 8, "\(expressions)")
        let known = try Self.printedNames().union(recorded)
        for expression in expressions {
            for name in PromQLNames.metrics(in: expression) {
                #expect(known.contains(name), "an alert rule queries \(name), which portctl metrics does not print: \(expression)")
            }
        }
    }

    /// The checker itself: it finds the metric names, and only them.
    @Test(arguments: [
        ("portctl_up", ["portctl_up"]),
        ("up == 0", ["up"]),
        (#"sum by (id, action) (rate(portctl_rule_packet_total{instance="$instance", action=~"allow|forward"}[$__rate_interval]))"#,
         ["portctl_rule_packet_total"]),
        (#"topk(10, sum by (port, protocol) (portctl_recent_drops{reason!="ban"}))"#, ["portctl_recent_drops"]),
        (#"rate(a_total[5m]) > 5 * rate(a_total[1h] offset 5m) and rate(b_total[5m]) > 1 unless on (instance, job) c"#, ["a_total", "b_total", "c"]),
        (#"sum_over_time(sum without (reason) (x{reason=~"default|published-default"})[1h:1m] offset 10m) / 60 or 0 * y:z:sum"#, ["x", "y:z:sum"]),
        (#"label_replace(increase(l_total[10m]) * ignoring (action, ports) group_left (ports, protocol) (0 * p_total + 1), "port", "$1", "ports", "(.*)") > 5e2"#,
         ["l_total", "p_total"]),
        (#"node_load1 > bool 1.5 and node_foo{job='x'} @ end()"#, ["node_load1", "node_foo"]),
        (#"sum(increase(portctl_drops_unrecorded_total{instance="$instance"}[$__range]))"#, ["portctl_drops_unrecorded_total"]),
    ])
    func theCheckerFindsEveryMetricName(_ query: String, _ expected: [String]) {
        #expect(PromQLNames.metrics(in: query) == Set(expected), "\(query)")
    }

    @Test func theCheckerReadsVariablesAndRuleFiles() {
        #expect(PromQLNames.variableQuery("label_values(portctl_up, instance)") == "portctl_up")
        #expect(PromQLNames.variableQuery("label_values(portctl_up{job=\"node\"},instance)") == "portctl_up{job=\"node\"}")
        #expect(PromQLNames.variableQuery("query_result(topk(3, portctl_bans))") == "topk(3, portctl_bans)")
        let (expressions, recorded) = PromQLNames.ruleFile("""
        groups:
          - name: g
            rules:
              - record: a:b:sum
                expr: sum(b)
              - alert: X
                expr: |
                  a:b:sum > 1
                  or c
                labels:
                  severity: warning

        """)
        #expect(expressions == ["sum(b)", "a:b:sum > 1\nor c"])
        #expect(recorded == ["a:b:sum"])
    }
}

/// Finds the metric names a PromQL expression reads, without a full parser: string literals,
/// label matchers, ranges and grouping clauses are removed; what is left that is neither a
/// function, a keyword nor a number is a metric name.
enum PromQLNames {
    static let keywords: Set<String> = ["by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
                                        "offset", "bool", "inf", "nan", "atan2", "start", "end"]

    static func metrics(in query: String) -> Set<String> {
        var text = ""
        // Strings ("...", '...', `...`) go first: they may hold anything.
        var quote: Character?
        var escaped = false
        for character in query {
            if let open = quote {
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == open { quote = nil }
                continue
            }
            if character == "\"" || character == "'" || character == "`" { quote = character; text.append(" "); continue }
            text.append(character)
        }
        // Label matchers and ranges (which may hold Grafana's $__rate_interval).
        for (open, close) in [("{", "}"), ("[", "]")] {
            while let start = text.range(of: open), let end = text.range(of: close, range: start.upperBound..<text.endIndex) {
                text.replaceSubrange(start.lowerBound..<end.upperBound, with: " ")
            }
        }
        // Grouping clauses: their parentheses list labels, not series.
        let grouping = #/(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/#
        text = text.replacing(grouping, with: " ")
        var names: Set<String> = []
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character.isNumber || character == "." {
                // A number or a duration (5m, 1e3, 0x1F): never a name.
                while index < characters.count, characters[index].isLetter || characters[index].isNumber || characters[index] == "." || characters[index] == "_" {
                    index += 1
                }
            } else if character.isLetter || character == "_" || character == ":" {
                var word = ""
                while index < characters.count, characters[index].isLetter || characters[index].isNumber || characters[index] == "_" || characters[index] == ":" {
                    word.append(characters[index])
                    index += 1
                }
                var next = index
                while next < characters.count, characters[next].isWhitespace { next += 1 }
                let isCall = next < characters.count && characters[next] == "("
                if !isCall && !keywords.contains(word.lowercased()) { names.insert(word) }
            } else {
                index += 1
            }
        }
        return names
    }

    /// The PromQL inside a Grafana variable query: `label_values(METRIC, label)` and
    /// `query_result(EXPR)`; any other text is taken as PromQL.
    static func variableQuery(_ query: String) -> String {
        let text = query.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("label_values("), text.hasSuffix(")") {
            let inner = text.dropFirst("label_values(".count).dropLast()
            // The metric is everything before the last top-level comma (the label).
            var depth = 0, split: String.Index?
            for index in inner.indices {
                switch inner[index] {
                case "(", "{", "[": depth += 1
                case ")", "}", "]": depth -= 1
                case "," where depth == 0: split = index
                default: break
                }
            }
            return String(inner[..<(split ?? inner.endIndex)]).trimmingCharacters(in: .whitespaces)
        }
        if text.hasPrefix("query_result("), text.hasSuffix(")") {
            return String(text.dropFirst("query_result(".count).dropLast())
        }
        return text
    }

    /// The expressions of a Prometheus rule file (`expr: TEXT` or `expr: |` blocks) and the
    /// names its recording rules record.
    static func ruleFile(_ text: String) -> (expressions: [String], recorded: Set<String>) {
        var expressions: [String] = [], recorded: Set<String> = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var index = 0
        func indent(_ line: String) -> Int { line.prefix { $0 == " " }.count }
        while index < lines.count {
            let line = lines[index]
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("- record:") {
                recorded.insert(trimmed.dropFirst("- record:".count).trimmingCharacters(in: .whitespaces))
            } else if trimmed.hasPrefix("expr:") {
                let value = trimmed.dropFirst("expr:".count).trimmingCharacters(in: .whitespaces)
                if value == "|" {
                    var block: [String] = []
                    index += 1
                    while index < lines.count, lines[index].trimmingCharacters(in: .whitespaces).isEmpty || indent(lines[index]) > indent(line) {
                        block.append(lines[index])
                        index += 1
                    }
                    while block.last?.trimmingCharacters(in: .whitespaces).isEmpty == true { block.removeLast() }
                    let margin = block.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map(indent).min() ?? 0
                    expressions.append(block.map { String($0.dropFirst(min(margin, indent($0)))) }.joined(separator: "\n"))
                    continue
                }
                expressions.append(value)
            }
            index += 1
        }
        return (expressions, recorded)
    }
}
