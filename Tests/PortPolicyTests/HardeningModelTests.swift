import Foundation
import Testing
@testable import PortPolicy

/// The pure core's part of the hardening: what the lockout guard counts, how listings with flags
/// or emptied sets read, expired openings, saved plans' digests, and strict parsing.
@Suite struct HardeningModelTests {
    let client = IPAddress("198.51.100.2")!

    func rule(_ id: String, _ port: UInt16, from: String? = nil, expires: Date? = nil, limit: String? = nil) throws -> PortRule {
        var rule = PortRule(id: id, ports: [try PortRange(Int(port))], sources: try from.map { [try IPNetwork(parsing: $0)] } ?? [])
        rule.expires = expires
        rule.limit = try limit.map(RateLimit.init(parsing:))
        return rule
    }

    @Test(arguments: [
        ("198.51.100.2 50000 198.51.100.1 22", true),
        ("::ffff:198.51.100.2 50000 ::ffff:198.51.100.1 2222", true),
        ("fe80::2%eth0 50000 fe80::1%eth0 22", true),
        ("2001:db8::2 50000 2001:db8::1 22", true),
        ("garbage", false),
        ("198.51.100.2 50000 198.51.100.1", false),
        ("198.51.100.2 50000 198.51.100.1 22 extra", false),
        ("198.51.100.2  50000 198.51.100.1 22", false),
        ("198.51.100.2 50000 198.51.100.1 0", false),
        ("198.51.100.2 50000 198.51.100.1 65536", false),
        ("fe80::2% 50000 fe80::1 22", false),
        ("", false),
    ])
    func sshConnectionValues(_ value: String, _ readable: Bool) {
        #expect((SSHConnection(environmentValue: value) != nil) == readable, "\(value)")
    }

    @Test func aZoneNamesTheInterface() throws {
        let connection = try #require(SSHConnection(environmentValue: "fe80::2%eth0 50000 fe80::1%eth0 22"))
        #expect(connection.zone == "eth0" && connection.client == IPAddress("fe80::2"))
    }

