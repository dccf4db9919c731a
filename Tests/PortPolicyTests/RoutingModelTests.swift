import Foundation
import Testing
@testable import PortPolicy

/// Forwards and routed rules in the pure core: the file, targets, evaluation, ids.
@Suite struct RoutingModelTests {
    static var policy: PortPolicy {
        get throws { try PolicyFile.decode(String(contentsOf: LiveTableTests.fixtures.appendingPathComponent("routing.yaml"), encoding: .utf8)) }
    }

    @Test func theFileReadsAndWritesForwardsAndRoutes() throws {
        let policy = try Self.policy
        #expect(policy.forwards.map(\.id) == ["fwd26", "fwd-web"] && policy.routes.map(\.id) == ["relays", "no-telnet"])
        #expect(policy.routed == .drop)
        #expect(policy.forwards[0].masquerade && policy.forwards[0].toPort == 2525 && policy.forwards[0].to == IPAddress("203.0.113.2"))
        #expect(try PolicyFile.decode(PolicyFile.encode(policy)) == policy)
        let json = try JSONEncoder().encode(policy)
        #expect(try JSONDecoder().decode(PortPolicy.self, from: json) == policy)
    }

    @Test(arguments: [("203.0.113.2", "203.0.113.2", nil), ("203.0.113.2:2525", "203.0.113.2", 2525),
                      ("[2001:db8::5]:2525", "2001:db8::5", 2525), ("2001:db8::5", "2001:db8::5", nil)] as [(String, String, UInt16?)])
    func targets(_ text: String, _ address: String, _ port: UInt16?) throws {
        let target = try PortForward.parseTarget(text)
        #expect(target.address == IPAddress(address) && target.port == port)
    }

    @Test(arguments: ["203.0.113.2:0", "203.0.113.2:65536", "203.0.113.2:", "[2001:db8::5", "[2001:db8::5]2525", "host:25", "203.0.113.2:025"])
    func badTargets(_ text: String) {
        #expect(throws: PolicyError.self, "\(text)") { try PortForward.parseTarget(text) }
    }

    @Test func rangesMapOneToOne() throws {
        let forward = try Self.policy.forwards[1]
        #expect(forward.targetPort(for: 8000) == 9000 && forward.targetPort(for: 8002) == 9002)
        #expect(forward.target == "[2001:db8:2::2]:9000-9002")
        let lines = Renderer.dnatRules(forward)
        #expect(lines.count == 6, "one DNAT line per port and protocol")
    }

    @Test func routedTrafficMeetsBlocksThenRoutesThenTheDefault() throws {
        let policy = try Self.policy
        let a = IPAddress("198.51.100.2")!, b = IPAddress("203.0.113.2")!
        #expect(policy.evaluate(routed: RoutedPacket(source: a, destination: b, port: 26, inInterface: "eth0", outInterface: "eth1")).verdict == .accept)
        #expect(policy.evaluate(routed: RoutedPacket(source: a, destination: b, port: 26)).verdict == .drop, "interfaces unknown: no match")
        #expect(policy.evaluate(routed: RoutedPacket(source: a, destination: b, port: 23)).verdict == .reject)
        #expect(policy.evaluate(routed: RoutedPacket(source: b, destination: a, port: 26, inInterface: "eth0", outInterface: "eth1")).verdict == .drop)
    }

    @Test func aForwardTakesItsSourcesAndBlocksStillWin() throws {
        var policy = try Self.policy
        let inside = Packet(source: IPAddress("198.51.100.7")!, port: 26), outside = Packet(source: IPAddress("203.0.113.9")!, port: 26)
        #expect(policy.evaluate(inside).verdict == .accept && policy.evaluate(inside).ruleID == "fwd26")
        #expect(policy.explain(inside).forwardedTo == "203.0.113.2:2525")
        #expect(policy.evaluate(outside).verdict == .drop)
        policy.rules.append(PortRule(id: "no-7", ports: [try PortRange(26)], action: .deny, sources: [try IPNetwork(parsing: "198.51.100.7")]))
        #expect(policy.evaluate(inside).verdict == .drop)
    }

    @Test func idsAreDerivedUniqueAndChecked() throws {
        var policy = PortPolicy()
        let forward = PortForward(id: "", ports: [try PortRange(26)], to: IPAddress("203.0.113.2")!)
        #expect(try policy.add(forward) == .addedEntry(id: "fwd-tcp-26", summary: "forward 26/tcp from any to 203.0.113.2"))
        // The same forward again changes nothing; one to another target gets an id of its own.
        guard case .unchanged = try policy.add(forward) else { Issue.record("the same forward again changed the policy"); return }
        var other = forward
        other.to = IPAddress("203.0.113.3")!
        _ = try policy.add(other)
        #expect(policy.forwards.map(\.id) == ["fwd-tcp-26", "fwd-tcp-26-2"])
        #expect(throws: PolicyError.self) { try policy.add(PortForward(id: "x", ports: [try PortRange(26)], sources: [try IPNetwork(parsing: "2001:db8::/32")], to: IPAddress("203.0.113.2")!)) }
        let route = RoutedRule(id: "", ports: [try PortRange(26)], sources: [try IPNetwork(parsing: "198.51.100.0/24")], destinations: [try IPNetwork(parsing: "2001:db8::/32")])
        #expect(throws: PolicyError.self) { try policy.add(route) }
        #expect(throws: PolicyError.self) { try policy.remove(id: "nothing") }
        #expect(try policy.remove(id: "fwd-tcp-26") == .removedEntry(id: "fwd-tcp-26", summary: "forward 26/tcp from any to 203.0.113.2"))
    }
}
