public import Foundation

/// What `portctl metrics` exports, gathered by the driver: the policy, the live counters and
/// what portctl knows about the kernel and the host. Turned into the Prometheus text exposition
/// format by ``text``.
public struct MetricsSnapshot: Sendable {
    /// The policy file's policy.
    public var policy: PortPolicy
    /// Whether portctl's table is in the kernel.
    public var tablePresent: Bool
    /// Whether it is dormant (switched off outside portctl).
    public var dormant: Bool
    /// Whether it matches the policy.
    public var inSync: Bool
    /// Named counter values: name to packets and bytes.
    public var counters: [String: (packets: Int, bytes: Int)]
    /// When the last change was applied, if the history knows.
    public var lastApply: Date?
    /// Audit findings by severity.
    public var findings: [Finding.Severity: Int]
    /// When this was read (time-boxed rules that expired by then are left out).
    public var now: Date
    /// How many bans are in force (`portctl ban`).
    public var bans: Int = 0
    /// The audit's findings themselves, high first (``findings`` counts them): the Nagios line
    /// names the first one of its state's severity.
    public var auditFindings: [Finding] = []
    /// The drop record (nil when the table records none).
    public var drops: DropReport?

    /// Makes a snapshot.
    public init(policy: PortPolicy, tablePresent: Bool, dormant: Bool, inSync: Bool, counters: [String: (packets: Int, bytes: Int)],
                lastApply: Date?, findings: [Finding.Severity: Int], now: Date = Date()) {
        self.policy = policy
        self.tablePresent = tablePresent
        self.dormant = dormant
        self.inSync = inSync
        self.counters = counters
        self.lastApply = lastApply
        self.findings = findings
        self.now = now
    }

