import Foundation
import Testing
import PortPolicy

/// `status --nagios --warn-drops N --crit-drops M`: the packets refused on any one port, from
/// the drop record (issue 24).
@Suite struct NagiosDropsTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func refused(_ source: String, _ port: UInt16, _ packets: Int, _ reason: DropReason = DropReason(.inboundDefault),
                        proto: TransportProtocol = .tcp) -> DroppedConnection {
        DroppedConnection(source: IPAddress(source)!, proto: proto, port: port, reason: reason, packets: packets, lastSeen: now)
    }

    static func snapshot(_ connections: [DroppedConnection]?, inSync: Bool = true, kept: Int = 600) -> MetricsSnapshot {
        var policy = PortPolicy.firstRun()
        policy.rules.append(PortRule(id: "relay", ports: [try! PortRange(26)], sources: [try! IPNetwork(parsing: "198.51.100.0/24")]))
        var snapshot = MetricsSnapshot(policy: policy, tablePresent: true, dormant: false, inSync: inSync, counters: [:], lastApply: nil,
                                       findings: [:], now: now)
        snapshot.drops = connections.map { DropReport(connections: DropReport.sorted($0), keptSeconds: kept, capacity: 65_536, unrecorded: 0) }
        return snapshot
    }

    static func check(_ snapshot: MetricsSnapshot, drift: Int = 0, warning: Int? = nil, critical: Int? = nil) throws -> NagiosCheck {
        NagiosCheck(snapshot, drift: drift, drops: try NagiosCheck.DropThresholds(warning: warning, critical: critical))
    }

    /// Two sources and two reasons on 26/tcp add up; the ban on 22 is left out.
    static let busy = [refused("203.0.113.9", 26, 500), refused("203.0.113.10", 26, 200, DropReason(.limit, ruleID: "relay")),
                       refused("203.0.113.11", 26, 112, DropReason(.rule, ruleID: "relay")), refused("203.0.113.9", 22, 5000, DropReason(.ban)),
                       refused("203.0.113.12", 53, 40, proto: .udp)]

    @Test func aBusyPortWarnsNamingThePortTheCountAndTheThreshold() throws {
        let check = try Self.check(Self.snapshot(Self.busy), warning: 500, critical: 1000)
        #expect(check.state == .warning)
        #expect(check.line == "PORTCTL WARNING - 812 refused packets on 26/tcp from sources seen in the last 10m (threshold 500; portctl drops --port 26/tcp) | rules=2 default_packets=0c drift=0 busiest_port_drops=812;500;1000", "\(check.line)")
    }

    @Test func aboveCriticalIsCriticalAndCountsTheOtherPortsOverIt() throws {
        let more = Self.busy + [Self.refused("198.51.100.7", 25, 300), Self.refused("198.51.100.8", 2525, 301)]
        let check = try Self.check(Self.snapshot(more, kept: 90), warning: 100, critical: 300)
        #expect(check.state == .critical)
        #expect(check.line.hasPrefix("PORTCTL CRITICAL - 812 refused packets on 26/tcp from sources seen in the last 1m30s (threshold 300; 1 more port over it: portctl drops) | "), "\(check.line)")
        #expect(check.line.hasSuffix(" busiest_port_drops=812;100;300"), "\(check.line)")
    }

    @Test(arguments: [[812, -1], [-1, 812], [5000, 6000]])
    func atOrUnderTheThresholdsIsOK(_ pair: [Int]) throws {
        let (warning, critical) = (pair[0] < 0 ? nil : pair[0], pair[1] < 0 ? nil : pair[1])
        let check = try Self.check(Self.snapshot(Self.busy), warning: warning, critical: critical)
        #expect(check.state == .ok, "\(check.line)")
        #expect(check.line.contains("matches the policy"), "\(check.line)")
    }

    @Test func withoutThresholdsThePerformanceDataStillCarriesTheBusiestPort() throws {
        let check = try Self.check(Self.snapshot(Self.busy))
        #expect(check.state == .ok && check.line.hasSuffix("drift=0 busiest_port_drops=812"), "\(check.line)")
        let quiet = try Self.check(Self.snapshot([]), warning: 0)
        #expect(quiet.state == .ok && quiet.line.hasSuffix("busiest_port_drops=0;0"), "\(quiet.line)")
        // No drop record, no thresholds: the line is as it always was.
        let old = NagiosCheck(Self.snapshot(nil), drift: 0)
        #expect(old.line.hasSuffix("| rules=2 default_packets=0c drift=0"), "\(old.line)")
    }

    @Test func thresholdsWithoutADropRecordCannotBeJudged() throws {
        let unknown = try Self.check(Self.snapshot(nil), warning: 500)
        #expect(unknown.state == .unknown)
        #expect(unknown.line.hasPrefix("PORTCTL UNKNOWN - table inet portctl keeps no drop record (defaults.drops: off, or made by an older portctl): --warn-drops and --crit-drops cannot be judged | "), "\(unknown.line)")
        // Something worse wins, and comes first.
        let drift = try Self.check(Self.snapshot(nil, inSync: false), drift: 2, critical: 500)
        #expect(drift.state == .critical)
        #expect(drift.line.hasPrefix("PORTCTL CRITICAL - the kernel differs from the policy (2 changes; run portctl plan); table inet portctl keeps no drop record"), "\(drift.line)")
    }

    @Test func theWorstProblemComesFirst() throws {
        var snapshot = Self.snapshot(Self.busy)
        let finding = ExposureAudit.findings(snapshot.policy, listeners: []).filter { $0.severity == .warning }
        snapshot.findings = [.warning: finding.count]
        snapshot.auditFindings = finding
        let check = try Self.check(snapshot, warning: 100, critical: 800)
        #expect(check.state == .critical)
        #expect(check.line.hasPrefix("PORTCTL CRITICAL - 812 refused packets on 26/tcp") && check.line.contains("; 1 audit warning: rule \"relay\""), "\(check.line)")
    }

    @Test func perPortSumsLeaveBansOutAndPutTheBusiestFirst() {
        let report = DropReport(connections: DropReport.sorted(Self.busy), keptSeconds: 600, capacity: 65_536, unrecorded: 0)
        #expect(report.refusedPerPort.map { "\($0.port)/\($0.proto.rawValue)=\($0.packets)" } == ["26/tcp=812", "53/udp=40"])
    }

    @Test(arguments: [
        (-1 as Int?, nil as Int?, #"invalid --warn-drops "-1": use a number of packets, 0 or more"#),
        (nil, -5, #"invalid --crit-drops "-5": use a number of packets, 0 or more"#),
        (500, 100, #"invalid --crit-drops "100": use a number of packets no smaller than --warn-drops (500)"#),
    ])
    func badThresholdsNameTheValue(_ warning: Int?, _ critical: Int?, _ message: String) {
        #expect {
            try NagiosCheck.DropThresholds(warning: warning, critical: critical)
        } throws: { error in
            "\(error)" == message && (error as? any PortctlError)?.category == .usage
        }
    }
}
