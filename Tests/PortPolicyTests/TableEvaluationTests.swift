import Foundation
import Testing
@testable import PortPolicy

/// The set arithmetic the kernel audit stands on, against a brute-force count over a small space.
@Suite struct SourceSetTests {
    @Test func operationsAgreeWithBruteForce() {
        var generator = SeededGenerator(state: 24)
        // Networks inside 10.0.0.0/26: 64 addresses, checked one by one.
        func randomSet() -> (SourceSet, Set<UInt32>) {
            var networks: [IPNetwork] = []
            var members: Set<UInt32> = []
            for _ in 0..<Int.random(in: 0...4, using: &generator) {
                let length = Int.random(in: 27...32, using: &generator)
                let size = UInt32(1) << (32 - length)
                let start = UInt32.random(in: 0..<64, using: &generator) / size * size
                networks.append(try! IPNetwork(address: IPAddress(family: .ipv4, bits: UInt128(0x0A00_0000 + start))!, prefixLength: length))
                for offset in 0..<size { members.insert(start + offset) }
            }
            return (SourceSet(networks), members)
        }
        func holds(_ set: SourceSet) -> Set<UInt32> {
            Set((0..<64).filter { set.contains(IPAddress(family: .ipv4, bits: UInt128(0x0A00_0000 + $0))!) })
        }
        for _ in 0..<300 {
            let (a, am) = randomSet(), (b, bm) = randomSet()
            #expect(holds(a.union(b)) == am.union(bm))
            #expect(holds(a.subtracting(b)) == am.subtracting(bm))
            #expect(holds(a.intersection(b)) == am.intersection(bm))
            #expect(a.isEmpty == am.isEmpty)
            #expect(SourceSet(a.networks) == a, "the CIDR blocks give back the same set")
        }
    }

    @Test func wholeFamiliesAndComplements() {
        let everyone = SourceSet.every(IPFamily.allCases)
        #expect(everyone.covers(.ipv4) && everyone.covers(.ipv6))
        #expect(everyone.networks.map(\.description) == ["0.0.0.0/0", "::/0"])
        let some = SourceSet([try! IPNetwork(parsing: "198.51.100.0/24")])
        #expect(some.complement(within: [.ipv4]).union(some) == .every([.ipv4]))
        #expect(!some.complement(within: [.ipv4]).holdsSome(.ipv6))
        #expect(SourceSet([try! IPNetwork(parsing: "0.0.0.0/1"), try! IPNetwork(parsing: "128.0.0.0/1")]).covers(.ipv4))
        #expect(SourceSet([try! IPNetwork(parsing: "::/0")]).subtracting(SourceSet([try! IPNetwork(parsing: "2001:db8::/32")])).networks.count == 32)
    }
}

/// The evaluator of rule lines: on the table a policy renders to it must agree with the policy's
/// own evaluation (``PortPolicy/evaluate(_:at:)``), which shares no code with it.
@Suite struct TableEvaluationTests {
    static let pool = ["198.51.100.1", "198.51.100.77", "203.0.113.9", "192.0.2.200", "10.1.2.3", "2001:db8::1", "2001:db8:1::5", "fd00::9"]
    static let networks = ["198.51.100.0/24", "198.51.100.64/26", "203.0.113.9", "10.0.0.0/8", "0.0.0.0/0", "2001:db8::/32", "::/0", "fd00::/8"]

    @Test(arguments: 0..<6) func agreesWithThePolicysOwnEvaluation(seed: UInt64) {
        var generator = SeededGenerator(state: 1000 + seed)
        for _ in 0..<25 {
            var rules: [PortRule] = []
            // Past 32 inbound rules the renderer dispatches through verdict maps and chains.
            let count = Bool.random(using: &generator) ? Int.random(in: 1...8, using: &generator) : Int.random(in: 33...40, using: &generator)
            for index in 0..<count {
                let low = Int.random(in: 20...30, using: &generator)
                let ports = [try! PortRange(low, low + Int.random(in: 0...2, using: &generator))]
                let sources = (0..<Int.random(in: 0...2, using: &generator)).map { _ in try! IPNetwork(parsing: Self.networks.randomElement(using: &generator)!) }
                let action: RuleAction = [.allow, .allow, .allow, .deny, .reject].randomElement(using: &generator)!
                var rule = PortRule(id: "r\(index)", ports: ports, proto: [.tcp, .udp, .both].randomElement(using: &generator)!, action: action, sources: sources)
                if action == .allow && Int.random(in: 0..<5, using: &generator) == 0 { rule.limit = try! RateLimit(parsing: "5/minute") }
                rule.log = Int.random(in: 0..<6, using: &generator) == 0
                rules.append(rule)
            }
            var policy = PortPolicy(inbound: [.drop, .reject, .accept].randomElement(using: &generator)!, rules: rules)
            policy.logDefault = Bool.random(using: &generator)
            let table = Renderer.model(policy)
            for port in UInt16(19)...33 {
                for proto in [TransportProtocol.tcp, .udp] {
                    let admission = TableEvaluation.admission(table, port: port, proto: proto)
                    #expect(admission.undetermined.isEmpty, "portctl's own lines are all understood")
                    for text in Self.pool {
                        let source = IPAddress(text)!
                        let decision = policy.evaluate(Packet(source: source, port: port, proto: proto))
                        let outcome = admission.outcomes.first { $0.sources.contains(source) }
                        let fate: TableEvaluation.Fate = switch decision.verdict {
                        case .accept: .accept
                        case .drop: .drop
                        case .reject: .reject
                        }
                        #expect(outcome?.fate == fate, "\(text) -> \(port)/\(proto.rawValue) in\n\(table.text)")
                        if case let .line(_, rule)? = outcome?.cause, rule.comment != Renderer.defaultComment {
                            #expect(rule.ruleID == decision.ruleID, "\(text) -> \(port)/\(proto.rawValue): decided by the same rule")
                        } else {
                            #expect(decision.ruleID == nil, "\(text) -> \(port)/\(proto.rawValue): the default decides in both")
                        }
                    }
                }
            }
        }
    }