    /// The Prometheus text exposition format (version 0.0.4): HELP and TYPE for every family,
    /// counters named `_total`, label values escaped.
    ///
    /// One named counter counts a rule's packets on every path it has (an inbound rule counts
    /// what reaches this host and what it admits to published ports alike), so `path` says where
    /// the rule applies: `input` (inbound rules), `output`, `forward` (port forwards) or `routed`.
    public var text: String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: [(String, String)], value: String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples {
                let labels = sample.labels.isEmpty ? "" : "{" + sample.labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
                out += "\(name)\(labels) \(sample.value)\n"
            }
        }
        let effective = policy.effective(at: now)
        var rules: [(labels: [(String, String)], id: String)] = effective.rules.map { rule in
            ([("id", rule.id), ("action", rule.action.rawValue), ("direction", rule.direction.rawValue), ("protocol", rule.proto.rawValue),
              ("ports", PortRange.merged(rule.ports).map(\.description).joined(separator: ",")),
              ("path", rule.direction == .in ? "input" : "output")], rule.id)
        }
        rules += effective.forwards.map { forward in
            ([("id", forward.id), ("action", "forward"), ("direction", "in"), ("protocol", forward.proto.rawValue),
              ("ports", PortRange.merged(forward.ports).map(\.description).joined(separator: ",")), ("path", "forward")], forward.id)
        }
        rules += effective.routes.map { route in
            ([("id", route.id), ("action", route.action.rawValue), ("direction", "routed"), ("protocol", route.proto.rawValue),
              ("ports", PortRange.merged(route.ports).map(\.description).joined(separator: ",")), ("path", "routed")], route.id)
        }
        family("portctl_rule_packets_total", "counter", "Packets a rule of the policy matched (its named nftables counter).",
               rules.map { ($0.labels, "\(counters[$0.id]?.packets ?? 0)") })
        family("portctl_rule_bytes_total", "counter", "Bytes a rule of the policy matched (its named nftables counter).",
               rules.map { ($0.labels, "\(counters[$0.id]?.bytes ?? 0)") })
        var defaults: [(String, String)] = [("in", Renderer.inboundDefaultCounter)]
        if policy.hasOutboundRules { defaults.append(("out", Renderer.outboundDefaultCounter)) }
        if policy.published == .filter { defaults.append(("published", Renderer.publishedDefaultCounter)) }
        if policy.routed == .drop || !policy.routes.isEmpty { defaults.append(("routed", Renderer.routedDefaultCounter)) }
        family("portctl_default_packets_total", "counter", "Packets that reached a default (what no rule matched: scans land here).",
               defaults.map { ([("direction", $0.0)], "\(counters[$0.1]?.packets ?? 0)") })
        family("portctl_default_bytes_total", "counter", "Bytes that reached a default.",
               defaults.map { ([("direction", $0.0)], "\(counters[$0.1]?.bytes ?? 0)") })
        let limited = effective.rules.filter { $0.limit != nil }
        family("portctl_rule_limited_packets_total", "counter", "Packets a rule's rate limit (--limit) dropped: new connections from a source over its rate.",
               limited.map { ([("id", $0.id)], "\(counters[Renderer.limitedName($0.id)]?.packets ?? 0)") })
        if let drops {
            family("portctl_recent_drops", "gauge",
                   "Packets of new connections refused within the drop record's window (defaults.drops after each source's last packet), by port, protocol and what refused them (default, published-default, routed-default, rule, ban, limit).",
                   drops.packetsByPort.map { ([("port", "\($0.port)"), ("protocol", $0.proto.rawValue), ("reason", $0.reason)], "\($0.packets)") })
            family("portctl_recent_drop_sources", "gauge", "Sources with at least one refused connection in the drop record's window.",
                   [([], "\(Set(drops.connections.map(\.source)).count)")])
            family("portctl_drops_recorded_total", "counter", "Refused new connections recorded in the drop record.",
                   [([], "\(counters[Renderer.dropsRecordedCounter]?.packets ?? 0)")])
            family("portctl_drops_unrecorded_total", "counter", "Refused new connections the drop record could not keep because it was full (they were refused all the same).",
                   [([], "\(drops.unrecorded)")])
        }
        family("portctl_bans", "gauge", "Addresses and networks banned (portctl ban), expired ones left out.", [([], "\(bans)")])
        family("portctl_ban_packets_total", "counter", "Packets dropped because their source is banned.",
               [([], "\(counters[Renderer.banCounter]?.packets ?? 0)")])
        family("portctl_up", "gauge", "1 when portctl could read the policy and the kernel (a failed read writes 0).", [([], "1")])
        family("portctl_in_sync", "gauge", "1 when the kernel's table matches the policy file, else 0.", [([], inSync ? "1" : "0")])
        family("portctl_table_present", "gauge", "1 when portctl's table is in the kernel, else 0.", [([], tablePresent ? "1" : "0")])
        family("portctl_table_dormant", "gauge", "1 when portctl's table is switched off (flags dormant), else 0.", [([], dormant ? "1" : "0")])
        family("portctl_rules", "gauge", "Rules in the policy in force (expired ones left out).", [([], "\(rules.count)")])
        family("portctl_rule_sources", "gauge", "Addresses and networks a rule lists, its address files' included (0 means any source, unless portctl_rule_source_files says the rule reads files: then no one).",
               effective.rules.map { ([("id", $0.id)], "\($0.sources.count)") } + effective.forwards.map { ([("id", $0.id)], "\($0.sources.count)") }
                   + effective.routes.map { ([("id", $0.id)], "\($0.sources.count)") })
        family("portctl_rule_open_to_any", "gauge", "1 for an inbound allow rule that admits every address of the family (no sources, or sources such as 0.0.0.0/0 that cover it), else 0.",
               effective.rules.filter { $0.direction == .in && $0.action == .allow }.flatMap { rule in
                   IPFamily.allCases.map { ([("id", rule.id), ("family", $0 == .ipv4 ? "ipv4" : "ipv6")], rule.wholeFamilies.contains($0) ? "1" : "0") }
               })
        family("portctl_rule_source_files", "gauge", "Address files a rule reads its sources from (@FILE in from:).",
               effective.rules.filter(\.readsFiles).map { ([("id", $0.id)], "\($0.sourceFiles.count)") })
        family("portctl_rule_expiry_timestamp_seconds", "gauge", "When a time-boxed rule (--for) closes, in seconds since 1970.",
               effective.rules.compactMap { rule in rule.expires.map { ([("id", rule.id)], "\(Int($0.timeIntervalSince1970))") } })
        family("portctl_last_apply_timestamp_seconds", "gauge", "When the last change was applied, in seconds since 1970 (0: none recorded).",
               [([], "\(Int(lastApply?.timeIntervalSince1970 ?? 0))")])
        family("portctl_audit_findings", "gauge", "Findings of portctl audit, by severity.",
               [Finding.Severity.high, .warning, .info].map { ([("severity", $0.rawValue)], "\(findings[$0] ?? 0)") })
        return out
    }

    /// What `metrics --textfile` writes when it cannot read the policy or the kernel, so that
    /// the last good file does not go on saying "in sync".
    public static let failed = "# HELP portctl_up 1 when portctl could read the policy and the kernel (a failed read writes 0).\n# TYPE portctl_up gauge\nportctl_up 0\n"

    /// A label value escaped as the exposition format asks: backslash, double quote, newline.
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// A monitoring-plugins (Nagios, Icinga) verdict: `status --nagios`.
public struct NagiosCheck: Sendable, Hashable {
    /// The plugin states and their exit codes.
    public enum State: Int32, Sendable, Hashable {
        /// All is as the policy says.
        case ok = 0
        /// Worth a look: an audit warning, a rule expiring within the hour.
        case warning = 1
        /// The firewall is not what the policy says, or is missing, or exposes a sensitive port.
        case critical = 2
        /// The policy could not be read.
        case unknown = 3

