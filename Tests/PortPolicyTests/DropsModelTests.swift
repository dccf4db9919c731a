import Foundation
import Testing
@testable import PortPolicy

/// The drop record: its policy setting, its reason codes, reading its elements from a real
/// listing, and the planner leaving its elements alone.
@Suite struct DropsModelTests {
    static let drops = LiveTableTests.fixtures.appendingPathComponent("drops.json")

    @Test(arguments: [("10m", DropRecording.keep(seconds: 600)), ("off", .off), ("90s", .keep(seconds: 90)), ("1d", .keep(seconds: 86400))])
    func recordingReadsItsText(_ text: String, _ expected: DropRecording) throws {
        #expect(try DropRecording(text: text) == expected)
        #expect(try DropRecording(text: expected.text) == expected)
    }

    @Test(arguments: ["", "on", "2d", "10", "-5m", "10x"])
    func badRecordingNamesTheValueAndWhatIsAllowed(_ text: String) {
        #expect {
            try DropRecording(text: text)
        } throws: { error in
            "\(error)".contains("defaults.drops") && "\(error)".contains("off")
        }
    }

    @Test func thePolicyFileKeepsTheSettingAndLeavesTheDefaultUnsaid() throws {
        var policy = PortPolicy.firstRun()
        #expect(!PolicyFile.encode(policy).contains("drops"))
        policy.drops = .off
        let text = PolicyFile.encode(policy)
        #expect(text.contains("  drops: off\n"))
        #expect(try PolicyFile.decode(text).drops == .off)
        #expect(throws: PolicyError.self) { try PolicyFile.decode("version: 1\ndefaults:\n  drops: forever\n") }
    }

    @Test func reasonCodesRoundTripAndNameTheirRule() throws {
        let ids = ["block", "web", "relays"]
        for reason in [DropReason(.inboundDefault), DropReason(.publishedDefault), DropReason(.routedDefault), DropReason(.ban),
                       DropReason(.rule, ruleID: "block"), DropReason(.limit, ruleID: "web")] {
            #expect(DropReason(code: reason.code, ruleIDs: ids) == reason)
            #expect(reason.code >> 28 == reason.kind.rawValue)
        }
        // A rule that is gone is still a rule refusal, without a name.
        let gone = try #require(DropReason(code: DropReason(.rule, ruleID: "old").code, ruleIDs: ids))
        #expect(gone.kind == .rule && gone.ruleID == nil)
        #expect(gone.description == "a rule no longer in the policy")
        // Codes portctl never writes are not guessed at.
        #expect(DropReason(code: 0, ruleIDs: ids) == nil)
        #expect(DropReason(code: 0x1000_0001, ruleIDs: ids) == nil)
        #expect(DropReason(code: 0xF000_0000, ruleIDs: ids) == nil)
    }

    @Test func theRendererRecordsBeforeEveryRefusalAndNeverHoldsTheVerdictInARecordingLine() throws {
        let policy = try PolicyFile.decode(LiveTableTests.fixture("drops.yaml"))
        let table = Renderer.model(policy)
        let lines = table.chains.flatMap(\.rules)
        let recording = lines.filter { $0.statements.contains { if case .record = $0 { true } else { false } } }
        #expect(!recording.isEmpty)
        for line in recording {
            #expect(!line.statements.contains { if case .verdict = $0 { true } else { false } }, "\(line.text)")
            #expect(line.statements.contains(.match(.ct("state"), op: "in", .string("new"))))
        }
        let codes = Set(recording.compactMap { line in
            line.statements.lazy.compactMap { if case let .record(_, _, reason) = $0 { reason } else { nil } }.first
        })
        let expected: Set<UInt32> = [DropReason(.inboundDefault), DropReason(.publishedDefault), DropReason(.routedDefault), DropReason(.ban),
                                     DropReason(.rule, ruleID: "block"), DropReason(.rule, ruleID: "rej6"), DropReason(.rule, ruleID: "r1"),
                                     DropReason(.limit, ruleID: "relays"), DropReason(.limit, ruleID: "web")].reduce(into: []) { $0.insert($1.code) }
        #expect(codes == expected)
        // Off: no set, no recording line, no recording counter; the limits still count.
        var off = policy
        off.drops = .off
        let quiet = Renderer.model(off)
        #expect(!quiet.chains.flatMap(\.rules).flatMap(\.statements).contains { if case .record = $0 { true } else { false } })
        #expect(quiet.set(Renderer.dropSetName(.ipv4)) == nil && !quiet.counters.contains(Renderer.dropsSeenCounter))
        #expect(quiet.counters.contains(Renderer.limitedName("web")) && quiet.chain(Renderer.limitedName("web")) != nil)
    }

    @Test func aListingWithRecordedDropsMatchesThePolicyAndTheirElementsAreRead() throws {
        let policy = try PolicyFile.decode(LiveTableTests.fixture("drops.yaml"))
        let json = try LiveTableTests.fixture("drops.json")
        let live = try #require(try LiveTable.read(json: json, table: "portctl"))
        #expect(Planner.plan(policy, live: live).isEmpty)
        let now = Date()
        let connections = DropReport.connections(json: json, keptSeconds: 600, ruleIDs: policy.rules.map(\.id) + policy.routes.map(\.id), now: now)
        let seen = Set(connections.map { "\($0.source) \($0.port)/\($0.proto.rawValue) \($0.reason.description)" })
        #expect(seen == ["203.0.113.2 27/tcp the inbound default", "203.0.113.2 3306/tcp rule block",
                         "198.51.100.7 80/tcp the rate limit of web", "2001:db8::9 53/udp a ban"])
        for connection in connections {
            #expect(connection.lastSeen <= now && connection.lastSeen > now.addingTimeInterval(-60))
        }
    }

    @Test func turningRecordingOffOrOnIsOneNamedChange() throws {
        let policy = try PolicyFile.decode(LiveTableTests.fixture("drops.yaml"))
        let live = try #require(try LiveTable.read(json: LiveTableTests.fixture("drops.json"), table: "portctl"))
        var off = policy
        off.drops = .off
        let plan = Planner.plan(off, live: live)
        #expect(plan.changes == [.changeDropRecording(from: "10m", to: "off")])
        var longer = policy
        longer.drops = .keep(seconds: 3600)
        #expect(Planner.plan(longer, live: live).changes == [.changeDropRecording(from: "10m", to: "1h")])
    }

    @Test func filtersAndTheAdmittingCommand() throws {
        let now = Date()
        func connection(_ source: String, _ port: UInt16, _ reason: DropReason, packets: Int, ago: Double) -> DroppedConnection {
            DroppedConnection(source: IPAddress(source)!, proto: .tcp, port: port, reason: reason, packets: packets, lastSeen: now.addingTimeInterval(-ago))
        }
        let report = DropReport(connections: DropReport.sorted([
            connection("203.0.113.5", 26, DropReason(.inboundDefault), packets: 3, ago: 10),
            connection("203.0.113.6", 26, DropReason(.inboundDefault), packets: 9, ago: 400),
            connection("198.51.100.1", 26, DropReason(.inboundDefault), packets: 1, ago: 5),
            connection("198.51.100.1", 3306, DropReason(.rule, ruleID: "db"), packets: 2, ago: 5),
        ]), keptSeconds: 600, capacity: 65536, unrecorded: 0)
        #expect(report.connections.map(\.packets) == [9, 3, 2, 1])
        #expect(report.filtered(since: now.addingTimeInterval(-60)).connections.count == 3)
        #expect(report.filtered(ports: [try PortRange(3306)]).connections.map(\.port) == [3306])
        #expect(report.filtered(from: [try IPNetwork(parsing: "203.0.113.0/24")]).connections.count == 2)
        #expect(report.filtered(reasons: [.rule]).connections.count == 1)
        #expect(report.filtered(top: 1).connections.map(\.packets) == [9])
        // Two neighbours refused on 26: their /24; a lone source: itself; a rule's refusal: nothing.
        // The source alone, never its network (a SYN's source is only a claim); a rule's refusal: nothing.
        #expect(report.admittingCommands() == ["portctl open 26/tcp --from 203.0.113.6", "portctl open 26/tcp --from 203.0.113.5",
                                               nil, "portctl open 26/tcp --from 198.51.100.1"])
        // A source the policy admits now (opened since) gets no command.
        var policy = PortPolicy()
        policy.rules = [PortRule(id: "relays", ports: [try PortRange(26)], sources: [try IPNetwork(parsing: "203.0.113.0/24")])]
        #expect(report.admittingCommands(policy: policy) == [nil, nil, nil, "portctl open 26/tcp --from 198.51.100.1"])
        #expect(report.packetsByPort.map { "\($0.port) \($0.reason) \($0.packets)" } == ["26 default 13", "3306 rule 2"])
    }
}

