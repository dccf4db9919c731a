import Foundation
import Testing
import PortPolicy

/// `portctl close` and `portctl default` are edits of the policy (issue 25): their rules live in
/// PortPolicy, the CLI only parses, calls and prints.
@Suite struct CloseAndDefaultTests {
    static func policy() throws -> PortPolicy {
        var policy = PortPolicy(rules: [
            PortRule(id: "ssh", ports: [try PortRange(22)]),
            PortRule(id: "relay", ports: [try PortRange(26)], sources: try IPNetwork.parseCommaList("198.51.100.0/24")),
        ])
        policy.forwards = [
            PortForward(id: "fwd-26", ports: [try PortRange(26)], to: IPAddress("203.0.113.2")!, toPort: 2525),
            PortForward(id: "fwd-53", ports: [try PortRange(53)], proto: .udp, to: IPAddress("203.0.113.53")!),
        ]
        return policy
    }

    static func request(_ ports: String, from sources: String? = nil, direction: Direction = .in) throws -> PortRequest {
        PortRequest(spec: try PortSpec(parsing: ports, services: ServiceTable()),
                    sources: try sources.map(IPNetwork.parseCommaList) ?? [], direction: direction)
    }

    @Test func closingAPortClosesItsForwardToo() throws {
        var policy = try Self.policy()
        let changes = try policy.close(Self.request("26"))
        #expect(policy.rules.map(\.id) == ["ssh"])
        #expect(policy.forwards.map(\.id) == ["fwd-53"])
        #expect(changes.count == 2)
        #expect(changes.contains { if case .removed(let rule) = $0 { rule.id == "relay" } else { false } })
        #expect(changes.contains { if case .removedEntry(let id, _) = $0 { id == "fwd-26" } else { false } })
    }

    @Test func aPortOnlyAForwardHoldsReportsTheForwardAlone() throws {
        var policy = try Self.policy()
        let changes = try policy.close(Self.request("53/udp"))
        #expect(policy.forwards.map(\.id) == ["fwd-26"])
        guard changes.count == 1, case let .removedEntry(id, _) = changes[0] else {
            Issue.record("expected the forward's removal alone, got \(changes)")
            return
        }
        #expect(id == "fwd-53")
    }

    @Test func closingSomeSourcesOrAnOutboundRuleLeavesForwardsAlone() throws {
        var policy = try Self.policy()
        _ = try policy.close(Self.request("26", from: "198.51.100.0/25"))
        #expect(policy.forwards.map(\.id) == ["fwd-26", "fwd-53"])
        _ = try policy.close(Self.request("26", direction: .out))
        #expect(policy.forwards.map(\.id) == ["fwd-26", "fwd-53"])
    }

    @Test func aRefusedCloseChangesNothingNotEvenTheForwards() throws {
        var policy = try Self.policy()
        policy.rules.append(PortRule(id: "both", ports: [try PortRange(26)], proto: .both))
        let before = policy
        // A rule opens 26 for tcp and udp: closing 26/tcp alone is refused (close 26/both, or
        // remove the rule), after the forward of 26/tcp was already found.
        #expect(throws: PolicyError.self) { try policy.close(Self.request("26/tcp")) }
        #expect(policy == before)
    }

    @Test(arguments: PolicyDefault.allCases)
    func everyDefaultTakesItsValuesAndRefusesOthers(_ setting: PolicyDefault) throws {
        var policy = PortPolicy()
        let initial = policy.value(of: setting)
        #expect(initial == setting.allowedValues[0])
        #expect(try policy.setDefault(setting, to: initial) == .unchanged("the \(setting.rawValue) default is already \(initial)"))
        for value in setting.allowedValues.dropFirst() {
            #expect(try policy.setDefault(setting, to: value) == .defaultChanged(setting.rawValue, from: initial, to: value))
            #expect(policy.value(of: setting) == value)
            _ = try policy.setDefault(setting, to: initial)
        }
        let before = policy
        #expect(throws: PolicyError.invalidValue("bogus", field: "\(setting.rawValue) default", allowed: setting.allowedValues)) {
            try policy.setDefault(setting, to: "bogus")
        }
        #expect(policy == before)
        #expect(PolicyError.invalidValue("bogus", field: "inbound default", allowed: PolicyDefault.inbound.allowedValues).description
                    == "invalid inbound default \"bogus\": use drop, reject, accept")
    }
}
