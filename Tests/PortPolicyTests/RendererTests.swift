import Foundation
import Testing
@testable import PortPolicy

/// Compares `text` with the golden file at `url`. With `PORTCTL_RECORD=1` the file is written
/// instead and the test fails, naming it: a recording run never passes by itself, so the diff
/// is reviewed before the next run.
func expectGolden(_ text: String, _ url: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
    if ProcessInfo.processInfo.environment["PORTCTL_RECORD"] == "1" {
        try text.write(to: url, atomically: true, encoding: .utf8)
        Issue.record("recorded \(url.lastPathComponent): review the diff, then run again without PORTCTL_RECORD", sourceLocation: sourceLocation)
        return
    }
    let expected = try String(contentsOf: url, encoding: .utf8)
    #expect(text == expected, "differs from \(url.lastPathComponent)", sourceLocation: sourceLocation)
}

/// Golden files: the rendered table compared exactly. Re-record on purpose with
/// `PORTCTL_RECORD=1 swift test --filter RendererTests`, then review the diff.
@Suite struct RendererTests {
    static let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    func assertGolden(_ name: String, _ policy: PortPolicy, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try expectGolden(Renderer.table(policy), Self.goldenDirectory.appendingPathComponent(name + ".nft"), sourceLocation: sourceLocation)
    }

    @Test func firstRun() throws {
        try assertGolden("first-run", PortPolicy.firstRun(sshPort: 2222))
    }

    @Test func headline() throws {
        var policy = PortPolicy.firstRun()
        try policy.open(PortRequest(spec: PortSpec(parsing: "26", services: services), sources: [IPNetwork(parsing: "10.0.0.0/8")]))
        try assertGolden("headline", policy)
    }

    @Test func everyConstruct() throws {
        let policy = try PolicyFile.decode(PolicyFileTests.sample + """

          - id: relays
            action: reject
            protocol: both
            ports: "25,26,587"
            from: [203.0.113.0/24, 203.0.113.7, "2001:db8:2::/48", 198.51.100.0/25, 198.51.100.128/25]
        """)
        try assertGolden("every-construct", policy)
    }

    @Test func rejectAndAcceptDefaults() throws {
        var policy = PortPolicy(inbound: .reject, rules: [PortRule(id: "ssh", ports: [try PortRange(22)])])
        try assertGolden("default-reject", policy)
        policy.inbound = .accept
        policy.rules = [PortRule(id: "no-telnet", ports: [try PortRange(23)], action: .deny)]
        try assertGolden("default-accept", policy)
    }

    @Test func blocksComeBeforeAllowsWhateverTheFileOrder() throws {
        let policy = PortPolicy(rules: [
            PortRule(id: "open-26", ports: [try PortRange(26)]),
            PortRule(id: "no-26", ports: [try PortRange(26)], action: .deny, sources: [try IPNetwork(parsing: "203.0.113.0/24")]),
        ])
        let chain = Renderer.table(policy)
        let deny = try #require(chain.range(of: "comment \"no-26\""))
        let allow = try #require(chain.range(of: "comment \"open-26\""))
        #expect(deny.lowerBound < allow.lowerBound)
    }

    @Test func overlappingSourcesAreMergedBeforeRendering() throws {
        let rule = PortRule(id: "a", ports: [try PortRange(26)],
                            sources: try ["10.0.0.0/8", "10.1.0.0/16", "10.2.3.4"].map { try IPNetwork(parsing: $0) })
        let table = Renderer.table(PortPolicy(rules: [rule]))
        #expect(table.contains("elements = { 10.0.0.0/8 }"))
        #expect(!table.contains("a-v6"))
    }
}

@Suite struct EditingTests {
    func spec(_ text: String) throws -> PortSpec { try PortSpec(parsing: text, services: services) }

    @Test func openAddsThenExtends() throws {
        var policy = PortPolicy()
        let first = try policy.open(PortRequest(spec: spec("26"), sources: [IPNetwork(parsing: "10.0.0.0/8")]))
        guard case let .added(rule) = first else { Issue.record("expected added, got \(first)"); return }
        #expect(rule.id == "allow-tcp-26")
        let second = try policy.open(PortRequest(spec: spec("26/tcp"), sources: [IPNetwork(parsing: "2001:db8::/32")]))
        guard case .widened = second else { Issue.record("expected widened, got \(second)"); return }
        #expect(policy.rules.count == 1)
        #expect(policy.rules[0].sources.count == 2)
        let again = try policy.open(PortRequest(spec: spec("26"), sources: [IPNetwork(parsing: "10.0.0.0/8")]))
        guard case .unchanged = again else { Issue.record("expected unchanged, got \(again)"); return }
    }

    @Test func closeRemovesPortsAndSourcesButNeverWidens() throws {
        var policy = PortPolicy()
        try policy.open(PortRequest(spec: spec("25,26,587"), sources: [IPNetwork(parsing: "10.0.0.0/8"), IPNetwork(parsing: "192.0.2.0/24")]))
        _ = try policy.close(PortRequest(spec: spec("26")))
        #expect(policy.rules[0].portsDescription == "25,587/tcp")
        _ = try policy.close(PortRequest(spec: spec("25,587"), sources: [IPNetwork(parsing: "10.0.0.0/8")]))
        #expect(policy.rules[0].sources.map(\.description) == ["192.0.2.0/24"])
        _ = try policy.close(PortRequest(spec: spec("25,587"), sources: [IPNetwork(parsing: "192.0.2.0/24")]))
        #expect(policy.rules.isEmpty)
        let nothing = try policy.close(PortRequest(spec: spec("26")))
        #expect(nothing.count == 1)
        if case .unchanged = nothing[0] {} else { Issue.record("expected unchanged") }
    }

    @Test func closeRefusesSourcesTheRuleDoesNotList() throws {
        var policy = PortPolicy()
        try policy.open(PortRequest(spec: spec("26"), sources: [IPNetwork(parsing: "10.0.0.0/8")]))
        let before = policy
        #expect(throws: PolicyError.self) {
            try policy.close(PortRequest(spec: spec("26"), sources: [IPNetwork(parsing: "192.0.2.0/24")]))
        }
        #expect(policy == before)
    }

    @Test func closeRangeSplitsIt() throws {
        var policy = PortPolicy()
        try policy.open(PortRequest(spec: spec("8000-8100")))
        _ = try policy.close(PortRequest(spec: spec("8050")))
        #expect(policy.rules[0].portsDescription == "8000-8049,8051-8100/tcp")
    }

    @Test func badRequestLeavesPolicyUnchanged() throws {
        var policy = PortPolicy.firstRun()
        let before = policy
        #expect(throws: PolicyError.self) {
            try policy.open(PortRequest(spec: spec("26"), comment: "bad\"quote"))
        }
        #expect(throws: PolicyError.self) {
            try policy.open(PortRequest(spec: spec("26"), id: "ssh"))
        }
        #expect(policy == before)
    }

    @Test func derivedIDsStayUnique() throws {
        var policy = PortPolicy()
        try policy.open(PortRequest(spec: spec("26")))
        try policy.open(PortRequest(spec: spec("26"), interface: "eth0"))
        #expect(policy.rules.map(\.id) == ["allow-tcp-26", "allow-tcp-26-2"])
        try policy.validate()
    }
}
