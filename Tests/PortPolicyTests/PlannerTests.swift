import Foundation
import Testing
@testable import PortPolicy

@Suite struct LiveTableTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func fixture(_ name: String) throws -> String {
        try String(contentsOf: fixtures.appendingPathComponent(name), encoding: .utf8)
    }

    static var everyConstruct: PortPolicy {
        get throws { try PolicyFile.decode(fixture("every-construct.yaml")) }
    }

    /// every-construct.json was listed by the kernel (nft 1.0.6) right after applying
    /// every-construct.yaml: reading it back must give exactly the rendered model.
    @Test func kernelListingReadsBackAsTheRenderedModel() throws {
        let policy = try Self.everyConstruct
        let live = try #require(try LiveTable.read(json: Self.fixture("every-construct.json"), table: "portctl"))
        let desired = Renderer.model(policy)
        #expect(live.chains == desired.chains)
        #expect(Set(live.sets) == Set(desired.sets))
        #expect(Set(live.counters) == Set(desired.counters))
        #expect(live.unknownObjects.isEmpty)
        let plan = Planner.plan(policy, live: live)
        #expect(plan.isEmpty, "\(plan.changes)")
        #expect(plan.script.isEmpty)
    }

    /// Expects a captured listing to read back as the policy's rendered model (chains, sets,
    /// counters, nothing unknown) and to plan nothing; returns the moment it was made, from the
    /// time-boxed rules' countdowns (now when there are none).
    static func expectReadsBackAsRendered(_ policy: PortPolicy, _ live: Table) throws -> Date {
        var now = Date()
        if let expires = policy.rules.compactMap(\.expires).first {
            let left = try #require(live.sets.compactMap(\.expiresIn).max(), "the listing carries the countdowns")
            now = expires.addingTimeInterval(-Double(left))
        }
        let desired = Renderer.model(policy, now: now)
        #expect(live.chains == desired.chains)
        #expect(Set(live.sets) == Set(desired.sets))
        #expect(Set(live.counters) == Set(desired.counters))
        #expect(live.unknownObjects.isEmpty, "\(live.unknownObjects)")
        let plan = Planner.plan(policy, live: live, now: now)
        #expect(plan.isEmpty, "\(plan.changes)")
        return now
    }

    /// More listings captured from nft 1.0.6 right after applying the policy next to them: the
    /// per-source meters of `limit`, `log` statements, timed sets of `expires` (with their
    /// countdowns) and the verdict-map dispatch of more than 32 rules. Each must read back as the
    /// rendered model, and plan nothing.
    @Test(arguments: ["limit-and-log", "timed", "dispatch", "routing"])
    func capturedListingsReadBackAsTheRenderedModel(_ name: String) throws {
        let policy = try PolicyFile.decode(Self.fixture(name + ".yaml"))
        let live = try #require(try LiveTable.read(json: Self.fixture(name + ".json"), table: "portctl"))
        _ = try Self.expectReadsBackAsRendered(policy, live)
        switch name {
        case "limit-and-log":
            #expect(live.sets.contains { if case .meter = $0.kind { true } else { false } })
            #expect(live.chains.flatMap(\.rules).contains { $0.statements.contains { if case .log = $0 { true } else { false } } })
        case "timed":
            #expect(live.sets.contains { $0.kind == .timed && $0.expiresIn != nil })
        case "routing":
            let statements = live.chains.flatMap(\.rules).flatMap(\.statements)
            #expect(statements.contains(.dnat(family: "ip", address: "203.0.113.2", port: 2525)))
            #expect(statements.contains(.masquerade) && statements.contains(.goto("routed")))
            #expect(live.chain("prerouting")?.type == "nat" && live.chain("routed") != nil)
        default:
            #expect(live.chains.flatMap(\.rules).contains { $0.statements.contains { if case .dispatch = $0 { true } else { false } } })
            #expect(live.chains.count > 32)
        }
    }

    /// The same policies in the kernel, listed by nft 1.1.3 (Debian 13's, from a debootstrap tree):
    /// `nft-1.1.3` with /etc/protocols, `nft-1.1.3-numeric` without it (no netbase, as in a
    /// minbase tree or a container image), where nft lists TCP and UDP as 6 and 17 in `meta
    /// l4proto` matches, verdict-map keys and drop-record elements. 1.1.3 also lists chains before
    /// counters and sets, and dynamic sets with flags `timeout, dynamic` (1.0.6: `timeout`). Each
    /// reads back as the rendered model and plans nothing; the drop record's elements are read.
    /// (Captured 2026-12-05: each policy applied with `portctl apply` in a namespace, the four
    /// drop-record elements of drops.json added with `nft add element`, then listed with
    /// `chroot TREE nft -j list table inet portctl`, with and without the host's /etc/protocols
    /// copied into the tree.)
    @Test(arguments: ["nft-1.1.3", "nft-1.1.3-numeric"], ["every-construct", "limit-and-log", "timed", "dispatch", "routing", "drops"])
    func nft11ListingsReadBackAsTheRenderedModel(_ folder: String, _ name: String) throws {
        let policy = try PolicyFile.decode(Self.fixture(name + ".yaml"))
        let json = try Self.fixture(folder + "/" + name + ".json")
        #expect(json.contains("\"version\": \"1.1.3\""))
        let live = try #require(try LiveTable.read(json: json, table: "portctl"))
        let now = try Self.expectReadsBackAsRendered(policy, live)
        if name == "drops" {
            let connections = DropReport.connections(json: json, keptSeconds: 600, ruleIDs: policy.rules.map(\.id) + policy.routes.map(\.id), now: now)
            #expect(Set(connections.map { "\($0.source) \($0.port)/\($0.proto.rawValue) \($0.reason.description)" })
                    == ["203.0.113.2 27/tcp the inbound default", "203.0.113.2 3306/tcp rule block",
                        "198.51.100.7 80/tcp the rate limit of web", "2001:db8::9 53/udp a ban"])
        }
    }

    /// Someone's DNAT that names its protocol by number (`meta l4proto 6`, a host without
    /// /etc/protocols) is still a published port.
    @Test func aPublishedPortListedWithAProtocolNumberIsSeen() {
        let listing = "table ip nat {\n\tchain prerouting {\n\t\tmeta l4proto 6 th dport 8080 dnat to 192.0.2.2:80\n\t\tmeta l4proto 17 th dport 5353 dnat to 192.0.2.2:53\n\t}\n}\n"
        let ports = PublishedPort.parse(listing: listing, table: "ip nat")
        #expect(ports.map { "\($0.ports)/\($0.proto.rawValue) \($0.target ?? "")" } == ["8080/tcp 192.0.2.2:80", "5353/udp 192.0.2.2:53"])
    }

    @Test func otherTablesAndMissingTables() throws {
        #expect(try LiveTable.read(json: Self.fixture("every-construct.json"), table: "other") == nil)
        #expect(throws: LiveTable.ReadError.self) { try LiveTable.read(json: "[]", table: "portctl") }
        #expect(throws: LiveTable.ReadError.self) { try LiveTable.read(json: "not json", table: "portctl") }
    }

    @Test func driftMadeByHandIsNamedAndFixedWithoutRewritingTheTable() throws {
        let policy = try Self.everyConstruct
        let live = try #require(try LiveTable.read(json: Self.fixture("drifted.json"), table: "portctl"))
        let plan = Planner.plan(policy, live: live)
        let drift = plan.changes.compactMap { if case let .drift(text) = $0 { text } else { nil } }
        #expect(drift.contains { $0.contains("tcp dport 9999 accept") })
        #expect(drift.contains { $0.contains("sneaky") })
        #expect(drift.contains { $0.contains("set extra") })
        #expect(drift.contains { $0.contains("counter stray") })
        #expect(plan.changes.contains(.changeSources(id: "smtp-alt", added: [], removed: [try IPNetwork(parsing: "192.0.2.0/24")])))
        #expect(!plan.replacesTable)
        #expect(!plan.script.contains("delete table"))
        #expect(plan.script.contains("delete set inet portctl extra"))
        #expect(plan.script.contains("delete counter inet portctl stray"))
        // Counters of rules that stay are never deleted or re-added.
        for id in policy.rules.map(\.id) {
            #expect(!plan.script.contains("counter inet portctl \(id)\n"), "\(id)")
        }
    }
}

