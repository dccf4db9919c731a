import Foundation
import PortPolicy
import Testing

/// `explain` tells the truth: for every (client, port) pair, the verdict computed from the policy
/// alone is what a real TCP connection meets in the kernel.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct ExplainTests {
    static let ports = Array(26...33)

    /// What a connection should see for a verdict (every port has a listener).
    func expected(_ verdict: Decision.Verdict) -> Connection {
        switch verdict {
        case .accept: .connected
        case .reject: .refused
        case .drop: .timedOut
        }
    }

    func clients(_ lab: NetLab) -> [(namespace: String, source: String, server: String)] {
        [(lab.clientA, NetLab.clientA4, NetLab.serverA4), (lab.clientA, NetLab.clientA6, NetLab.serverA6),
         (lab.clientB, NetLab.clientB4, NetLab.serverB4), (lab.clientB, NetLab.clientB6, NetLab.serverB6)]
    }

    @Test func explainMatchesRealConnectionsOnAGrid() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 27, 28, 29, 30, 31, 32, 33)
        let policy = try PolicyFile.decode(String("""
        version: 1
        rules:
          - id: relays
            ports: [26, 27]
            from: [198.51.100.0/24, "2001:db8:2::/64"]
          - id: no-b
            action: deny
            ports: "27-29"
            from: [203.0.113.0/24]
          - id: web
            ports: [28, 29, 30]
          - id: refuse
            action: reject
            ports: [30, 31]
            from: ["2001:db8:1::2", 203.0.113.2]
          - id: six-only
            ports: 32
            from: ["2001:db8::/32"]
          - id: deny-a
            action: deny
            ports: 26
            from: [198.51.100.2]
        """))
        try PolicyFile.encode(policy).write(toFile: lab.policyPath, atomically: true, encoding: .utf8)
        #expect(try lab.portctl("apply").status == 0)
        var disagreements: [String] = []
        for client in clients(lab) {
            for port in Self.ports {
                let outcome = try lab.portctl("explain", client.source, String(port), "--json")
                let json = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
                let verdictText = json?["verdict"] as? String ?? ""
                let verdict = try #require(Decision.Verdict(rawValue: verdictText), "\(outcome)")
                #expect(json?.keys.contains("rule") == true, "rule is always present (null for the default)")
                let real = try lab.connect(from: client.namespace, to: client.server, port: port, timeout: 0.5)
                if real != expected(verdict) {
                    disagreements.append("\(client.source) -> \(port): explain says \(verdict), the kernel did \(real)")
                }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements)")
    }

    /// Random policies over TCP and UDP, with rules bound to interfaces, against real
    /// connections: at least 200 cases in CI (PORTCTL_EXPLAIN_CASES policies of 12 probes each;
    /// PORTCTL_EXPLAIN_SEED replays a failure).
    @Test func randomPoliciesAgreeWithTheKernel() throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["PORTCTL_EXPLAIN_SEED"].flatMap(UInt64.init) ?? 8
        let policies = environment["PORTCTL_EXPLAIN_CASES"].flatMap(Int.init) ?? 20
        var generator = SeededGenerator(state: seed)
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 27, 28, 29, 30, 31, 32, 33)
        try lab.listenUDP(26, 27, 28, 29, 30, 31, 32, 33)
        let sourcePool = ["198.51.100.0/24", "198.51.100.2", "198.51.100.0/30", "203.0.113.0/25", "203.0.113.2",
                          "2001:db8:1::/64", "2001:db8:1::2", "2001:db8:2::/48", "2001:db8::/32", "0.0.0.0/0"]
        let interfaces: [String?] = [nil, nil, nil, lab.interfaceA, lab.interfaceB, String(lab.interfaceA.dropLast(2)) + "*"]
        var cases = 0
        for round in 0..<policies {
            var rules: [PortRule] = []
            for index in 0..<Int.random(in: 1...6, using: &generator) {
                let first = Int.random(in: 26...33, using: &generator)
                let last = Bool.random(using: &generator) ? first : min(33, first + Int.random(in: 0...3, using: &generator))
                let action = [RuleAction.allow, .allow, .deny, .reject].randomElement(using: &generator)!
                let proto = [TransportProtocol.tcp, .tcp, .udp, .both].randomElement(using: &generator)!
                let sources = (0..<Int.random(in: 0...3, using: &generator)).map { _ in sourcePool.randomElement(using: &generator)! }
                rules.append(PortRule(id: "r\(index)", ports: [try PortRange(first, last)], proto: proto, action: action,
                                      sources: try sources.map { try IPNetwork(parsing: $0) },
                                      interface: interfaces.randomElement(using: &generator)!))
            }
            let policy = PortPolicy(inbound: [InboundDefault.drop, .reject, .accept].randomElement(using: &generator)!, rules: rules)
            try PolicyFile.encode(policy).write(toFile: lab.policyPath, atomically: true, encoding: .utf8)
            let applied = try lab.portctl("apply")
            #expect(applied.status == 0, "round \(round): \(applied)")
            var probes: [(client: (namespace: String, source: String, server: String), port: Int, proto: TransportProtocol)] = []
            for _ in 0..<12 {
                probes.append((clients(lab).randomElement(using: &generator)!, Self.ports.randomElement(using: &generator)!,
                               Bool.random(using: &generator) ? .tcp : .udp))
            }
            let seen = try lab.connectAll(probes.map { NetLab.Probe(from: $0.client.namespace, to: $0.client.server, port: $0.port, udp: $0.proto == .udp) })
            for (index, probe) in probes.enumerated() {
                let arrivesOn = probe.client.namespace == lab.clientA ? lab.interfaceA : lab.interfaceB
                let decision = policy.evaluate(Packet(source: IPAddress(probe.client.source)!, port: UInt16(probe.port),
                                                      proto: probe.proto, interface: arrivesOn))
                #expect(seen[index] == expected(decision.verdict),
                        "seed \(seed) round \(round): \(probe.client.source) -> \(probe.port)/\(probe.proto.rawValue) on \(arrivesOn): evaluate says \(decision.verdict) (\(decision.ruleID ?? "default")), kernel did \(seen[index]); policy: \(PolicyFile.encode(policy))")
                cases += 1
            }
        }
        #expect(cases >= (environment["PORTCTL_EXPLAIN_CASES"] == nil ? 200 : 0))
    }
}

