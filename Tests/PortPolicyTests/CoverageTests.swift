import Foundation
import Testing
@testable import PortPolicy

/// Coverage is computed, not spelled (issue 22): sources that together hold every address of a
/// family are "any source" for it wherever portctl judges exposure.
@Suite struct CoverageTests {
    static func networks(_ text: String) throws -> [IPNetwork] { try IPNetwork.parseCommaList(text) }

    static func rule(_ id: String = "relay", from text: String, action: RuleAction = .allow) throws -> PortRule {
        PortRule(id: id, ports: [try PortRange(26)], action: action, sources: try networks(text))
    }

    @Test(arguments: [
        ("0.0.0.0/0", [IPFamily.ipv4]),
        ("0.0.0.0/0, ::/0", [.ipv4, .ipv6]),
        ("0.0.0.0/1, 128.0.0.0/1", [.ipv4]),
        ("128.0.0.0/1, 0.0.0.0/2, 64.0.0.0/2, ::/1, 8000::/1", [.ipv4, .ipv6]),
        ("0.0.0.0/1, 128.0.0.0/2, 192.0.0.0/3, 224.0.0.0/3", [.ipv4]),
        ("0.0.0.0/1, 128.0.0.0/2, 192.0.0.0/3, 224.0.0.0/4", []),
        ("0.0.0.0/1, ::/1", []),
        ("198.51.100.0/24, 2001:db8::/32", []),
    ])
    func wholeFamiliesAreComputed(_ sources: String, _ whole: [IPFamily]) throws {
        let rule = try Self.rule(from: sources)
        #expect(rule.wholeFamilies == whole)
        #expect(rule.admitsAnySource == !whole.isEmpty)
        #expect(rule.admitsEveryAddress == (whole.count == 2))
    }

    @Test func aRuleWithoutSourcesIsAnyAndAnEmptiedFileIsNoOne() throws {
        #expect(PortRule(id: "web", ports: [try PortRange(80)]).admitsEveryAddress)
        var fromFile = PortRule(id: "relay", ports: [try PortRange(26)])
        fromFile.sourceFiles = [SourceFile(path: "/etc/portctl/relays.txt")]
        try fromFile.resolveSourceFiles { _ in [] }
        #expect(!fromFile.admitsAnySource)
        let halves = try Self.networks("0.0.0.0/1, 128.0.0.0/1")
        try fromFile.resolveSourceFiles { _ in halves }
        #expect(fromFile.wholeFamilies == [.ipv4])
    }

    @Test func auditReportsEveryAddressAsOpenToAny() throws {
        let listener = Listener(proto: .tcp, address: "0.0.0.0", port: 26)
        for sources in ["0.0.0.0/0, ::/0", "0.0.0.0/1, 128.0.0.0/1, ::/0", "0.0.0.0/0"] {
            let policy = PortPolicy(rules: [try Self.rule(from: sources)])
            let findings = ExposureAudit.findings(policy, listeners: [listener])
            let open = try #require(findings.first { $0.kind == "sensitive-open-to-any" }, "\(sources): \(findings)")
            #expect(open.severity == .high)
            #expect(open.message.contains(sources == "0.0.0.0/0" ? "any IPv4 source (0.0.0.0/0)" : "any source"))
        }
        // Some sources only: no finding about any source.
        let some = PortPolicy(rules: [try Self.rule(from: "0.0.0.0/1, 2001:db8::/32")])
        #expect(!ExposureAudit.findings(some, listeners: [listener]).contains { $0.kind.hasSuffix("open-to-any") })
        // A block for every address spelled out blocks, like one without sources.
        let blocked = PortPolicy(inbound: .accept, rules: [try Self.rule("no-smtp", from: "0.0.0.0/0, ::/0", action: .deny)])
        #expect(ExposureAudit.exposure(blocked, port: 26, proto: .tcp) == .blocked(blocked.rules[0]))
    }

    @Test func metricsAndExplainSayAny() throws {
        let policy = PortPolicy(rules: [try Self.rule(from: "0.0.0.0/0, ::/0"), try Self.rule("some", from: "198.51.100.0/24")])
        let snapshot = MetricsSnapshot(policy: policy, tablePresent: true, dormant: false, inSync: true, counters: [:],
                                       lastApply: nil, findings: [:])
        #expect(snapshot.text.contains("portctl_rule_open_to_any{id=\"relay\",family=\"ipv4\"} 1"))
        #expect(snapshot.text.contains("portctl_rule_open_to_any{id=\"relay\",family=\"ipv6\"} 1"))
        #expect(snapshot.text.contains("portctl_rule_open_to_any{id=\"some\",family=\"ipv4\"} 0"))
        let explanation = policy.explain(Packet(source: IPAddress("203.0.113.9")!, port: 26, proto: .tcp))
        #expect(explanation.message.contains("from 0.0.0.0/0, ::/0 (every address)"), "\(explanation.message)")
    }
}

