import Foundation
import Testing

/// A container runtime (Docker, Podman) running in the lab's server namespace with a web
/// container whose port 80 it publishes on the server's port 8080, DNATed to 192.0.2.2:80.
protocol PublishingRuntime {
    /// The runtime's name, for messages ("Docker").
    var name: String { get }
    var lab: NetLab { get }
    /// Restarts the web container (the runtime rewrites its rules) and waits until it serves.
    func restartWebContainer() throws
}

/// The image both runtimes import: /bin/busybox from busybox-static and a page to serve (no
/// registry is reachable from a test).
enum BusyboxImage {
    static var installed: Bool { FileManager.default.isExecutableFile(atPath: "/bin/busybox") }

    /// Writes the image's root file system as a tarball in `directory` and returns its path.
    static func tarball(in directory: URL) throws -> String {
        let rootfs = directory.appendingPathComponent("rootfs")
        try FileManager.default.createDirectory(at: rootfs.appendingPathComponent("bin"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: rootfs.appendingPathComponent("www"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: rootfs.appendingPathComponent("bin/busybox").path)
        try Data("hello\n".utf8).write(to: rootfs.appendingPathComponent("www/index.html"))
        let tarball = directory.appendingPathComponent("image.tar").path
        let made = try run(["tar", "-C", rootfs.path, "-cf", tarball, "."])
        if made.status != 0 { throw LabError(message: "tar: \(made)") }
        return tarball
    }

    /// The container's command: HTTP on port 80.
    static let webServer = ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]
}

extension NetLab {
    /// Waits (bounded) until something answers on the server's `port` from client A.
    func waitUntilServing(port: Int = 8080) throws {
        let deadline = Date().addingTimeInterval(20)
        while try connect(from: clientA, to: Self.serverA4, port: port, timeout: 0.5) != .connected {
            guard Date() < deadline else { throw LabError(message: "the container did not answer on \(port)") }
            usleep(200_000)
        }
    }

    /// Every table in the server's ruleset but portctl's, with counter values stripped: what a
    /// container runtime wrote, to check that portctl never changes it.
    func foreignTables() throws -> String {
        let listing = try nft("list", "ruleset").stdout
        var kept: [Substring] = []
        var inPortctl = false
        for line in listing.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("table ") { inPortctl = line.hasPrefix("table inet portctl ") }
            if !inPortctl { kept.append(line) }
            if line == "}" { inPortctl = false }
        }
        return kept.joined(separator: "\n").replacingOccurrences(of: #"counter packets \d+ bytes \d+"#, with: "counter", options: .regularExpression)
    }

    /// A named counter's packets, from the kernel's own listing (`nft list counter`).
    func counterPackets(_ name: String) throws -> Int {
        let listing = try nft("list", "counter", "inet", "portctl", name)
        guard listing.status == 0, let match = listing.stdout.firstMatch(of: /packets (\d+)/), let packets = Int(match.1) else {
            throw LabError(message: "nft list counter \(name): \(listing)")
        }
        return packets
    }

    /// Unmounts anything mounted under `directory` in this process's mount namespace, deepest first.
    func unmountAll(under directory: URL) {
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        let ours = mounts.split(separator: "\n").compactMap { $0.split(separator: " ").dropFirst().first.map(String.init) }
            .filter { $0.hasPrefix(directory.path) }.sorted { $0.count > $1.count }
        for path in ours { _ = try? run(["umount", "-l", path]) }
    }
}

extension PublishingRuntime {
    /// What clients A and B see on the server's port 8080.
    func reach() throws -> [Connection] {
        try lab.connectAll([NetLab.Probe(from: lab.clientA, to: NetLab.serverA4, port: 8080),
                            NetLab.Probe(from: lab.clientB, to: NetLab.serverB4, port: 8080)], timeout: 1)
    }