        /// `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`.
        public var label: String { ["OK", "WARNING", "CRITICAL", "UNKNOWN"][Int(rawValue)] }
    }

    /// The state.
    public var state: State
    /// The one line: `PORTCTL OK - ... | rules=3 default_packets=12 drift=0`.
    public var line: String

    /// Thresholds on the packets refused on any one port (`status --nagios --warn-drops N
    /// --crit-drops M`): the check warns when the busiest port's count in the drop record is
    /// above `warning`, and is critical above `critical`. Bans are left out
    /// (``DropReport/refusedPerPort``).
    public struct DropThresholds: Sendable, Hashable {
        /// Above this many packets on one port: WARNING.
        public let warning: Int?
        /// Above this many packets on one port: CRITICAL.
        public let critical: Int?

        /// Checks the thresholds: packets, 0 or more, and `critical` no smaller than `warning`.
        public init(warning: Int? = nil, critical: Int? = nil) throws(PolicyError) {
            for (value, field) in [(warning, "--warn-drops"), (critical, "--crit-drops")] {
                if let value, value < 0 { throw .invalidValue("\(value)", field: field, allowed: ["a number of packets, 0 or more"]) }
            }
            if let warning, let critical, critical < warning {
                throw .invalidValue("\(critical)", field: "--crit-drops", allowed: ["a number of packets no smaller than --warn-drops (\(warning))"])
            }
            self.warning = warning
            self.critical = critical
        }

        /// Whether either threshold is set.
        public var isSet: Bool { warning != nil || critical != nil }
    }