    static let policy = PortPolicy(rules: [
        PortRule(id: "relays", ports: [try! PortRange(26)], sources: [try! IPNetwork(parsing: "198.51.100.0/24")]),
        PortRule(id: "web-eth1", ports: [try! PortRange(443)], interface: "eth1"),
    ])

    @Test func aLineAddedByHandAndOnesItCannotRead() {
        var live = Renderer.model(Self.policy)
        let input = live.chains.firstIndex { $0.name == "input" }!
        let end = live.chains[input].rules.count - 1
        live.chains[input].rules.insert(Rule([.match(.payload("tcp", "dport"), op: "==", .number(8080)), .verdict(.accept)]), at: end)
        // `ip saddr 10.0.0.0/8 tcp dport 9000 accept`: the reader keeps a prefix as JSON.
        let prefix = #"{"match":{"left":{"payload":{"field":"saddr","protocol":"ip"}},"op":"==","right":{"prefix":{"addr":"10.0.0.0","len":8}}}}"#
        live.chains[input].rules.insert(Rule([.unknown(prefix), .match(.payload("tcp", "dport"), op: "==", .number(9000)), .verdict(.accept)]), at: end)
        live.chains[input].rules.insert(Rule([.match(.meta("mark"), op: "==", .number(1)), .match(.payload("tcp", "dport"), op: "==", .number(9001)),
                                              .verdict(.accept)]), at: end)
        // A recording line with no verdict decides nothing: the connection goes on.
        let record = #"{"set":{"elem":{"concat":[{"payload":{"field":"saddr","protocol":"ip"}}]},"op":"update","set":"@drops4"}}"#
        live.chains[input].rules.insert(Rule([.unknown(record)]), at: end)

        #expect(TableEvaluation.admission(live, port: 8080, proto: .tcp).admitted == .every(IPFamily.allCases))
        #expect(TableEvaluation.admission(live, port: 8080, proto: .udp).admitted.isEmpty)
        let prefixed = TableEvaluation.admission(live, port: 9000, proto: .tcp)
        #expect(prefixed.admitted == SourceSet([try! IPNetwork(parsing: "10.0.0.0/8")]))
        #expect(prefixed.undetermined.isEmpty)
        if case let .line(_, rule)? = prefixed.outcomes(.accept, overlapping: prefixed.admitted).first?.cause {
            #expect(TableEvaluation.text(rule) == "ip saddr 10.0.0.0/8 tcp dport 9000 accept")
        }
        let marked = TableEvaluation.admission(live, port: 9001, proto: .tcp)
        #expect(marked.undetermined == .every(IPFamily.allCases) && marked.admitted.isEmpty, "a mark portctl cannot know is not guessed")
        #expect(TableEvaluation.admission(live, port: 26, proto: .tcp).admitted == SourceSet([try! IPNetwork(parsing: "198.51.100.0/24")]))
        // An interface rule admits only on its interface.
        #expect(TableEvaluation.interfaceNames(live) == ["eth1"])
        #expect(TableEvaluation.admission(live, port: 443, proto: .tcp).admitted.isEmpty)
        #expect(TableEvaluation.admission(live, port: 443, proto: .tcp, interface: "eth1").admitted == .every(IPFamily.allCases))
        // No table, or a dormant one, refuses nothing.
        #expect(TableEvaluation.admission(nil, port: 5432, proto: .tcp).admitted == .every(IPFamily.allCases))
        live.flags = Table.dormantFlag
        #expect(TableEvaluation.admission(live, port: 5432, proto: .tcp).outcomes.map(\.cause) == [.dormant])
    }

    @Test func everyBaseChainOnTheHookMustAccept() {
        var live = Renderer.model(Self.policy)
        live.chains.append(Chain(name: "extra", hook: "input", priority: 10, policy: "accept",
                                 rules: [Rule([.match(.payload("ip", "saddr"), op: "==", .string("198.51.100.7")), .verdict(.drop)])]))
        let admission = TableEvaluation.admission(live, port: 26, proto: .tcp)
        #expect(admission.admitted == SourceSet([try! IPNetwork(parsing: "198.51.100.0/24")]).subtracting(SourceSet([try! IPNetwork(parsing: "198.51.100.7")])))
        let accepted = admission.outcomes(.accept, overlapping: admission.admitted)
        #expect(accepted.count == 1 && accepted.first.map { if case let .line("input", rule) = $0.cause { rule.ruleID == "relays" } else { false } } == true,
                "the accept named is the portctl input chain's")
    }
}