/// Removing part of a range splits it (issues 16 and 22): `close 27 --from 198.51.100.128/25` on
/// a rule for 198.51.100.0/24 keeps 198.51.100.0/25.
@Suite struct SplitTests {
    static func request(_ sources: String) throws -> PortRequest {
        PortRequest(spec: PortSpec(ports: [try PortRange(27)], proto: .tcp), sources: try IPNetwork.parseCommaList(sources))
    }

    @Test func subtractingLeavesTheFewestBlocks() throws {
        let list = IPNetwork.parseCommaList
        #expect(IPNetwork.subtracting(try list("198.51.100.128/25"), from: try list("198.51.100.0/24")) == (try list("198.51.100.0/25")))
        #expect(IPNetwork.subtracting(try list("198.51.100.7"), from: try list("198.51.100.0/29")) == (try list("198.51.100.0/30, 198.51.100.4/31, 198.51.100.6")))
        #expect(IPNetwork.subtracting(try list("0.0.0.0/0"), from: try list("198.51.100.0/24, 2001:db8::/32")) == (try list("2001:db8::/32")))
        #expect(IPNetwork.subtracting(try list("2001:db8::/33"), from: try list("2001:db8::/32")) == (try list("2001:db8:8000::/33")))
        #expect(IPNetwork.subtracting(try list("203.0.113.0/24"), from: try list("198.51.100.0/24")) == (try list("198.51.100.0/24")))
    }

    @Test func closingPartOfARangeSplitsIt() throws {
        var policy = PortPolicy()
        _ = try policy.open(Self.request("198.51.100.0/24, 203.0.113.0/24"))
        let changes = try policy.close(Self.request("198.51.100.128/25"))
        #expect(policy.rules.count == 1)
        #expect(policy.rules[0].sources == (try IPNetwork.parseCommaList("198.51.100.0/25, 203.0.113.0/24")))
        guard case .narrowed = changes.first else { Issue.record("\(changes)"); return }
        // Closing what is left of it removes it; an unrelated network is still refused.
        _ = try policy.close(Self.request("198.51.100.0/25"))
        #expect(policy.rules[0].sources == (try IPNetwork.parseCommaList("203.0.113.0/24")))
        #expect(throws: PolicyError.self) { try policy.close(Self.request("192.0.2.0/24")) }
        // The last part of the last network goes with the rule: it never widens to any source.
        _ = try policy.close(Self.request("203.0.113.0/24"))
        #expect(policy.rules.isEmpty)
    }
}

/// What nft would refuse is refused at validation (issue 22): operator words as ids, expiries
/// past the kernel's longest timeout; long timeouts are written so that nft 1.0.6 reads them.
@Suite struct NftLimitTests {
    @Test(arguments: ["and", "or", "xor", "not", "lt", "gt", "le", "ge", "eq", "ne", "lshift", "rshift"])
    func operatorWordsAreNotIds(_ id: String) {
        #expect(throws: PolicyError.self) { try PortRule.validateID(id) }
    }

    @Test func longTimeoutsAreDaysAndSecondsAndTooLongOnesAreRefused() throws {
        #expect(NftTimeout.text(600) == "600s")
        #expect(NftTimeout.text(99_999_999) == "99999999s")
        #expect(NftTimeout.text(100_054_800) == "1158d3600s")
        var rule = PortRule(id: "later", ports: [try PortRange(26)])
        rule.expires = Date().addingTimeInterval(40 * 365 * 86_400)
        try rule.validate()
        let set = Renderer.model(PortPolicy(rules: [rule])).set("later-v4")
        #expect(set?.expiresIn.map(NftTimeout.text)?.contains("d") == true)
        rule.expires = Date().addingTimeInterval(Double(NftTimeout.maximumSeconds) + 86_400)
        #expect(throws: PolicyError.self) { try rule.validate() }
    }
}

/// Outbound rules say what they do (issue 22): ids that say outbound, @FILE destinations, and
/// notes when an outbound rule changes nothing or the outbound default stops DNS and updates.
@Suite struct OutboundTests {
    @Test func outboundRulesAreNamedAndExplained() throws {
        var policy = PortPolicy()
        let request = PortRequest(spec: PortSpec(ports: [try PortRange(26)], proto: .tcp),
                                  sources: [try IPNetwork(parsing: "198.51.100.0/24")], direction: .out)
        let added = try policy.open(request)
        #expect(policy.rules[0].id == "allow-out-tcp-26")
        #expect(policy.outboundNotes(after: [added]).first?.contains("changes nothing") == true)
        #expect(policy.defaultsSummary == "inbound default drop, outbound default accept")
        policy.outbound = .drop
        let notes = policy.outboundNotes(after: [.defaultChanged("outbound", from: "accept", to: "drop")])
        #expect(notes.count == 1 && notes[0].contains("DNS (53), NTP (123/udp)"), "\(notes)")
        #expect(policy.defaultsSummary == "inbound default drop, outbound default drop")
        #expect(PortPolicy(outbound: .drop).defaultsSummary.contains("not in force until an outbound rule exists"))
        #expect(PortPolicy().defaultsSummary == "inbound default drop")
    }