@Suite struct PlannerTests {
    func policy(_ rules: [PortRule], inbound: InboundDefault = .drop) -> PortPolicy {
        PortPolicy(inbound: inbound, rules: rules)
    }

    func rule(_ id: String, _ ports: [Int], from: [String] = [], action: RuleAction = .allow,
              proto: TransportProtocol = .tcp, interface: String? = nil) throws -> PortRule {
        PortRule(id: id, ports: try ports.map { try PortRange($0) }, proto: proto, action: action,
                 sources: try from.map { try IPNetwork(parsing: $0) }, interface: interface)
    }

    /// The live table after applying `policy` (the renderer's model is what the kernel lists;
    /// LiveTableTests prove that against a real listing).
    func live(_ policy: PortPolicy) -> Table { Renderer.model(policy) }

    @Test func missingTableIsCreatedWholesale() throws {
        let wanted = policy([try rule("a", [26])])
        let plan = Planner.plan(wanted, live: nil)
        #expect(plan.changes == [.createTable, .addRule(id: "a", summary: "allow 26/tcp from any")])
        #expect(plan.script == Renderer.replaceBatch(wanted).text)
        #expect(plan.replacesTable)
    }

    @Test func matchingKernelMeansAnEmptyPlanAndNoScript() throws {
        let wanted = policy([try rule("a", [26], from: ["10.0.0.0/8"]), try rule("b", [23], action: .deny)])
        let plan = Planner.plan(wanted, live: live(wanted))
        #expect(plan.isEmpty)
        #expect(plan.script == "")
    }

