import Foundation
import PortPolicy
import Testing

/// The nftables 1.1 lane: the packaged portctl installed with dpkg in a Debian 13 tree (nftables
/// and libnftables1 1.1.x), run from inside it (chroot) in the lab's server namespace with a
/// private policy file and state folder inside the tree, against real TCP from the client
/// namespaces. Every state is checked against the tree's own `nft -j` listing (1.1.x), read in
/// this process with ``LiveTable`` and planned against the policy file, and against `portctl plan`.
/// The host's nft is never used on these tables: nft 1.0.6 crashes (SIGSEGV) listing an interval
/// set that libnftables 1.1.3 created.
@Suite(.serialized, .enabled(if: KernelLab.available && PackageLab.found && DebianRelease.trixie.ready,
                             Comment(rawValue: DebianRelease.trixie.reason)))
struct Nft11LaneTests {
    @Test func theVersionOpenCloseEveryKindOfChangeDriftDormantBansAndAddressFiles() throws {
        let lane = try Nft11Lab()
        defer { lane.cleanup() }
        let lab = lane.lab

        // The binary in the tree runs on the tree's libnftables 1.1.
        let release = try lane.libnftablesRelease()
        #expect(release.hasPrefix("1.1."), "the tree's libnftables1 is \(release)")
        let version = try lane.portctl("--version", "--verbose")
        let lines = version.stdout.split(separator: "\n").map(String.init)
        #expect(version.status == 0 && lines.count == 2 && lines[0] == "portctl 0.1.0", "\(version)")
        #expect(lines.last?.hasPrefix("libnftables \(release) (/") == true && lines.last?.contains("/libnftables.so.1") == true, "\(version)")
        let nftVersion = try lane.nft("--version")
        #expect(nftVersion.stdout.contains("v\(release)"), "\(nftVersion)")

        // open and close with real TCP.
        try lab.listen(26, 27, 28, 2525, 8443)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        try lane.change("open", "26", "--from", "198.51.100.0/24,2001:db8:1::/64")
        #expect(try lab.connectAll([NetLab.Probe(from: lab.clientA, to: NetLab.serverA4, port: 26),
                                    NetLab.Probe(from: lab.clientA, to: NetLab.serverA6, port: 26),
                                    NetLab.Probe(from: lab.clientB, to: NetLab.serverB4, port: 26),
                                    NetLab.Probe(from: lab.clientB, to: NetLab.serverB6, port: 26)])
                == [.connected, .connected, .timedOut, .timedOut])

        // Every kind of change reads back in sync.
        try lane.change("deny", "27", "--log")
        // nft 1.1 prints the log's limit with its default burst (1.0.6: `limit rate 10/minute log`);
        // the JSON is the same in both (`"burst": 5`), and that is what portctl reads.
        #expect(try lane.nft("list", "table", "inet", "portctl").stdout
                .contains("limit rate 10/minute burst 5 packets log prefix \"portctl deny-tcp-27: \""))
        try lane.change("open", "2525", "--limit", "10/minute")
        try lane.change("open", "8443", "--from", NetLab.clientB4, "--for", "2h")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 8443) == .connected)
        try lane.change("ban", NetLab.clientA4)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26, timeout: 0.5) == .timedOut)
        try lane.change("unban", NetLab.clientA4)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        try lane.change("ban", "192.0.2.99", "--for", "1h")
        try lane.change("default", "routed", "drop")

        // An address file inside the tree: apply re-reads it.
        try Data("203.0.113.0/24\n".utf8).write(to: lane.hostURL(Nft11Lab.folder + "/relays.txt"))
        try lane.change("open", "28", "--from", "@\(Nft11Lab.folder)/relays.txt")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 28) == .connected)
        try Data("203.0.113.9\n".utf8).write(to: lane.hostURL(Nft11Lab.folder + "/relays.txt"))
        #expect(try lane.portctl("plan").status == 2)
        try lane.change("apply")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 28, timeout: 0.5) == .timedOut)

        try lane.change("close", "26")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26, timeout: 0.5) == .timedOut)

        // Drift: an element added by hand with the tree's nft is seen, and apply takes it out.
        let found = try lane.setName(holding: "203.0.113.9")
        let set = try #require(found, "no set of the table holds 203.0.113.9")
        #expect(try lane.nft("add", "element", "inet", "portctl", set, "{ 203.0.113.2 }").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 28) == .connected)
        let drift = try lane.portctl("plan")
        #expect(drift.status == 2 && drift.stdout.contains("203.0.113.2"), "\(drift)")
        #expect(try !lane.plans().allSatisfy(\.isEmpty), "the listing shows the hand-made element")
        try lane.change("apply")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 28, timeout: 0.5) == .timedOut)

        // A dormant table is drift; apply wakes it.
        #expect(try lane.nft("add", "table", "inet", "portctl", "{ flags dormant; }").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .connected, "a dormant table filters nothing")
        let dormant = try lane.portctl("plan")
        #expect(dormant.status == 2 && dormant.stdout.contains("dormant"), "\(dormant)")
        let asleep = try lane.portctl("status")
        #expect(asleep.status == 0 && asleep.stdout.contains("DORMANT"), "\(asleep)")
        try lane.change("apply")
        #expect(try !lane.nft("list", "table", "inet", "portctl").stdout.contains("dormant"))
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27, timeout: 0.5) == .timedOut)

        // status, metrics and explain, read through libnftables 1.1.
        let status = try lane.portctl("status")
        #expect(status.status == 0 && status.stdout.split(separator: "\n").contains("libnftables \(release)"), "\(status)")
        let json = try lane.portctl("status", "--json")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["libnftables"] as? String == release, "\(json)")
        let rules = object?["rules"] as? [[String: Any]] ?? []
        #expect((rules.first { $0["id"] as? String == "allow-tcp-8443" }?["packets"] as? Int ?? 0) > 0, "\(json)")
        let metrics = try lane.portctl("metrics")
        let counted = metrics.stdout.split(separator: "\n").first { $0.hasPrefix("portctl_rule_packets_total{id=\"allow-tcp-8443\",") }
        #expect(metrics.status == 0 && (counted?.split(separator: " ").last.flatMap { Int($0) } ?? 0) > 0, "\(metrics)")
        #expect(metrics.stdout.contains("portctl_in_sync 1"), "\(metrics)")
        let explain = try lane.portctl("explain", NetLab.clientB4, "8443")
        #expect(explain.status == 0 && explain.stdout.contains("allow-tcp-8443"), "\(explain)")
        let refused = try lane.portctl("explain", NetLab.clientB4, "27")
        #expect(refused.stdout.contains("deny-tcp-27"), "\(refused)")
    }

    /// Forwarding (DNAT to the target), routing between segments under `default routed drop`,
    /// and a published port made by a hand-written DNAT in another table (loaded with the
    /// tree's nft): filtered, then opened per source.
    @Test func forwardRouteAndAPublishedPortWithPackets() throws {
        let lane = try Nft11Lab()
        defer { lane.cleanup() }
        let lab = lane.lab
        try lab.addTarget()
        #expect(try run(["ip", "netns", "exec", lab.server, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]).status == 0)
        for (namespace, network, via) in [(lab.clientB, "198.51.100.0/24", NetLab.serverB4), (lab.clientB, "192.0.2.0/24", NetLab.serverB4),
                                          (lab.clientA, "203.0.113.0/24", NetLab.serverA4)] {
            #expect(try run(["ip", "-n", namespace, "route", "add", network, "via", via]).status == 0)
        }
        try lab.listen([2525, 27], in: lab.clientB, udp: false)
        try lab.listen([80], in: lab.target, udp: false)

        // A published port: someone's DNAT, in a table of theirs, 8080 to the target's 80.
        let nat = "table ip nat {\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\ttcp dport 8080 dnat to 192.0.2.2:80\n\t}\n}\n"
        try Data(nat.utf8).write(to: lane.hostURL(Nft11Lab.folder + "/nat.nft"))
        #expect(try lane.nft("-f", Nft11Lab.folder + "/nat.nft").status == 0)
        func published() throws -> [Connection] {
            try lab.connectAll([NetLab.Probe(from: lab.clientA, to: NetLab.serverA4, port: 8080),
                                NetLab.Probe(from: lab.clientB, to: NetLab.serverB4, port: 8080)])
        }
        #expect(try published() == [.connected, .connected])
        let first = try lane.change("open", "22")
        #expect(first.stderr.contains("published port 8080/tcp (DNAT to 192.0.2.2:80, table ip nat) is not allowed by the policy"), "\(first)")
        #expect(try published() == [.timedOut, .timedOut])
        try lane.change("open", "8080", "--from", "198.51.100.0/24")
        #expect(try published() == [.connected, .timedOut])
        let explain = try lane.portctl("explain", NetLab.clientB4, "8080")
        #expect(explain.stdout.contains("published (DNAT to 192.0.2.2:80, table ip nat)"), "\(explain)")

        // portctl's own forward: 26 on the server to 203.0.113.2:2525, for client A's network.
        try lane.change("forward", "26", "--to", "203.0.113.2:2525", "--from", "198.51.100.0/24")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.target, to: NetLab.serverT4, port: 26) == .timedOut)

        // Routing between segments: dropped by default, one flow allowed by a route.
        #expect(try lab.connect(from: lab.clientA, to: NetLab.clientB4, port: 27) == .connected)
        try lane.change("default", "routed", "drop")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.clientB4, port: 27, timeout: 0.5) == .timedOut)
        try lane.change("route", "27", "--from", "198.51.100.0/24", "--to", "203.0.113.0/24")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.clientB4, port: 27) == .connected)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected, "the forward still works")
        let routed = try lane.portctl("explain", NetLab.clientA4, "27", "--to", NetLab.clientB4)
        #expect(routed.stdout.contains("route-tcp-27"), "\(routed)")
        try lane.change("remove", "fwd-tcp-26")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26, timeout: 0.5) == .timedOut)
    }

    /// The drop record (a dynamic set of concatenations updated from the packet path) lists the
    /// refused connections and reads back in sync; rollback and `--confirm`, whose watchdog runs
    /// inside the tree and rolls the change back by itself.
    @Test func dropsRollbackAndConfirm() throws {
        let lane = try Nft11Lab()
        defer { lane.cleanup() }
        let lab = lane.lab
        try lab.listen(26, 27, 28, 29)
        try lane.change("open", "26", "--from", "198.51.100.0/24")
        for _ in 0..<2 { #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26, timeout: 0.5) == .timedOut) }
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB6, port: 26, timeout: 0.5) == .timedOut)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        let drops = try lane.portctl("drops", "--json")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(drops.stdout.utf8)) as? [String: Any], "\(drops)")
        let rows = (report["connections"] as? [[String: Any]] ?? []).map {
            "\($0["source"] as? String ?? "") \($0["port"] as? Int ?? 0)/\($0["proto"] as? String ?? "") \($0["reason"] as? String ?? "") \($0["packets"] as? Int ?? 0)"
        }.sorted()
        #expect(rows == ["\(NetLab.clientB4) 26/tcp default 2", "\(NetLab.clientB6) 26/tcp default 1"].sorted(), "\(drops)")
        let text = try lane.portctl("drops")
        #expect(text.stdout.contains("portctl open 26/tcp --from \(NetLab.clientB4)"), "\(text)")
        // The tree has no /etc/protocols (no netbase): nft names TCP by its number there.
        let listing = try lane.nft("list", "set", "inet", "portctl", "portctl-drops4").stdout
        #expect(listing.contains("\(NetLab.clientB4) . 6 . 26 . 0x10000000 counter packets 2 "), "\(listing)")
        let elements = try lane.nft("-j", "list", "set", "inet", "portctl", "portctl-drops4").stdout
        #expect(elements.contains("\"concat\": [\"\(NetLab.clientB4)\", 6, 26, 268435456]"), "\(elements)")
        #expect(try lane.plans().allSatisfy(\.isEmpty), "recorded drops are state, not drift")
        #expect(try lane.uncachedPlan().stdout.contains("nothing to change"))

        // rollback puts back the policy and the ruleset before the last change.
        let before = lane.policyBytes()
        try lane.change("open", "27")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 27) == .connected)
        #expect(try lane.portctl("rollback").status == 0)
        #expect(lane.policyBytes() == before)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 27, timeout: 0.5) == .timedOut)
        #expect(try lane.plans().allSatisfy(\.isEmpty))

        // --confirm, confirmed: it stays.
        let confirming = try lane.change("open", "28", "--confirm", "30")
        #expect(confirming.stdout.contains("portctl confirm"), "\(confirming)")
        let confirmed = try lane.portctl("confirm")
        #expect(confirmed.status == 0 && confirmed.stdout.contains("confirmed"), "\(confirmed)")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 28) == .connected)

        // --confirm, left alone: the watchdog (started inside the tree) rolls it back.
        let waiting = lane.policyBytes()
        let unconfirmed = try lane.change("open", "29", "--confirm", "2")
        #expect(unconfirmed.stdout.contains("portctl confirm"), "\(unconfirmed)")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 29) == .connected)
        let pending = lane.hostURL(Nft11Lab.folder + "/state/pending-confirm.json").path
        let deadline = Date().addingTimeInterval(10)
        while FileManager.default.fileExists(atPath: pending) && Date() < deadline { usleep(100_000) }
        #expect(!FileManager.default.fileExists(atPath: pending), "the watchdog rolled back within 10 s")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 29, timeout: 0.5) == .timedOut)
        #expect(lane.policyBytes() == waiting)
        #expect(try lane.plans().allSatisfy(\.isEmpty))
        let history = try lane.portctl("history")
        #expect(history.stdout.contains("auto-rollback") && history.stdout.contains("[rolled back]"), "\(history)")
    }
}