    @Test func outboundDestinationsMayComeFromAFile() throws {
        let text = "table: portctl\nrules:\n  - id: allow-tcp-26\n    direction: out\n    ports: [26]\n    to: [\"@/etc/portctl/relays.txt\"]\n"
        let relays = try IPNetwork.parseCommaList("198.51.100.0/24")
        let policy = try PolicyFile.decode(text) { _ in relays }
        let rule = try #require(policy.rule(id: "allow-tcp-26"), "an old outbound id is read as it is")
        #expect(rule.direction == .out && rule.sources == relays && rule.readsFiles)
        #expect(PolicyFile.encode(policy).contains("to: [\"@/etc/portctl/relays.txt\"]"))
        #expect(Renderer.table(policy).contains("ip daddr @allow-tcp-26-v4 tcp dport 26"))
    }
}

/// What people read is true (issue 22): counts in the singular for one, an address file shown
/// as the file and what it holds.
@Suite struct WordingTests {
    @Test func countsAreSingularForOne() {
        #expect(Counted.traffic(packets: 1, bytes: 60) == "1 packet, 60 bytes")
        #expect(Counted.traffic(packets: 0, bytes: 1) == "0 packets, 1 byte")
        #expect(Counted.text(1, "address", plural: "addresses") == "1 address")
    }

    @Test func anAddressFileIsShownAsTheFileAndWhatItHolds() throws {
        var rule = PortRule(id: "relays", ports: [try PortRange(26)])
        rule.inlineSources = [try IPNetwork(parsing: "198.51.100.10")]
        rule.sourceFiles = [SourceFile(path: "/etc/portctl/relays.txt")]
        let held = try IPNetwork.parseCommaList("198.51.100.10, 198.51.100.11, 198.51.100.12")
        try rule.resolveSourceFiles { _ in held }
        #expect(rule.addressesCell == "198.51.100.10, @/etc/portctl/relays.txt (3 addresses: 198.51.100.10, 198.51.100.11, ...)")
        try rule.resolveSourceFiles { _ in [] }
        #expect(rule.addressesCell == "198.51.100.10, @/etc/portctl/relays.txt (empty: no one)")
        #expect(PortRule(id: "web", ports: [try PortRange(80)]).addressesCell == "any")
        let all = PortRule(id: "all", ports: [try PortRange(80)], sources: try IPNetwork.parseCommaList("0.0.0.0/0, ::/0"))
        #expect(all.addressesCell == "0.0.0.0/0, ::/0 (every address)")
    }
}

/// portctl's own first-run SSH rule is informational where nothing listens on its port, and the
/// Nagios line names the finding behind its state (issue 22).
@Suite struct FirstRunFindingTests {
    @Test func theFirstRunRuleIsForTheRecordAndTheAdminsIsAWarning() throws {
        let first = ExposureAudit.findings(PortPolicy.firstRun(), listeners: [])
        #expect(first.count == 1 && first[0].severity == .info && first[0].kind == "stale-opening", "\(first)")
        #expect(first[0].message.contains("written by portctl's first run"))
        var own = PortPolicy.firstRun()
        own.rules[0].comment = "bastion"
        #expect(ExposureAudit.findings(own, listeners: []).map(\.severity) == [.warning])
    }

    @Test func nagiosNamesTheFinding() throws {
        var policy = PortPolicy.firstRun()
        policy.rules.append(PortRule(id: "relay", ports: [try PortRange(2526)], sources: [try IPNetwork(parsing: "198.51.100.0/24")]))
        let found = ExposureAudit.findings(policy, listeners: [])
        var snapshot = MetricsSnapshot(policy: policy, tablePresent: true, dormant: false, inSync: true, counters: [:], lastApply: nil,
                                       findings: Dictionary(grouping: found, by: \.severity).mapValues(\.count))
        snapshot.auditFindings = found
        let check = NagiosCheck(snapshot, drift: 0)
        #expect(check.state == .warning)
        #expect(check.line.hasPrefix("PORTCTL WARNING - 1 audit warning: rule \"relay\" opens 2526/tcp but nothing listens there"), "\(check.line)")
        #expect(check.line.split(separator: "|").count == 2, "\(check.line)")
        // Only the first-run rule, nothing listening: OK.
        var quiet = MetricsSnapshot(policy: .firstRun(), tablePresent: true, dormant: false, inSync: true, counters: [:], lastApply: nil,
                                    findings: [.info: 1])
        quiet.auditFindings = ExposureAudit.findings(.firstRun(), listeners: [])
        #expect(NagiosCheck(quiet, drift: 0).state == .ok)
    }
}