    @Test func everyKindOfChange() throws {
        let before = policy([
            try rule("keep", [22]),
            try rule("grow", [26], from: ["10.0.0.0/8", "192.0.2.0/24"]),
            try rule("ports", [80]),
            try rule("gone", [9000]),
            try rule("widen", [27], from: ["198.51.100.0/24"]),
        ])
        let after = policy([
            try rule("keep", [22]),
            try rule("grow", [26], from: ["10.0.0.0/8", "203.0.113.0/24"]),
            try rule("ports", [80, 443]),
            try rule("widen", [27]),
            try rule("new", [25], action: .reject),
        ], inbound: .reject)
        let plan = Planner.plan(after, live: live(before))
        #expect(plan.changes.contains(.changeDefault(.in, from: "drop", to: "reject")))
        #expect(plan.changes.contains(.changeSources(id: "grow", added: [try IPNetwork(parsing: "203.0.113.0/24")],
                                                     removed: [try IPNetwork(parsing: "192.0.2.0/24")])))
        #expect(plan.changes.contains(.changeRule(id: "ports", before: "allow 80/tcp from any", after: "allow 80,443/tcp from any")))
        #expect(plan.changes.contains(.changeRule(id: "widen", before: "allow 27/tcp from 198.51.100.0/24", after: "allow 27/tcp from any")))
        #expect(plan.changes.contains(.removeRule(id: "gone", summary: "allow 9000/tcp from any")))
        #expect(plan.changes.contains(.addRule(id: "new", summary: "reject 25/tcp from any")))
        #expect(!plan.changes.contains { $0.isDrift })
        #expect(!plan.changes.contains { if case .changeRule(id: "keep", _, _) = $0 { true } else { false } })
        // The batch keeps the counters of rules that stay and removes only the gone rule's.
        #expect(plan.script.contains("delete counter inet portctl gone\n"))
        #expect(plan.script.contains("add counter inet portctl new\n"))
        #expect(!plan.script.contains("counter inet portctl keep\n"))
        #expect(!plan.script.contains("counter inet portctl grow\n"))
        #expect(!plan.script.contains("add chain"), "a reject default keeps the chain policy drop")
        #expect(!plan.replacesTable)
    }

    @Test func acceptDefaultChangesTheChainPolicyInPlace() throws {
        let before = policy([try rule("a", [26])])
        var after = before
        after.inbound = .accept
        let plan = Planner.plan(after, live: live(before))
        #expect(plan.changes == [.changeDefault(.in, from: "drop", to: "accept")])
        #expect(plan.script.contains("add chain inet portctl input { type filter hook input priority filter; policy accept; }"))
    }

    @Test func commentChangeIsNamed() throws {
        var before = try rule("a", [26])
        before.comment = "old"
        var after = before
        after.comment = "new"
        let plan = Planner.plan(policy([after]), live: live(policy([before])))
        #expect(plan.changes == [.changeRule(id: "a", before: "comment \"a: old\"", after: "comment \"a: new\"")])
    }

    @Test func outboundChainComesAndGoes() throws {
        var out = try rule("dns", [53], from: ["198.51.100.53"], proto: .udp)
        out.direction = .out
        let without = policy([try rule("a", [26])])
        let with = policy([try rule("a", [26]), out])
        let adding = Planner.plan(with, live: live(without))
        #expect(adding.changes == [.addRule(id: "dns", summary: "allow 53/udp to 198.51.100.53")])
        #expect(adding.script.contains("add chain inet portctl output { type filter hook output priority filter; policy accept; }"))
        let removing = Planner.plan(without, live: live(with))
        #expect(removing.changes == [.removeRule(id: "dns", summary: "allow 53/udp to 198.51.100.53")])
        #expect(removing.script.contains("delete chain inet portctl output"))
    }

    @Test func reorderedRulesAreDrift() throws {
        let wanted = policy([try rule("a", [26]), try rule("b", [27])])
        var reordered = live(wanted)
        let rules = reordered.chains[0].rules
        let a = rules.firstIndex { $0.ruleID == "a" }!, b = rules.firstIndex { $0.ruleID == "b" }!
        reordered.chains[0].rules.swapAt(a, b)
        let plan = Planner.plan(wanted, live: reordered)
        #expect(plan.changes.count == 1)
        #expect(plan.changes.first?.isDrift == true)
    }

    @Test func planDocumentRoundTripsAndFingerprintsIgnoreNothingThatMatters() throws {
        let wanted = policy([try rule("a", [26], from: ["10.0.0.0/8"])])
        let plan = Planner.plan(wanted, live: nil)
        let text = PolicyFile.encode(wanted)
        let document = PlanDocument(plan: plan, policy: wanted, policyFile: "/p.yaml", policyBytes: Array(text.utf8), live: nil)
        let decoded = try PlanDocument.decode(Data(document.encoded().utf8))
        #expect(decoded == document)
        #expect(decoded.liveDigest == "none")
        #expect(PlanDocument.digest(live(wanted)) != PlanDocument.digest(live(policy([]))))
        #expect(PlanDocument.digest(Array("abc".utf8)) == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(throws: PolicyError.self) { try PlanDocument.decode(Data("{}".utf8)) }
    }
}