/// A lab for the lane: a copy of the Debian 13 tree with the package installed by dpkg, the test
/// namespaces, and portctl's policy and state in a folder of the tree (never the host's).
final class Nft11Lab {
    /// The folder inside the tree holding the policy file and the state folder (mode 0700).
    static let folder = "/srv/portctl-lab"
    let tree: DebianTree
    let lab: NetLab

    init() throws {
        let deb = try #require(PackageLab.deb, Comment(rawValue: PackageLab.reason))
        tree = try DebianTree(.trixie)
        do {
            lab = try NetLab()
        } catch {
            tree.cleanup()
            throw error
        }
        do {
            try tree.add(deb, as: "/tmp/portctl.deb")
            let installed = try tree.runInside(["dpkg", "-i", "/tmp/portctl.deb"], in: lab)
            if installed.status != 0 { throw LabError(message: "dpkg -i in the Debian 13 tree: \(installed)") }
            try FileManager.default.createDirectory(at: hostURL(Self.folder), withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            cleanup()
            throw error
        }
    }

    /// Ends what runs in the namespaces (the watchdogs too), then removes the tree's copy.
    func cleanup() {
        lab.cleanup()
        tree.cleanup()
    }

    /// Where a path of the tree is on the host.
    func hostURL(_ path: String) -> URL { tree.root.appendingPathComponent(String(path.dropFirst())) }

    /// The environment that points the tree's portctl at the lab's folder.
    var environment: [String: String] {
        ["PORTCTL_POLICY": Self.folder + "/policy.yaml", "PORTCTL_STATE_DIR": Self.folder + "/state"]
    }

    /// Runs the packaged `portctl ARGS` inside the tree, in the server namespace.
    @discardableResult
    func portctl(_ arguments: String...) throws -> Outcome {
        try tree.runInside(["/usr/sbin/portctl"] + arguments, in: lab, environment: environment)
    }

    /// Runs a change that must succeed, then checks that the kernel reads back in sync: the tree's
    /// nft listing read here, and `portctl plan` from the kernel.
    @discardableResult
    func change(_ arguments: String..., sourceLocation: SourceLocation = #_sourceLocation) throws -> Outcome {
        let outcome = try tree.runInside(["/usr/sbin/portctl"] + arguments, in: lab, environment: environment)
        #expect(outcome.status == 0, "\(arguments.joined(separator: " ")): \(outcome)", sourceLocation: sourceLocation)
        let readings = try plans()
        let inSync = readings.allSatisfy(\.isEmpty)
        #expect(inSync, "after \(arguments.joined(separator: " ")): \(readings.map(\.changes))", sourceLocation: sourceLocation)
        let plan = try uncachedPlan()
        #expect(plan.status == 0, "portctl plan after \(arguments.joined(separator: " ")): \(plan)", sourceLocation: sourceLocation)
        return outcome
    }

    /// `portctl plan` from its own reading of the kernel through libnftables 1.1, with its cache
    /// off (a warm cache answers for the kernel right after a change).
    func uncachedPlan() throws -> Outcome {
        try tree.runInside(["/usr/sbin/portctl", "plan"], in: lab, environment: environment.merging(["PORTCTL_NO_CACHE": "1"]) { $1 })
    }

    /// Runs the tree's `nft ARGS` (1.1.x) in the server namespace.
    @discardableResult
    func nft(_ arguments: String...) throws -> Outcome {
        try tree.runInside(["nft"] + arguments, in: lab)
    }

    /// The upstream version of the tree's libnftables1 (`1.1.3` of `1.1.3+dfsg-2`).
    func libnftablesRelease() throws -> String {
        let version = try tree.runInside(["dpkg-query", "-W", "-f", "${Version}", "libnftables1"], in: lab).stdout
        let upstream = version.split(separator: ":").last.map(String.init) ?? version
        return String(upstream.split(whereSeparator: { $0 == "-" || $0 == "+" || $0 == "~" }).first ?? "")
    }

    /// The policy file's bytes.
    func policyBytes() -> Data { FileManager.default.contents(atPath: hostURL(Self.folder + "/policy.yaml").path) ?? Data() }

    /// The plan from the kernel to the policy file, from the tree's `nft -j list table` (1.1.x)
    /// read in this process with ``LiveTable``: never portctl's own reading or its cache.
    func plans() throws -> [Plan] {
        let data = try #require(FileManager.default.contents(atPath: hostURL(Self.folder + "/policy.yaml").path))
        let policy = try PolicyFile.decode(data) { file throws(PolicyError) in
            guard let text = try? String(contentsOf: self.hostURL(file), encoding: .utf8) else { throw .invalidSource("@" + file, reason: "unreadable") }
            return try IPNetwork.parseList(text, name: file, allowEmpty: true)
        }
        return try [nft("-j", "list", "table", "inet", policy.table)].map { listing in
            if listing.status != 0 && !listing.stderr.contains("No such file or directory") {
                throw LabError(message: "nft -j list table failed: \(listing)")
            }
            let live = listing.status == 0 ? try LiveTable.read(json: listing.stdout, table: policy.table) : nil
            return Planner.plan(policy, live: live)
        }
    }

    /// The name of the table's address set whose listing (the tree's nft) holds `address`.
    func setName(holding address: String) throws -> String? {
        let listing = try nft("-j", "list", "sets", "inet")
        return LiveTable.objects(listing.stdout, kind: "set").first { set in
            set["table"] as? String == "portctl" && "\(set["elem"] ?? "")".contains(address)
        }?["name"] as? String
    }
}