/// The netlink dump's bytes: the request's layout and the answer's decoding (the kernel tests
/// read real dumps; these pin the layout and the handling of what does not fit it).
@Suite struct DropRecordMessageTests {
    // Packed here by hand, not with the library's Netlink helpers, so a shared mistake cannot pass.
    func host<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

    func attribute(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        var out = host(UInt16(4 + payload.count)) + host(type) + payload
        while out.count % 4 != 0 { out.append(0) }
        return out
    }

    func message(_ type: UInt16, _ body: [UInt8]) -> [UInt8] {
        host(UInt32(16 + body.count)) + host(type) + host(UInt16(2)) + host(UInt32(1)) + host(UInt32(0)) + body
    }

    func bigEndian(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }

    @Test func theRequestNamesTableAndSet() {
        let request = DropRecordMessages.dumpRequest(table: "portctl", set: "portctl-drops4", sequence: 7)
        #expect(request.count == 16 + 4 + 12 + 20)
        #expect(Array(request[0..<4]) == host(UInt32(request.count)))
        #expect(Array(request[4..<8]) == host(UInt16(10 << 8 | 13)) + host(UInt16(0x301)))
        #expect(Array(request[20..<24]) == host(UInt16(12)) + host(UInt16(1)))
        #expect(String(decoding: request[24..<31], as: UTF8.self) == "portctl")
    }