@Suite struct DispatchLayoutModelTests {
    static func policy(_ count: Int) throws -> PortPolicy {
        var rules = [PortRule(id: "deny-some", ports: [try PortRange(100, 120)], action: .deny, sources: [try IPNetwork(parsing: "192.0.2.0/24")])]
        for index in 0..<count {
            rules.append(PortRule(id: "r\(index)", ports: [try PortRange(100 + index, 101 + index)], proto: index % 4 == 0 ? .both : .tcp))
        }
        return PortPolicy(rules: rules)
    }

    @Test func goldenDispatch() throws {
        let url = RendererTests.goldenDirectory.appendingPathComponent("dispatch.nft")
        let rendered = Renderer.table(try Self.policy(Renderer.dispatchThreshold + 2))
        try expectGolden(rendered, url)
    }

    @Test func segmentsNeverOverlapAndCoverEveryRulePort() throws {
        let policy = try Self.policy(40)
        let table = Renderer.model(policy)
        let maps = table.chain("input")!.rules.compactMap { rule -> [DispatchEntry]? in
            if case let .dispatch(entries) = rule.statements.first { entries } else { nil }
        }
        #expect(maps.count == 2, "one map for blocks, one for allows")
        for entries in maps {
            for (a, b) in zip(entries, entries.dropFirst()) where a.proto == b.proto {
                #expect(a.ports.last < b.ports.first, "\(a) overlaps \(b)")
            }
        }
        // Every (proto, port) a rule covers is dispatched to a chain that reaches that rule.
        for rule in policy.rules {
            let map = maps[rule.action == .allow ? 1 : 0]
            for proto in rule.proto.members {
                for range in rule.ports {
                    for port in range.first...range.last {
                        let entry = try #require(map.first { $0.proto == proto.rawValue && $0.ports.contains(port) })
                        let reached = entry.chain == "rule-\(rule.id)"
                            || table.chain(entry.chain)?.rules.contains(Rule([.jump("rule-\(rule.id)")])) == true
                        #expect(reached, "\(proto) \(port) must reach \(rule.id)")
                    }
                }
            }
        }
    }