/// Above Renderer.dispatchThreshold inbound rules the input chain dispatches through verdict
/// maps; the kernel must still do exactly what explain says, and plans must still be exact.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct DispatchLayoutTests {
    func policy(extraRules: Int) throws -> PortPolicy {
        var rules = [
            PortRule(id: "relays", ports: [try PortRange(26), try PortRange(27)], sources: try ["198.51.100.0/24", "2001:db8:2::/64"].map { try IPNetwork(parsing: $0) }),
            PortRule(id: "no-b", ports: [try PortRange(27, 29)], action: .deny, sources: [try IPNetwork(parsing: "203.0.113.0/24")]),
            PortRule(id: "web", ports: [try PortRange(28), try PortRange(29), try PortRange(30)]),
            PortRule(id: "refuse", ports: [try PortRange(30, 31)], action: .reject, sources: try ["2001:db8:1::2", "203.0.113.2"].map { try IPNetwork(parsing: $0) }),
            PortRule(id: "both", ports: [try PortRange(32)], proto: .both, sources: [try IPNetwork(parsing: "2001:db8::/32")]),
        ]
        for index in 0..<extraRules {
            rules.append(PortRule(id: "x\(index)", ports: [try PortRange(5000 + index * 3, 5004 + index * 3)],
                                  sources: [try IPNetwork(parsing: "10.\(index).0.0/16")]))
        }
        return PortPolicy(rules: rules)
    }

    @Test func verdictMapsAgreeWithExplainAndPlansStayExact() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 27, 28, 29, 30, 31, 32, 33)
        let big = try policy(extraRules: 40)
        try PolicyFile.encode(big).write(toFile: lab.policyPath, atomically: true, encoding: .utf8)
        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.nft("list", "chain", "inet", "portctl", "input").stdout.contains("vmap"))
        // Force a real listing (another table changes the generation): the plan must be empty.
        #expect(try lab.nft("add", "table", "ip", "other").status == 0)
        #expect(try lab.kernelMatchesPolicy())
        let clients = [(lab.clientA, NetLab.clientA4, NetLab.serverA4), (lab.clientA, NetLab.clientA6, NetLab.serverA6),
                       (lab.clientB, NetLab.clientB4, NetLab.serverB4), (lab.clientB, NetLab.clientB6, NetLab.serverB6)]
        var disagreements: [String] = []
        for (namespace, source, server) in clients {
            for port in 26...33 {
                let decision = big.evaluate(packet: Packet(source: IPAddress(source)!, port: UInt16(port)))
                let expected: Connection = decision.verdict == .accept ? .connected : (decision.verdict == .reject ? .refused : .timedOut)
                let real = try lab.connect(from: namespace, to: server, port: port, timeout: 0.5)
                if real != expected { disagreements.append("\(source) -> \(port): evaluate \(decision.verdict), kernel \(real)") }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements)")

        // A hand-made rule inside a rule chain is drift; apply removes it.
        #expect(try lab.nft("add", "rule", "inet", "portctl", "rule-web", "tcp", "dport", "33", "accept").status == 0)
        let drift = try lab.portctl("plan")
        #expect(drift.status == 2 && drift.stdout.contains("tcp dport 33 accept"), "\(drift)")
        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.kernelMatchesPolicy())

        // Back under the threshold: the linear layout returns and nothing is left behind.
        let small = try policy(extraRules: 2)
        try PolicyFile.encode(small).write(toFile: lab.policyPath, atomically: true, encoding: .utf8)
        let shrink = try lab.portctl("plan")
        #expect(shrink.status == 2 && !shrink.stdout.contains("drift"), "\(shrink)")
        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.kernelMatchesPolicy())
        #expect(!(try lab.nft("list", "table", "inet", "portctl").stdout.contains("rule-")))
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 28) == .timedOut)
    }
}