    @Test func onlyLastingAllowsKeepTheAdminIn() throws {
        let now = Date()
        let connection = try #require(SSHConnection(environmentValue: "198.51.100.2 50000 198.51.100.1 22"))
        let expiring = try rule("ssh-tmp", 22, from: "198.51.100.2", expires: now.addingTimeInterval(90))
        let policy = PortPolicy(rules: [expiring])
        // Admitted now, locked out in 90 s: refused without a deadline, and with one before the expiry.
        #expect(policy.evaluate(Packet(source: client, port: 22, proto: .tcp, interface: nil), at: now).verdict == .accept)
        #expect(LockoutGuard.blockingDecision(policy, connection: connection, interface: nil, now: now) != nil)
        #expect(LockoutGuard.blockingDecision(policy, connection: connection, interface: nil, now: now,
                                              deadline: now.addingTimeInterval(120)) != nil)
        #expect(LockoutGuard.blockingDecision(policy, connection: connection, interface: nil, now: now,
                                              deadline: now.addingTimeInterval(60)) == nil)
        #expect(LockoutGuard.expiringAllow(policy, connection: connection, interface: nil, now: now)?.id == "ssh-tmp")
        let decision = try #require(LockoutGuard.blockingDecision(policy, connection: connection, interface: nil, now: now))
        #expect(LockoutGuard.refusal(decision, connection: connection, expiring: expiring).contains("once rule \"ssh-tmp\" expires"))
        // An expiring deny still blocks now.
        let deny = PortRule(id: "block", ports: [try PortRange(22)], action: .deny, sources: [try IPNetwork(parsing: "198.51.100.2")])
        var blocked = PortPolicy(rules: [deny, try rule("ssh", 22)])
        blocked.rules[0].expires = now.addingTimeInterval(30)
        #expect(LockoutGuard.blockingDecision(blocked, connection: connection, interface: nil, now: now) != nil)
    }

    @Test func aTightLimitOnTheRuleThatAdmitsSSHWarns() throws {
        let connection = try #require(SSHConnection(environmentValue: "198.51.100.2 50000 198.51.100.1 22"))
        let slow = PortPolicy(rules: [try rule("ssh", 22, limit: "1/day")])
        #expect(LockoutGuard.tightLimit(slow, connection: connection, interface: nil)?.contains("1/day") == true)
        let usual = PortPolicy(rules: [try rule("ssh", 22, limit: "6/minute")])
        #expect(LockoutGuard.tightLimit(usual, connection: connection, interface: nil) == nil)
    }

    @Test func keywordIdsAreRefusedAndOthersPass() throws {
        #expect(NftKeywords.words.count > 100)
        for word in NftKeywords.words {
            #expect(throws: PolicyError.self, "\(word)") { try PortRule.validateID(word) }
        }
        for id in ["ssh", "smtp-alt", "tcp-26", "accept-all", "rule.1", "TCP"] {
            #expect(throws: Never.self, "\(id)") { try PortRule.validateID(id) }
        }
    }

    @Test(arguments: ["198.51.100.0/024", "198.51.100.0/24\u{200B}", "\u{200B}198.51.100.0/24", "198.51.100.0/+24",
                      "198.51.100.0/ 24", "2001:db8::/032", "198.51.100.7\u{FEFF}"])
    func strictAddressText(_ text: String) {
        #expect(throws: PolicyError.self, "\(text)") { try IPNetwork(parsing: text) }
    }

    @Test func invisibleCharactersAreShownInMessages() {
        #expect(quoted("198.51.100.0/24\u{200B}") == "\"198.51.100.0/24\\u200b\"")
    }

    @Test func addressListsReadCRLFAndKeepLineNumbers() throws {
        let networks = try IPNetwork.parseList("# relays\r\n198.51.100.0/24\r\n\r\n203.0.113.0/24 # backup\r\n", name: "f")
        #expect(networks.map(\.description) == ["198.51.100.0/24", "203.0.113.0/24"])
        #expect(throws: PolicyError.invalidDocument("f, line 3: invalid address \"bad\": not an IPv4 or IPv6 address; expected a form like 10.0.0.0/8 or 2001:db8::/32")) {
            try IPNetwork.parseList("198.51.100.0/24\r\n\r\nbad\r\n", name: "f")
        }
    }

    @Test func tableFlagsInAListingMeanDrift() throws {
        let policy = PortPolicy(rules: [try rule("ssh", 22)])
        let model = Renderer.model(policy)
        // nft 1.0.6 prints a dormant table's flags as garbage; any value at all means flags.
        let listing = #"{"nftables": [{"table": {"family": "inet", "name": "portctl", "handle": 1, "flags": "Lester Gooch #5"}}]}"#
        #expect(try LiveTable.read(json: listing, table: "portctl")?.isDormant == true)
        var dormant = model
        dormant.flags = Table.dormantFlag
        #expect(dormant.fingerprint != model.fingerprint)
        let plan = Planner.plan(policy, live: dormant)
        #expect(plan.changes.contains { if case let .drift(text) = $0 { text.contains("dormant") } else { false } })
        #expect(plan.script.hasPrefix("add table inet portctl\n"))
        #expect(!plan.replacesTable)
    }

    @Test func aRuleWhoseSetIsEmptyMatchesNoOne() throws {
        let policy = PortPolicy(rules: [try rule("relays", 26, from: "198.51.100.0/24")])
        var live = Renderer.model(policy)
        let index = try #require(live.sets.firstIndex { $0.name == "relays-v4" })
        live.sets[index] = AddressSet(name: "relays-v4", family: .ipv4, elements: [])
        let plan = Planner.plan(policy, live: live)
        let text = plan.changes.map { PlanDocument.Change($0) }.compactMap(\.before).joined()
        #expect(text.contains("no one") && !text.contains("from any"), "\(plan.changes)")
    }

    @Test func anOpeningThatExpiredAsAskedIsNotDrift() throws {
        let start = Date()
        let policy = PortPolicy(rules: [try rule("ssh", 22), try rule("vendor", 8443, from: "203.0.113.7", expires: start.addingTimeInterval(60))])
        // What the kernel holds after the timeout: the rule, its counter, its emptied set.
        var live = Renderer.model(policy, now: start)
        for index in live.sets.indices where live.sets[index].name.hasPrefix("vendor") {
            live.sets[index] = AddressSet(name: live.sets[index].name, family: live.sets[index].family, elements: [], kind: .timed)
        }
        let later = start.addingTimeInterval(120)
        #expect(Planner.plan(policy, live: live, now: later).isEmpty)
        // Without the remnant the table matches too; with elements left it does not.
        #expect(Planner.plan(policy, live: Renderer.model(policy, now: later), now: later).isEmpty)
        #expect(!Planner.plan(policy, live: Renderer.model(policy, now: start), now: later).isEmpty)
    }

    @Test func aSavedPlanKnowsWhenItWasEdited() throws {
        let policy = PortPolicy(rules: [try rule("ssh", 22)])
        let plan = Planner.plan(policy, live: nil)
        var document = PlanDocument(plan: plan, policy: policy, policyFile: "/p.yaml", policyBytes: Array("x".utf8), live: nil)
        #expect(document.isIntact)
        let decoded = try PlanDocument.decode(Data(document.encoded().utf8))
        #expect(decoded.isIntact && decoded.plannedAt == document.plannedAt)
        document.script += "delete table inet other\n"
        #expect(!document.isIntact)
        document.digest = document.contentDigest
        document.policy.rules.removeAll()
        #expect(!document.isIntact)
        // The change list a reviewer reads is covered too.
        var changes = PlanDocument(plan: plan, policy: policy, policyFile: "/p.yaml", policyBytes: Array("x".utf8), live: nil)
        changes.changes = []
        changes.inSync = true
        #expect(!changes.isIntact)
    }

    @Test func ipv4MappedSourcesAreRefused() {
        #expect(throws: PolicyError.self) { try IPNetwork(parsing: "::ffff:198.51.100.2") }
        #expect(throws: PolicyError.self) { try IPNetwork(parsing: "::ffff:198.51.100.0/120") }
        #expect(throws: Never.self) { try IPNetwork(parsing: "::fffe:1") }
    }

    @Test func everyRenderedNameIsSafeToWriteBack() throws {
        let policy = try PolicyFile.decode(String(contentsOf: LiveTableTests.fixtures.appendingPathComponent("every-construct.yaml"), encoding: .utf8))
        #expect(Renderer.model(policy).namesAreSafe)
        var live = Renderer.model(policy)
        live.chains.append(Chain(name: "input\ndelete table inet victim", hook: nil, policy: nil))
        #expect(!live.namesAreSafe)
        let plan = Planner.plan(policy, live: live)
        #expect(plan.replacesTable && !plan.script.contains("victim"))
    }

    @Test(arguments: [
        #"{"nftables": [{"table": {"family": "inet", "name": "portctl"}}, {"chain": {"family": "inet", "table": "portctl", "name": "input"}}, {"rule": {"family": "inet", "table": "portctl", "chain": "input", "expr": "x"}}]}"#,
        #"{"nftables": [{"table": {"family": "inet", "name": "portctl"}}, {"rule": {"family": "inet", "table": "portctl", "chain": "input", "expr": []}}]}"#,
        #"{"nftables": [{"table": {"family": "inet", "name": "portctl"}}, {"chain": {"family": "inet", "table": "portctl", "name": "input"}}, {"rule": {"family": "inet", "table": "portctl", "chain": "input", "expr": ["accept"]}}]}"#,
        #"{"nftables": [{"table": {"family": "inet", "name": "portctl"}}, "x"]}"#,
        #"{"nftables": [{"table": {"family": "inet", "name": "portctl"}, "chain": {}}]}"#,
        #"{"nftables": [{"chain": {"name": "input"}}]}"#,
    ])
    func malformedListingsAreRefused(_ json: String) {
        #expect(throws: LiveTable.ReadError.self, "\(json)") { try LiveTable.read(json: json, table: "portctl") }
    }
}