    @Test func crossingTheThresholdPlansOnlyTheRuleChange() throws {
        let below = try Self.policy(Renderer.dispatchThreshold - 1)
        let above = try Self.policy(Renderer.dispatchThreshold)
        let up = Planner.plan(above, live: Renderer.model(below))
        let added = "r\(Renderer.dispatchThreshold - 1)"
        #expect(up.changes.count == 1, "\(up.changes)")
        if case let .addRule(id, _)? = up.changes.first { #expect(id == added) } else { Issue.record("expected \(added) added: \(up.changes)") }
        let chainAdd = try #require(up.script.range(of: "add chain inet portctl rule-r0\n"))
        let firstJump = try #require(up.script.range(of: "jump rule-"))
        #expect(chainAdd.lowerBound < firstJump.lowerBound, "chains exist before anything jumps to them")
        let down = Planner.plan(below, live: Renderer.model(above))
        #expect(down.changes.count == 1 && !down.changes.contains { $0.isDrift }, "\(down.changes)")
        #expect(down.script.contains("delete chain inet portctl rule-r0"))
    }
}

/// portctl's own default changes are policy changes, never drift (issue 22): every switch of
/// the routed and published defaults, with and without forwards and route rules, planned
/// against the table the previous policy renders.
@Suite struct OwnDefaultChangeTests {
    static var variants: [PortPolicy] {
        var result: [PortPolicy] = []
        for routed in RoutedDefault.allCases {
            for published in PublishedDefault.allCases {
                for extras in 0..<3 {
                    var policy = PortPolicy.firstRun()
                    policy.rules.append(PortRule(id: "smtp", ports: [try! PortRange(26)], sources: [try! IPNetwork(parsing: "198.51.100.0/24")]))
                    policy.routed = routed
                    policy.published = published
                    if extras >= 1 { policy.forwards = [PortForward(id: "fwd", ports: [try! PortRange(8080)], to: IPAddress("203.0.113.2")!, toPort: 80)] }
                    if extras == 2 { policy.routes = [RoutedRule(id: "web", ports: [try! PortRange(80)], destinations: [try! IPNetwork(parsing: "203.0.113.0/24")])] }
                    result.append(policy)
                }
            }
        }
        return result
    }

    @Test func switchingADefaultIsNeverDrift() throws {
        for before in Self.variants {
            for after in Self.variants where after.forwards.count == before.forwards.count && after.routes.count == before.routes.count {
                let plan = Planner.plan(after, live: Renderer.model(before))
                let drift = plan.changes.filter(\.isDrift)
                #expect(drift.isEmpty,
                        "routed \(before.routed) published \(before.published) -> routed \(after.routed) published \(after.published), \(after.forwards.count) forwards, \(after.routes.count) routes: \(plan.changes)")
                if before.routed != after.routed {
                    #expect(plan.changes.contains(.changeRouted(from: before.routed.rawValue, to: after.routed.rawValue)))
                }
            }
        }
    }
}