    @Test func anElementDecodesAndOddOnesAreSkipped() throws {
        var key: [UInt8] = [203, 0, 113, 2, 6, 0, 0, 0, 0, 26, 0, 0]
        key += host(DropReason(.rule, ruleID: "deny-26").code)
        let counter = attribute(1, Array("counter".utf8) + [0]) + attribute(2, attribute(1, bigEndian(180)) + attribute(2, bigEndian(3)))
        let element = attribute(1, attribute(1, key)) + attribute(5, bigEndian(590_000)) + attribute(7, counter)
        var odd = key
        odd[4] = 1 // ICMP: never recorded by portctl
        let skipped = attribute(1, attribute(1, odd))
        let list = attribute(3, attribute(1, element) + attribute(1, skipped))
        let bytes = message(10 << 8 | 12, [1, 0, 0, 0] + attribute(1, Array("portctl".utf8) + [0]) + list) + message(3, [0, 0, 0, 0])
        let now = Date(timeIntervalSince1970: 2_000_000_000)
        let chunk = DropRecordMessages.decode(bytes, family: .ipv4, keptMilliseconds: 600_000, ruleIDs: ["deny-26"], now: now)
        #expect(chunk.finished && chunk.errno == nil)
        let connection = try #require(chunk.connections.first)
        #expect(chunk.connections.count == 1)
        #expect(connection.source == IPAddress("203.0.113.2") && connection.proto == .tcp && connection.port == 26)
        #expect(connection.reason.ruleID == "deny-26" && connection.packets == 3)
        #expect(connection.lastSeen == now.addingTimeInterval(-10))
        // A truncated buffer decodes what it can and does not read past its end.
        #expect(DropRecordMessages.decode(Array(bytes.prefix(40)), family: .ipv4, keptMilliseconds: 600_000, ruleIDs: [], now: now).connections.isEmpty)
    }

    @Test func theKernelsErrorIsPassedOn() {
        var body: [UInt8] = []
        body += host(Int32(-2))
        let chunk = DropRecordMessages.decode(message(2, body + [UInt8](repeating: 0, count: 16)), family: .ipv6, keptMilliseconds: 1, ruleIDs: [], now: Date())
        #expect(chunk.errno == 2 && chunk.finished)
    }
}

/// Rules removed from the policy are named as removed, with their summary, recording lines and
/// limited chains included: never as drift.
@Test func removedDenyAndLimitedRulesAreRemovalsNotDrift() throws {
    let policy = try PolicyFile.decode(LiveTableTests.fixture("drops.yaml"))
    let live = Renderer.model(policy)
    var smaller = policy
    smaller.rules.removeAll { ["block", "rej6", "web"].contains($0.id) }
    let changes = Planner.plan(smaller, live: live).changes
    #expect(changes.allSatisfy { !$0.isDrift }, "\(changes)")
    #expect(Set(changes) == [.removeRule(id: "block", summary: "deny 3306/both from any"),
                             .removeRule(id: "rej6", summary: "reject 25/tcp from 2001:db8::/48"),
                             .removeRule(id: "web", summary: "allow 80/tcp from any, limited to 5/second per source")], "\(changes)")
}

/// Plan changes read as sentences in the library (the CLI only colours them).
@Test func planChangesReadAsLines() {
    #expect(PlanChange.addRule(id: "smtp-alt", summary: "allow 26/tcp from 10.0.0.0/8").line(table: "portctl") == "+ smtp-alt: allow 26/tcp from 10.0.0.0/8")
    #expect(PlanChange.createTable.line(table: "portctl") == "+ table inet portctl (missing: it will be created)")
    #expect(PlanChange.changeDropRecording(from: "10m", to: "off").line(table: "portctl").hasPrefix("~ drop record: 10m -> off"))
    #expect(PlanChange.drift("x").line(table: "portctl") == "! drift: x")
}