    /// Judges a snapshot. `drift` is the number of changes the kernel differs by; `drops`, when
    /// set, judges the packets refused on each port (``MetricsSnapshot/drops``).
    public init(_ snapshot: MetricsSnapshot, drift: Int, drops thresholds: DropThresholds? = nil) {
        let effective = snapshot.policy.effective(at: snapshot.now)
        let soon = effective.rules.filter { rule in rule.expires.map { $0.timeIntervalSince(snapshot.now) < 3600 } ?? false }
        // Each problem with the state it calls for; the line names the worst first.
        var problems: [(state: State, text: String)] = []
        if !snapshot.tablePresent {
            problems.append((.critical, "table inet \(snapshot.policy.table) is not in the kernel"))
        } else if snapshot.dormant {
            problems.append((.critical, "table inet \(snapshot.policy.table) is dormant (switched off)"))
        } else if !snapshot.inSync {
            problems.append((.critical, "the kernel differs from the policy (\(drift) change\(drift == 1 ? "" : "s"); run portctl plan)"))
        }
        // Which finding: the first of its severity, in its own words ('|' starts performance data).
        func first(_ severity: Finding.Severity) -> String {
            snapshot.auditFindings.first { $0.severity == severity }
                .map { ": " + $0.message.replacingOccurrences(of: "|", with: "/") } ?? ""
        }
        if let high = snapshot.findings[.high], high > 0 {
            problems.append((.critical, Counted.text(high, "high audit finding") + first(.high) + (high > 1 ? " (and \(high - 1) more: portctl audit)" : "")))
        }
        if let warnings = snapshot.findings[.warning], warnings > 0 {
            problems.append((.warning, Counted.text(warnings, "audit warning") + first(.warning) + (warnings > 1 ? " (and \(warnings - 1) more: portctl audit)" : "")))
        }
        if !soon.isEmpty {
            problems.append((.warning, "\(soon.map(\.id).joined(separator: ", ")) expire\(soon.count == 1 ? "s" : "") within the hour"))
        }
        let perPort = snapshot.drops?.refusedPerPort ?? []
        if let thresholds, thresholds.isSet, snapshot.tablePresent {
            if let drops = snapshot.drops, let window = drops.keptSeconds {
                let busiest = perPort.first?.packets ?? 0
                let crossed: (state: State, limit: Int)? =
                    if let critical = thresholds.critical, busiest > critical { (.critical, critical) }
                    else if let warning = thresholds.warning, busiest > warning { (.warning, warning) }
                    else { nil }
                if let crossed, let top = perPort.first {
                    let over = perPort.filter { $0.packets > crossed.limit }.count
                    let next = over > 1 ? "\(Counted.text(over - 1, "more port")) over it: portctl drops" : "portctl drops --port \(top.port)/\(top.proto.rawValue)"
                    problems.append((crossed.state, "\(Counted.text(top.packets, "refused packet")) on \(top.port)/\(top.proto.rawValue) from sources seen in the last \(Planner.duration(window)) (threshold \(crossed.limit); \(next))"))
                }
            } else {
                problems.append((.unknown, "table inet \(snapshot.policy.table) keeps no drop record (defaults.drops: off, or made by an older portctl): --warn-drops and --crit-drops cannot be judged"))
            }
        }
        // Worst first; UNKNOWN (cannot judge) only where nothing worse was found.
        func rank(_ state: State) -> Int { [State.ok: 0, .unknown: 1, .warning: 2, .critical: 3][state]! }
        let state = problems.map(\.state).max { rank($0) < rank($1) } ?? .ok
        let ordered = problems.enumerated().sorted { (rank($1.element.state), $0.offset) < (rank($0.element.state), $1.offset) }.map(\.element.text)
        let rules = effective.rules.count + effective.forwards.count + effective.routes.count
        let summary = ordered.isEmpty ? "table inet \(snapshot.policy.table) matches the policy, \(rules) rule\(rules == 1 ? "" : "s")" : ordered.joined(separator: "; ")
        let defaultPackets = snapshot.counters[Renderer.inboundDefaultCounter]?.packets ?? 0
        var performance = "rules=\(rules) default_packets=\(defaultPackets)c drift=\(drift)"
        if snapshot.drops != nil {
            // label=value;warn;crit, empty slots at the end left out.
            var fields = ["\(perPort.first?.packets ?? 0)", thresholds?.warning.map(String.init) ?? "", thresholds?.critical.map(String.init) ?? ""]
            while fields.last == "" { fields.removeLast() }
            performance += " busiest_port_drops=" + fields.joined(separator: ";")
        }
        self.state = state
        line = "PORTCTL \(state.label) - \(summary) | \(performance)"
    }

    /// A critical line for a state the snapshot cannot describe (a foreign table in the way).
    public static func critical(_ reason: String) -> NagiosCheck {
        NagiosCheck(state: .critical, line: "PORTCTL CRITICAL - \(reason)")
    }

    /// The line for a policy that could not be read.
    public static func unknown(_ reason: String) -> NagiosCheck {
        NagiosCheck(state: .unknown, line: "PORTCTL UNKNOWN - \(reason)")
    }

    private init(state: State, line: String) {
        self.state = state
        self.line = line
    }
}
