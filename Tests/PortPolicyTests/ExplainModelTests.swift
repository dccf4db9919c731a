import Foundation
import Testing
@testable import PortPolicy

@Suite struct ExplainModelTests {
    static let policy: PortPolicy = {
        var ssh = PortRule(id: "ssh", ports: [try! PortRange(22)])
        ssh.limit = try! RateLimit(parsing: "6/minute")
        var temporary = PortRule(id: "tmp", ports: [try! PortRange(8443)], sources: [try! IPNetwork(parsing: "203.0.113.7")])
        temporary.expires = Date(timeIntervalSince1970: 1_900_000_000)
        return PortPolicy(rules: [
            PortRule(id: "smtp-alt", ports: [try! PortRange(26)], sources: [try! IPNetwork(parsing: "10.0.0.0/8")], comment: "mail relays"),
            PortRule(id: "no-lab", ports: [try! PortRange(26)], action: .deny, sources: [try! IPNetwork(parsing: "10.66.0.0/16")]),
            PortRule(id: "refuse", ports: [try! PortRange(25)], proto: .both, action: .reject),
            ssh, temporary,
        ])
    }()

    func explain(_ address: String, _ port: UInt16, _ proto: TransportProtocol = .tcp, at now: Date = Date(timeIntervalSince1970: 1_800_000_000)) -> Explanation {
        Self.policy.explain(Packet(source: IPAddress(address)!, port: port, proto: proto), at: now)
    }

    @Test func theIssuesExample() {
        let e = explain("203.0.113.5", 26)
        #expect(e.verdict == .drop && e.rule == nil)
        #expect(e.message == "203.0.113.5 -> 26/tcp: drop (default drop: no rule allows 203.0.113.5; rule smtp-alt allows only 10.0.0.0/8)")
    }

    @Test func everyConstruct() {
        #expect(explain("10.1.2.3", 26).rule == "smtp-alt")
        #expect(explain("10.1.2.3", 26).comment == "mail relays")
        let denied = explain("10.66.0.9", 26)
        #expect(denied.verdict == .drop && denied.rule == "no-lab" && denied.alsoMatched == ["smtp-alt"])
        #expect(denied.message.contains("blocks win over allows"))
        #expect(explain("2001:db8::1", 25, .udp).verdict == .reject)
        let limited = explain("198.51.100.1", 22)
        #expect(limited.verdict == .accept && limited.limit == "6/minute" && limited.message.contains("rate limit of 6/minute"))
        let boxed = explain("203.0.113.7", 8443)
        #expect(boxed.verdict == .accept && boxed.until == "2030-03-17T17:46:40Z" && boxed.message.contains("accept until"))
        let expired = explain("203.0.113.7", 8443, at: Date(timeIntervalSince1970: 2_000_000_000))
        #expect(expired.verdict == .drop && expired.rule == nil)
        #expect(explain("127.0.0.1", 9999).message.contains("baseline"))
        var open = Self.policy
        open.inbound = .accept
        #expect(open.explain(Packet(source: IPAddress("192.0.2.1")!, port: 9999)).verdict == .accept)
    }

    @Test func jsonAlwaysCarriesRule() throws {
        let data = try JSONEncoder().encode(explain("203.0.113.5", 26))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        #expect(object?["rule"] is NSNull)
        #expect(object?["verdict"] as? String == "drop")
    }
}

@Suite struct AddressFileTests {
    @Test func readsAddressesCommentsAndBlankLines() throws {
        let text = "# relays\n10.0.0.0/8\n\n  198.51.100.7   # one host\n2001:db8::/32\n"
        #expect(try IPNetwork.parseList(text, name: "relays.txt").map(\.description) == ["10.0.0.0/8", "198.51.100.7", "2001:db8::/32"])
    }

    @Test func errorsNameTheLine() {
        #expect {
            try IPNetwork.parseList("10.0.0.0/8\n# fine\n10.0.0.1/8\n", name: "relays.txt")
        } throws: { error in
            "\(error)".contains("relays.txt, line 3") && "\(error)".contains("did you mean 10.0.0.0/8?")
        }
        #expect(throws: PolicyError.self) { try IPNetwork.parseList("# nothing\n", name: "empty.txt") }
    }

    @Test func evaluatePacketLabel() {
        let decision = ExplainModelTests.policy.evaluate(packet: Packet(source: IPAddress("10.9.9.9")!, port: 26))
        #expect(decision.verdict == .accept && decision.ruleID == "smtp-alt")
    }
}