/// Counters near the 64-bit limit (anyone with root can set them) sum without trapping.
@Test func hugeCountersSumWithoutTrapping() {
    let reason = DropReason(.rule, ruleID: "x")
    let huge = (0..<2).map { i in
        DroppedConnection(source: IPAddress("203.0.113.\(i + 1)")!, proto: .udp, port: 53, reason: reason, packets: Int.max, lastSeen: Date())
    }
    let report = DropReport(connections: huge, keptSeconds: 600, capacity: 65536, unrecorded: 0)
    #expect(report.packetsByPort.first?.packets == Int.max)
    #expect(report.refusedPerPort.first?.packets == Int.max)
}

/// Two ids whose drop-record codes collide are refused (found by the hostile review: deny-50406
/// and deny-88257 share one, and drops named the wrong rule).
@Test func idsWhoseDropCodesCollideAreRefused() throws {
    #expect(DropReason.hash("deny-50406") == DropReason.hash("deny-88257"))
    var policy = PortPolicy()
    policy.rules = [PortRule(id: "deny-50406", ports: [try PortRange(30)], action: .deny),
                    PortRule(id: "deny-88257", ports: [try PortRange(31)], action: .deny)]
    #expect {
        try policy.validate()
    } throws: { error in
        "\(error)".contains("deny-88257") && "\(error)".contains("deny-50406")
    }
    policy.rules.removeLast()
    try policy.validate()
}

/// A recording line changed by hand is drift that names the line, not a reordering.
@Test func anEditedRecordingLineIsNamed() throws {
    let policy = try PolicyFile.decode(LiveTableTests.fixture("drops.yaml"))
    var live = Renderer.model(policy)
    let input = try #require(live.chains.firstIndex { $0.name == "input" })
    let line = try #require(live.chains[input].rules.firstIndex { $0.comment == Renderer.defaultComment && $0.statements.contains { if case .record = $0 { true } else { false } } })
    live.chains[input].rules[line].statements.removeLast()  // the recorded counter, gone
    let changes = Planner.plan(policy, live: live).changes
    #expect(changes.count == 1 && changes.allSatisfy(\.isDrift), "\(changes)")
    #expect(changes.first.map { "\($0)".contains("portctl-drops-seen") && !"\($0)".contains("order") } == true, "\(changes)")
    // Reordered lines still read as a reordering.
    var reordered = Renderer.model(policy)
    reordered.chains[input].rules.swapAt(line, line + 1)
    #expect(Planner.plan(policy, live: reordered).changes.first.map { "\($0)".contains("order") } == true)
}

/// The fast admission check agrees with PortPolicy.evaluate (no interface named) on many
/// sources and ports of a policy with allows, denies, rejects, limits and both families.
@Test func theAdmissionIndexAgreesWithEvaluate() throws {
    var policy = try PolicyFile.decode(LiveTableTests.fixture("drops.yaml"))
    policy.rules.append(PortRule(id: "v6-only", ports: [try PortRange(443)], sources: [try IPNetwork(parsing: "2001:db8:1::/48")]))
    policy.rules.append(PortRule(id: "carve", ports: [try PortRange(26)], action: .deny, sources: [try IPNetwork(parsing: "10.9.0.0/16")]))
    var generator = SeededGenerator(state: 24)
    var connections: [DroppedConnection] = []
    for _ in 0..<3000 {
        let v4 = Bool.random(using: &generator)
        let source = v4 ? IPAddress(family: .ipv4, bits: UInt128(UInt32.random(in: 0x0A00_0000...0x0B00_0000, using: &generator)))!
            : IPAddress(family: .ipv6, bits: UInt128(0x2001_0db8) << 96 | UInt128(UInt64.random(in: 0...UInt64.max, using: &generator)) << 32)!
        let port = [22, 25, 26, 80, 443, 3306][Int.random(in: 0..<6, using: &generator)]
        connections.append(DroppedConnection(source: source, proto: Bool.random(using: &generator) ? .tcp : .udp, port: UInt16(port),
                                             reason: DropReason(.inboundDefault), packets: 1, lastSeen: Date()))
    }
    let report = DropReport(connections: connections, keptSeconds: 600, capacity: 65536, unrecorded: 0)
    for (connection, command) in zip(connections, report.admittingCommands(policy: policy)) {
        let admitted = policy.evaluate(Packet(source: connection.source, port: connection.port, proto: connection.proto)).verdict == .accept
        #expect(admitted == (command == nil), "\(connection.source) \(connection.port)/\(connection.proto.rawValue)")
    }
}