/// When a set's elements are edited one by one and when it is replaced.
@Suite struct SetEditModelTests {
    func policy(_ count: Int, offset: Int = 0, extra: [String] = []) throws -> PortPolicy {
        // Every other address, so that nothing merges into a bigger block.
        var sources = try (0..<count).map { index in
            let value = 2 * (index + offset)
            return try IPNetwork(parsing: "10.\(value >> 16 & 255).\(value >> 8 & 255).\(value & 255)")
        }
        sources += try extra.map { try IPNetwork(parsing: $0) }
        return PortPolicy(rules: [PortRule(id: "big", ports: [try PortRange(26)], sources: sources)])
    }

    @Test func fewChangesAreElementEditsAndManyReplaceABigSet() throws {
        let live = Renderer.model(try policy(2000))
        let one = Planner.plan(try policy(2000, extra: ["192.0.2.0/24"]), live: live)
        #expect(one.script.contains("add element inet portctl big-v4 { 192.0.2.0/24 }") && !one.script.contains("delete set"), "\(one.script)")
        #expect(!one.script.contains("flush chain"), "no chain is rewritten for a changed element")
        let many = Planner.plan(try policy(2000, offset: 100), live: live)
        #expect(many.script.contains("delete set inet portctl big-v4") && !many.script.contains("delete element"), "100 deletions: a new set")
        let small = Renderer.model(try policy(500))
        let shifted = Planner.plan(try policy(500, offset: 100), live: small)
        #expect(shifted.script.contains("delete element") && !shifted.script.contains("delete set"), "a small set is always edited")
    }
}
