import Foundation
import PortPolicy
import Testing

/// Packets beyond inbound TCP: UDP allowed, rejected (the client sees ICMP port-unreachable) and
/// dropped; outbound rules under an outbound default of drop; rules bound to one interface.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct PacketPathTests {
    @Test func udpAllowRejectAndDeny() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listenUDP(53, 54, 55, 56)
        // Before portctl, every port echoes.
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 55, udp: true) == .connected)
        #expect(try lab.portctl("open", "53/udp", "--from", "198.51.100.0/24,2001:db8:1::/64").status == 0)
        #expect(try lab.portctl("reject", "54/udp").status == 0)
        #expect(try lab.portctl("deny", "55/udp").status == 0)
        #expect(try lab.portctl("open", "55/udp").status == 0)
        let grid: [(String, String, Int, Connection)] = [
            (lab.clientA, NetLab.serverA4, 53, .connected), (lab.clientA, NetLab.serverA6, 53, .connected),
            (lab.clientB, NetLab.serverB4, 53, .timedOut), (lab.clientB, NetLab.serverB6, 53, .timedOut),
            (lab.clientA, NetLab.serverA4, 54, .refused), (lab.clientB, NetLab.serverB6, 54, .refused),
            (lab.clientA, NetLab.serverA4, 55, .timedOut), (lab.clientA, NetLab.serverA6, 55, .timedOut),
            (lab.clientA, NetLab.serverA4, 56, .timedOut),
        ]
        let seen = try lab.connectAll(grid.map { NetLab.Probe(from: $0.0, to: $0.1, port: $0.2, udp: true) })
        for (index, probe) in grid.enumerated() {
            #expect(seen[index] == probe.3, "udp \(probe.1):\(probe.2) from \(probe.0): \(seen[index])")
        }
        // TCP on the same ports is untouched by the UDP rules: dropped by the default.
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 53, timeout: 0.5) == .timedOut)
        #expect(try lab.kernelMatchesPolicy())
    }

    @Test func outboundRulesUnderAnOutboundDefaultOfDrop() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen([26, 27], in: lab.clientA, udp: false)
        try lab.listen([26], in: lab.clientB, udp: false)
        try lab.listen(22)
        try Data("""
        version: 1
        defaults:
          inbound: drop
          outbound: drop
        rules:
          - id: ssh
            ports: 22
          - id: relay-out
            direction: out
            ports: 26
            to: [198.51.100.2, "2001:db8:1::2"]
        """.utf8).write(to: URL(fileURLWithPath: lab.policyPath))
        #expect(try lab.portctl("apply").status == 0)
        let grid: [(String, Int, Connection)] = [
            (NetLab.clientA4, 26, .connected), (NetLab.clientA6, 26, .connected),
            (NetLab.clientB4, 26, .timedOut), (NetLab.clientA4, 27, .timedOut),
        ]
        // Neighbour discovery must happen under the outbound default of drop (without the
        // output baseline's ICMPv6 no IPv6 packet leaves). A veth pair this young loses its first
        // exchange after a flush even with no firewall at all, so the timeout allows one resend.
        #expect(try run(["ip", "-n", lab.server, "neigh", "flush", "all"]).status == 0)
        let seen = try lab.connectAll(grid.map { NetLab.Probe(from: lab.server, to: $0.0, port: $0.1) }, timeout: 2.5)
        for (index, probe) in grid.enumerated() {
            #expect(seen[index] == probe.2, "server -> \(probe.0):\(probe.1): \(seen[index])")
        }
        // Inbound still works both ways: replies to an allowed inbound connection leave.
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 22) == .connected)
        #expect(try lab.kernelMatchesPolicy())
    }

    @Test func interfaceRulesAdmitOneInterfaceAndNotTheOther() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 27)
        #expect(try lab.portctl("open", "26", "--interface", lab.interfaceA).status == 0)
        #expect(try lab.portctl("open", "27", "--interface", String(lab.interfaceB.dropLast()) + "*").status == 0)
        let grid: [(String, String, Int, Connection)] = [
            (lab.clientA, NetLab.serverA4, 26, .connected), (lab.clientA, NetLab.serverA6, 26, .connected),
            (lab.clientB, NetLab.serverB4, 26, .timedOut), (lab.clientB, NetLab.serverB6, 26, .timedOut),
            (lab.clientA, NetLab.serverA4, 27, .connected), (lab.clientB, NetLab.serverB4, 27, .connected),
        ]
        let seen = try lab.connectAll(grid.map { NetLab.Probe(from: $0.0, to: $0.1, port: $0.2) })
        for (index, probe) in grid.enumerated() {
            #expect(seen[index] == probe.3, "\(probe.1):\(probe.2) from \(probe.0): \(seen[index])")
        }
        let policy = try PolicyFile.decode(lab.policyBytes())
        #expect(policy.evaluate(Packet(source: IPAddress(NetLab.clientB4)!, port: 26, interface: lab.interfaceB)).verdict == .drop)
        #expect(policy.evaluate(Packet(source: IPAddress(NetLab.clientA4)!, port: 26, interface: lab.interfaceA)).verdict == .accept)
    }
}