    /// The published port 8080 is filtered for everyone under `defaults.published: filter`,
    /// admitted per source by `open`, denied by `deny`, counted and reported by status, audit and
    /// explain, still governed after the runtime rewrites its rules, and handed back by `default
    /// published accept` and `disable`; the runtime's tables are never changed. Proved with real
    /// connections from the client namespaces and real `nft` listings.
    func checkThePolicyGovernsThePublishedPort() throws {
        #expect(try reach() == [.connected, .connected], "before portctl, \(name) publishes to everyone")
        let theirs = try lab.foreignTables()

        func portctl(_ arguments: String...) throws -> Outcome {
            let outcome = try lab.portctl(arguments)
            #expect(try lab.foreignTables() == theirs, "\(name)'s tables are unchanged after portctl \(arguments)")
            return outcome
        }
        let first = try portctl("open", "22")
        #expect(first.status == 0, "\(first)")
        #expect(first.stderr.contains("published port 8080/tcp (DNAT to 192.0.2.2:80, table ip nat) is not allowed by the policy: it will be dropped"), "\(first)")
        #expect(try lab.listing("list", "chain", "inet", "portctl", "forward").contains("hook forward priority filter - 1"))
        #expect(try reach() == [.timedOut, .timedOut], "inbound drop covers the container's port")

        #expect(try portctl("open", "8080", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.listing("list", "chain", "inet", "portctl", "forward")
            .contains(#"ip saddr @allow-tcp-8080-v4 meta l4proto tcp ct original proto-dst 8080 counter name "allow-tcp-8080" accept"#))
        #expect(try lab.listing("list", "set", "inet", "portctl", "allow-tcp-8080-v4").contains("elements = { 198.51.100.0/24 }"))
        #expect(try reach() == [.connected, .timedOut])
        #expect(try portctl("deny", "8080", "--from", NetLab.clientA4).status == 0)
        #expect(try reach() == [.timedOut, .timedOut], "the deny wins")
        #expect(try portctl("remove", "deny-tcp-8080").status == 0)
        #expect(try reach() == [.connected, .timedOut])

        // Forwarded connections are counted in the rule's own counter (the kernel's listing),
        // and status reports that counter and the default's drops of DNATed connections.
        let before = try lab.counterPackets("allow-tcp-8080")
        for _ in 0..<3 { #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 8080) == .connected) }
        let counted = try lab.counterPackets("allow-tcp-8080")
        #expect(counted >= before + 3)
        let status = try portctl("status", "--json")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any], "\(status)")
        let rules = json["rules"] as? [[String: Any]] ?? []
        #expect(rules.first { $0["id"] as? String == "allow-tcp-8080" }?["packets"] as? Int == counted, "\(status)")
        let defaults = json["defaults"] as? [String: Any] ?? [:]
        #expect(defaults["published"] as? String == "filter" && (defaults["publishedPackets"] as? Int ?? 0) > 0, "\(defaults)")
        #expect(try lab.counterPackets("portctl-default-published") == defaults["publishedPackets"] as? Int)
        #expect(try portctl("status").stdout.contains("published ports: filtered by the same rules"))

        let audit = try portctl("audit", "--json")
        #expect(audit.stdout.contains("\"kind\" : \"published\"") && audit.stdout.contains("\"target\" : \"192.0.2.2:80\"")
                && audit.stdout.contains("\"admits\" : \"some\"") && audit.stdout.contains("\"table\" : \"ip nat\""), "\(audit)")
        let refused = try portctl("explain", NetLab.clientB4, "8080")
        #expect(refused.stdout.contains("drop") && refused.stdout.contains("published (DNAT to 192.0.2.2:80, table ip nat)"), "\(refused)")
        let admitted = try portctl("explain", NetLab.clientA4, "8080")
        #expect(admitted.stdout.contains("accept") && admitted.stdout.contains("allow-tcp-8080"), "\(admitted)")

        // The container restarts (the runtime rewrites its rules): the policy still holds.
        try restartWebContainer()
        #expect(try reach() == [.connected, .timedOut])
        let restarted = try lab.foreignTables()

        #expect(try lab.portctl("default", "published", "accept").status == 0)
        #expect(try !lab.listing("list", "table", "inet", "portctl").contains("hook forward"), "no forward chain: published ports are not filtered")
        #expect(try reach() == [.connected, .connected], "left to \(name) again")
        #expect(try lab.portctl("audit", "--json").stdout.contains("\"kind\" : \"published\""), "audit still reports the published port")
        #expect(try lab.portctl("default", "published", "filter").status == 0)
        #expect(try reach() == [.connected, .timedOut])
        #expect(try lab.portctl("disable").status == 0)
        #expect(try reach() == [.connected, .connected], "portctl gone: \(name)'s own behaviour")
        #expect(try lab.foreignTables() == restarted)
    }
}
