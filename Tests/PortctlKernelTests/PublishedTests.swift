import Foundation
import PortPolicy
import Testing

/// Published ports: someone's DNAT sends connections to this host on to another machine (a
/// container, a VM, a server behind it). They never reach the input hook; the policy governs them
/// all the same, in portctl's forward chain. This is the same without Docker: any DNAT, in a
/// table of someone else's, to a server in a fourth namespace.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct PublishedTests {
    static let nat = """
    table ip nat {
        chain prerouting {
            type nat hook prerouting priority dstnat; policy accept;
            tcp dport 8080 dnat to 192.0.2.2:80
        }
    }

    """

    func withDNAT(_ body: (NetLab) throws -> Void) throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.addTarget()
        try lab.listen([80], in: lab.target, udp: false)
        let path = lab.directory.appendingPathComponent("nat.nft").path
        try Data(Self.nat.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try lab.nft("-f", path).status == 0)
        try body(lab)
    }

    /// What clients A and B see on port 8080 of the server.
    func reach(_ lab: NetLab) throws -> [Connection] {
        try lab.connectAll([NetLab.Probe(from: lab.clientA, to: NetLab.serverA4, port: 8080),
                            NetLab.Probe(from: lab.clientB, to: NetLab.serverB4, port: 8080)])
    }

    func natTable(_ lab: NetLab) throws -> String {
        try lab.nft("list", "table", "ip", "nat").stdout
    }

    @Test func theInboundPolicyGovernsAPublishedPort() throws {
        try withDNAT { (lab: NetLab) throws in
            #expect(try reach(lab) == [.connected, .connected], "before portctl, the published port is open to all")
            let theirs = try natTable(lab)

            let first = try lab.portctl("open", "22")
            #expect(first.status == 0, "\(first)")
            #expect(first.stderr.contains("published port 8080/tcp (DNAT to 192.0.2.2:80, table ip nat) is not allowed by the policy: it will be dropped"), "\(first)")
            #expect(try reach(lab) == [.timedOut, .timedOut], "inbound drop now covers the published port")
            #expect(try natTable(lab) == theirs)

            #expect(try lab.portctl("open", "8080", "--from", "198.51.100.0/24").status == 0)
            #expect(try reach(lab) == [.connected, .timedOut])
            #expect(try lab.portctl("deny", "8080", "--from", NetLab.clientA4).status == 0)
            #expect(try reach(lab) == [.timedOut, .timedOut], "a deny wins over the allow, as for a local port")
            #expect(try lab.portctl("remove", "deny-tcp-8080").status == 0)
            #expect(try reach(lab) == [.connected, .timedOut])

            // Counters: the rule's own named counter counts forwarded connections; the default's
            // drops of published traffic have a counter of their own.
            let status = try lab.portctl("status", "--json")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
            let rules = json["rules"] as? [[String: Any]] ?? []
            let allow = try #require(rules.first { $0["id"] as? String == "allow-tcp-8080" })
            #expect((allow["packets"] as? Int ?? 0) > 0, "\(allow)")
            let defaults = json["defaults"] as? [String: Any] ?? [:]
            #expect((defaults["publishedPackets"] as? Int ?? 0) > 0, "\(defaults)")
            #expect(defaults["published"] as? String == "filter")

            // Seen: audit lists the published port like a listener, explain names it.
            let audit = try lab.portctl("audit", "--json")
            #expect(audit.stdout.contains("\"kind\" : \"published\"") && audit.stdout.contains("\"target\" : \"192.0.2.2:80\"")
                    && audit.stdout.contains("\"admits\" : \"some\"") && audit.stdout.contains("\"table\" : \"ip nat\""), "\(audit)")
            let explain = try lab.portctl("explain", NetLab.clientB4, "8080")
            #expect(explain.stdout.contains("drop") && explain.stdout.contains("published (DNAT to 192.0.2.2:80, table ip nat)"), "\(explain)")

            // Left to its publisher, then governed again, then portctl gone: Docker's behaviour.
            #expect(try lab.portctl("default", "published", "accept").status == 0)
            #expect(try reach(lab) == [.connected, .connected])
            #expect(try lab.kernelMatchesPolicy())
            #expect(try lab.portctl("default", "published", "filter").status == 0)
            #expect(try reach(lab) == [.connected, .timedOut])
            #expect(try lab.kernelMatchesPolicy())
            #expect(try lab.portctl("disable").status == 0)
            #expect(try reach(lab) == [.connected, .connected])
            #expect(try natTable(lab) == theirs, "portctl never changed the other table")
        }
    }

    /// A DNAT to one of this host's own addresses is a redirect: the connection reaches the input
    /// hook with the new port, so the rules for that port decide, and explain and audit say so.
    @Test func aRedirectToThisHostIsJudgedByItsNewPort() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(8022)
        let redirect = "table ip nat {\n chain prerouting {\n  type nat hook prerouting priority dstnat; policy accept;\n  tcp dport 8081 dnat to 198.51.100.1:8022\n }\n}\n"
        let path = lab.directory.appendingPathComponent("redirect.nft").path
        try Data(redirect.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try lab.nft("-f", path).status == 0)
        #expect(try lab.portctl("open", "22").status == 0)
        #expect(try lab.portctl("open", "8022", "--from", NetLab.clientA4).status == 0)
        #expect(try lab.portctl("deny", "8081").status == 0)
        // The deny for 8081 does not apply: the connection is judged as one to 8022.
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 8081) == .connected)
        let explain = try lab.portctl("explain", NetLab.clientA4, "8081")
        #expect(explain.stdout.contains("accept") && explain.stdout.contains("redirected to this host's port 8022"), "\(explain)")
        let audit = try lab.portctl("audit", "--json")
        #expect(audit.stdout.contains("redirected to this host's port 8022") && audit.stdout.contains("\"admits\" : \"some\""), "\(audit)")
    }

    @Test func routedTrafficThatIsNotDNATedIsNotTouched() throws {
        try withDNAT { (lab: NetLab) throws in
            // Client B reaches the target directly, routed by the server without any DNAT.
            #expect(try run(["ip", "-n", lab.clientB, "route", "add", "192.0.2.0/24", "via", NetLab.serverB4]).status == 0)
            #expect(try lab.connect(from: lab.clientB, to: NetLab.target4, port: 80) == .connected)
            #expect(try lab.portctl("open", "22").status == 0)
            #expect(try lab.connect(from: lab.clientB, to: NetLab.target4, port: 80) == .connected,
                    "routing is issue 14's business; the published-port chain leaves it alone")
            #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 8080) == .timedOut)
        }
    }

    @Test func defaultVerbChangesEveryDefaultAndRefusesBadValues() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "22").status == 0)
        let file = lab.policyBytes()
        for arguments in [["default", "inbound", "maybe"], ["default", "published", "drop"], ["default", "sideways", "drop"]] {
            let refused = try lab.portctl(arguments)
            #expect(refused.status == 64 && refused.stderr.split(separator: "\n").count == 1, "\(arguments): \(refused)")
        }
        #expect(lab.policyBytes() == file)
        let dry = try lab.portctl("default", "inbound", "reject", "--dry-run")
        #expect(dry.status == 2 && dry.stdout.contains("changed the inbound default: drop -> reject"), "\(dry)")
        #expect(lab.policyBytes() == file)
        #expect(try lab.portctl("default", "inbound", "reject").status == 0)
        #expect(try lab.portctl("default", "outbound", "drop").status == 0)
        #expect(try lab.portctl("default", "published", "accept").status == 0)
        let same = try lab.portctl("default", "published", "accept")
        #expect(same.status == 0 && same.stdout.contains("already accept"), "\(same)")
        let policy = try PolicyFile.decode(lab.policyBytes())
        #expect(policy.inbound == .reject && policy.outbound == .drop && policy.published == .accept)
        #expect(try lab.kernelMatchesPolicy())
        #expect(!(try lab.nft("list", "table", "inet", "portctl").stdout.contains("chain forward")))
        #expect(try lab.portctl("history").stdout.contains("default"))
    }
}
