import Foundation
import PortPolicy
import Testing

/// portctl on a router: a client (198.51.100.2), the router (198.51.100.1 and 203.0.113.1,
/// forwarding on) and an internal server (203.0.113.2) listening on 2525, all with real
/// connections. Port forwarding (DNAT) and segmentation (routed traffic).
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct RouterTests {
    /// The lab as a router: forwarding on, the internal server (client B) listening on 2525 and
    /// 26, routes back through the router.
    func router() throws -> NetLab {
        let lab = try NetLab()
        try lab.addTarget()
        for key in ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"] {
            #expect(try run(["ip", "netns", "exec", lab.server, "sysctl", "-qw", key]).status == 0)
        }
        for (namespace, network, via) in [(lab.clientB, "198.51.100.0/24", NetLab.serverB4), (lab.clientB, "192.0.2.0/24", NetLab.serverB4),
                                          (lab.clientB, "2001:db8:1::/64", NetLab.serverB6), (lab.clientA, "203.0.113.0/24", NetLab.serverA4)] {
            #expect(try run(["ip", "-n", namespace, "route", "add", network, "via", via]).status == 0)
        }
        try lab.listen([2525, 26, 27], in: lab.clientB, udp: false)
        try lab.listen([26], in: lab.clientA, udp: false)
        return lab
    }

    @Test func aPortForwardReachesTheInternalServerFromTheListedSourcesOnly() throws {
        let lab = try router()
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "22").status == 0)
        let forwarded = try lab.portctl("forward", "26", "--to", "203.0.113.2:2525", "--from", "198.51.100.0/24")
        #expect(forwarded.status == 0 && forwarded.stdout.contains("added rule fwd-tcp-26") && !forwarded.stdout.contains("drift"), "\(forwarded)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected, "the client reaches 203.0.113.2:2525 through the router")
        #expect(try lab.connect(from: lab.target, to: NetLab.serverT4, port: 26) == .timedOut, "a client outside the range is filtered")
        // Traffic the router merely routes to another machine on port 26 keeps its destination:
        // the third host has nothing on 26, so it answers with a reset (not the server's accept).
        #expect(try run(["ip", "-n", lab.clientA, "route", "add", "192.0.2.0/24", "via", NetLab.serverA4]).status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.target4, port: 26) == .refused)
        #expect(try lab.kernelMatchesPolicy())
        let status = try lab.portctl("status", "--json")
        #expect(status.stdout.contains("\"id\" : \"fwd-tcp-26\""), "\(status)")
        let explain = try lab.portctl("explain", NetLab.clientA4, "26")
        #expect(explain.stdout.contains("forwarded to 203.0.113.2:2525 by rule fwd-tcp-26"), "\(explain)")
        #expect(try lab.portctl("explain", "192.0.2.2", "26").stdout.contains("drop"))

        // A deny for the same source wins over the forward.
        #expect(try lab.portctl("deny", "26", "--from", NetLab.clientA4).status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .timedOut)
        #expect(try lab.portctl("remove", "deny-tcp-26").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)

        // With published ports left to their publishers, portctl's own forward still meets the deny.
        #expect(try lab.portctl("default", "published", "accept").status == 0)
        #expect(try lab.portctl("deny", "26", "--from", NetLab.clientA4).status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .timedOut)
        #expect(try lab.portctl("remove", "deny-tcp-26").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.kernelMatchesPolicy())
        #expect(try lab.portctl("default", "published", "filter").status == 0)

        // remove undoes it.
        #expect(try lab.portctl("remove", "fwd-tcp-26").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .timedOut)
        #expect(try lab.kernelMatchesPolicy())
        #expect(!(try lab.nft("list", "table", "inet", "portctl").stdout.contains("prerouting")))

        // --masquerade: the server has no route back to the client.
        #expect(try run(["ip", "-n", lab.clientB, "route", "del", "198.51.100.0/24"]).status == 0)
        #expect(try lab.portctl("forward", "26", "--to", "203.0.113.2:2525", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .timedOut, "no route back without masquerade")
        #expect(try lab.portctl("close", "26").status == 0)
        #expect(try lab.portctl("forward", "26", "--to", "203.0.113.2:2525", "--from", "198.51.100.0/24", "--masquerade").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.kernelMatchesPolicy())

        // IPv6, with the port kept.
        #expect(try lab.portctl("forward", "27", "--to", "2001:db8:2::2", "--from", "2001:db8:1::/64").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA6, port: 27) == .connected)
        #expect(try lab.kernelMatchesPolicy())
    }

    /// Above the dispatch threshold the routed chain looks flows up by protocol and port; the
    /// packets must still meet exactly what explain says, and plans stay exact.
    @Test func manyRouteFlowsDispatchThroughVerdictMaps() throws {
        let lab = try router()
        defer { lab.cleanup() }
        var policy = PortPolicy(rules: [PortRule(id: "ssh", ports: [try PortRange(22)])])
        policy.routed = .drop
        for index in 0..<40 {
            policy.routes.append(RoutedRule(id: "flow\(index)", ports: [try PortRange(1000 + index)],
                                            sources: [try IPNetwork(parsing: "10.\(index).0.0/16")], destinations: [try IPNetwork(parsing: "203.0.113.0/24")]))
        }
        policy.routes.append(RoutedRule(id: "mail", ports: [try PortRange(26), try PortRange(27)], sources: [try IPNetwork(parsing: "198.51.100.0/24")],
                                        destinations: [try IPNetwork(parsing: "203.0.113.2")]))
        policy.routes.append(RoutedRule(id: "no-27", ports: [try PortRange(27)], action: .deny, sources: [try IPNetwork(parsing: NetLab.clientA4)]))
        try PolicyFile.encode(policy).write(toFile: lab.policyPath, atomically: true, encoding: .utf8)
        let applied = try lab.portctl("apply")
        #expect(applied.status == 0, "\(applied)")
        #expect(try lab.nft("list", "chain", "inet", "portctl", "routed").stdout.contains("vmap"))
        #expect(try lab.connect(from: lab.clientA, to: NetLab.clientB4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.clientB4, port: 27) == .timedOut, "the block wins")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.clientA4, port: 26) == .timedOut)
        #expect(try lab.kernelMatchesPolicy())
        // Back under the threshold: the layout chains go, and nothing else changes.
        policy.routes.removeFirst(35)
        try PolicyFile.encode(policy).write(toFile: lab.policyPath, atomically: true, encoding: .utf8)
        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.kernelMatchesPolicy())
        #expect(!(try lab.nft("list", "table", "inet", "portctl").stdout.contains("rports-")))
        #expect(try lab.connect(from: lab.clientA, to: NetLab.clientB4, port: 26) == .connected)
    }

    @Test func forwardingOffIsAWarningAndAnAuditFinding() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        let forwarded = try lab.portctl("forward", "26", "--to", "203.0.113.2:2525")
        #expect(forwarded.status == 0, "\(forwarded)")
        #expect(forwarded.stderr.contains("net.ipv4.ip_forward=1") && forwarded.stderr.contains("ANY source"), "\(forwarded)")
        let audit = try lab.portctl("audit", "--json")
        #expect(audit.stdout.contains("\"kind\" : \"forwarding-off\""), "\(audit)")
        for arguments in [["forward", "26", "--to", "203.0.113.2:70000"], ["forward", "26", "--to", "nowhere"],
                          ["forward", "26", "--to", "203.0.113.2", "--from", "2001:db8::/32"], ["forward", "26", "--to", "127.0.0.1"],
                          ["forward", "26", "--to", NetLab.serverA4]] {
            let refused = try lab.portctl(arguments)
            #expect(refused.status == 64 && refused.stderr.split(separator: "\n").count == 1, "\(arguments): \(refused)")
        }
    }

    @Test func segmentsTalkOnlyAsRouteRulesAllow() throws {
        let lab = try router()
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "22").status == 0)
        // Routed traffic is untouched by default: installing portctl on a router breaks nothing.
        #expect(try lab.connect(from: lab.clientA, to: NetLab.clientB4, port: 26) == .connected)
        #expect(try lab.portctl("default", "routed", "drop").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.clientB4, port: 26) == .timedOut)
        #expect(try lab.portctl("route", "26", "--from", "198.51.100.0/24", "--to", "203.0.113.0/24").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.clientB4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.clientB4, port: 27) == .timedOut, "other ports stay filtered")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.clientA4, port: 26) == .timedOut, "the server cannot open connections back")
        #expect(try lab.kernelMatchesPolicy())
        #expect(try lab.portctl("deny", "26", "--routed", "--from", NetLab.clientA4, "--to", "203.0.113.0/24").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.clientB4, port: 26) == .timedOut, "deny --routed wins over route")

        // explain agrees with the packets on a grid.
        let policy = try PolicyFile.decode(lab.policyBytes())
        var disagreements: [String] = []
        for (from, source, to, destination) in [(lab.clientA, NetLab.clientA4, lab.clientB, NetLab.clientB4),
                                                 (lab.clientB, NetLab.clientB4, lab.clientA, NetLab.clientA4)] {
            _ = to
            for port in [26, 27] {
                let (verdict, _) = policy.evaluate(routed: RoutedPacket(source: IPAddress(source)!, destination: IPAddress(destination)!, port: UInt16(port)))
                let real = try lab.connect(from: from, to: destination, port: port, timeout: 0.5)
                let expected: Connection = verdict == .accept ? .connected : (verdict == .reject ? .refused : .timedOut)
                if real != expected { disagreements.append("\(source) -> \(destination):\(port): explain \(verdict), kernel \(real)") }
                let explain = try lab.portctl("explain", source, String(port), "--to", destination)
                if !explain.stdout.contains("routed: \(verdict.rawValue)") { disagreements.append("explain --to said: \(explain.stdout)") }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements)")
        #expect(try lab.portctl("default", "routed", "accept").status == 0)
        #expect(try lab.portctl("remove", "deny-routed-tcp-26").status == 0)
        #expect(try lab.portctl("remove", "route-tcp-26").status == 0)
        #expect(try lab.kernelMatchesPolicy())
        #expect(!(try lab.nft("list", "table", "inet", "portctl").stdout.contains("chain routed")))
    }

    /// `--in-interface`/`--out-interface` mean the way a routed packet goes, on route, deny
    /// --routed and explain alike (issue 25); route's old `--in`/`--out` are refused by name.
    @Test func routeInterfacesAreTheWayPacketsGo() throws {
        let lab = try router()
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "22").status == 0)
        #expect(try lab.portctl("default", "routed", "drop").status == 0)
        // The wrong way round admits nothing from A to B.
        #expect(try lab.portctl("route", "26", "--in-interface", lab.interfaceB, "--out-interface", lab.interfaceA, "--id", "b-to-a").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.clientB4, port: 26) == .timedOut)
        #expect(try lab.portctl("route", "26", "--interface", lab.interfaceA, "--out-interface", lab.interfaceB, "--id", "a-to-b").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.clientB4, port: 26) == .connected)
        let listing = try lab.nft("list", "chain", "inet", "portctl", "routed").stdout
        #expect(listing.contains("iifname \"\(lab.interfaceA)\" oifname \"\(lab.interfaceB)\""), "\(listing)")
        #expect(try lab.kernelMatchesPolicy())
        // explain names the same interfaces the same way.
        let admitted = try lab.portctl("explain", NetLab.clientA4, "26", "--to", NetLab.clientB4,
                                       "--in-interface", lab.interfaceA, "--out-interface", lab.interfaceB)
        #expect(admitted.status == 0 && admitted.stdout.contains("routed: accept (rule a-to-b"), "\(admitted)")
        let reversed = try lab.portctl("explain", NetLab.clientA4, "26", "--to", NetLab.clientB4,
                                       "--in-interface", lab.interfaceB, "--out-interface", lab.interfaceB)
        #expect(reversed.status == 0 && reversed.stdout.contains("routed: drop"), "\(reversed)")
        // A routed block by the interface it leaves by wins over the route.
        #expect(try lab.portctl("deny", "26", "--routed", "--out-interface", lab.interfaceB).status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.clientB4, port: 26) == .timedOut)
        #expect(try lab.kernelMatchesPolicy())

        // The old spellings: one line with the new name, exit 64, nothing changed.
        let kernel = try lab.ruleset(), file = lab.policyBytes()
        for (arguments, named) in [(["route", "27", "--in", lab.interfaceA], "--in \"\(lab.interfaceA)\" is now --in-interface"),
                                   (["route", "27", "--out", lab.interfaceB], "--out \"\(lab.interfaceB)\" is now --out-interface"),
                                   (["explain", NetLab.clientA4, "26", "--to", NetLab.clientB4, "--out", lab.interfaceB], "is now --out-interface")] {
            let refused = try lab.portctl(arguments)
            #expect(refused.status == 64 && refused.stderr.contains(named) && refused.stderr.split(separator: "\n").count == 1, "\(arguments): \(refused)")
        }
        #expect(try lab.ruleset() == kernel && lab.policyBytes() == file)
    }
}
