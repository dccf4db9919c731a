import Foundation
import Testing

/// Under CI the real-kernel tests must run: a machine that cannot make namespaces fails here
/// instead of skipping silently.
@Test func realKernelTestsRunUnderCI() {
    if ProcessInfo.processInfo.environment["CI"] == "true" {
        #expect(KernelLab.available, Comment(rawValue: KernelLab.reason))
    }
}

@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct OpenCloseTests {
    @Test func openFromOneNetworkAdmitsItAndNoOtherOverIPv4AndIPv6() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 27)

        // Before portctl: the listener is reachable from both clients (the lab itself works).
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)

        let opened = try lab.portctl("open", "26", "--from", "198.51.100.0/24,2001:db8:1::/64")
        #expect(opened.status == 0, "\(opened)")

        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA6, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB6, port: 26) == .timedOut)
        // A port never opened stays shut, even for the allowed network.
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 27) == .timedOut)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA6, port: 27) == .timedOut)

        let closed = try lab.portctl("close", "26")
        #expect(closed.status == 0, "\(closed)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .timedOut)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA6, port: 26) == .timedOut)
    }

    @Test func headlineCommandOpensOnlyForTheNamedNetwork() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        let opened = try lab.portctl("open", "26", "--from", "10.0.0.0/8")
        #expect(opened.status == 0, "\(opened)")
        #expect(opened.stdout.contains("allow 26/tcp from 10.0.0.0/8"))
        let listing = try lab.nft("list", "set", "inet", "portctl", "allow-tcp-26-v4")
        #expect(listing.stdout.contains("10.0.0.0/8"), "\(listing)")
        // Neither documentation network is inside 10.0.0.0/8: both are refused.
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .timedOut)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB6, port: 26) == .timedOut)
    }

    @Test func closeWithFromRemovesOnlyThoseSources() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.portctl("open", "26", "--from", "203.0.113.0/24").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        #expect(try lab.portctl("close", "26", "--from", "203.0.113.0/24").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        // Removing the last source removes the rule: it never widens to any source.
        #expect(try lab.portctl("close", "26", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .timedOut)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut)
    }

    @Test func denyAndRejectWinOverAnAllowWhateverTheOrder() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26, 27)
        #expect(try lab.portctl("open", "26,27").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        #expect(try lab.portctl("deny", "26", "--from", "203.0.113.0/24").status == 0)
        #expect(try lab.portctl("reject", "27", "--from", "203.0.113.2,2001:db8:2::/64").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 27) == .refused)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB6, port: 27) == .refused)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA6, port: 27) == .connected)
    }

    @Test func udpAndAnySourceAndServiceNames() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(25)
        let opened = try lab.portctl("open", "smtp")
        #expect(opened.status == 0, "\(opened)")
        #expect(opened.stderr.contains("ANY source"), "the output must say the port is open to anyone")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB6, port: 25) == .connected)
        #expect(try lab.portctl("open", "53/udp", "--from", "198.51.100.0/24").status == 0)
        let rules = try lab.nft("list", "chain", "inet", "portctl", "input").stdout
        #expect(rules.contains("udp dport 53"), "\(rules)")
    }

    /// Edits plan against the previous policy's rendering while the generation cache vouches
    /// for it. A change by hand commits, voids that, and the next edit must see and undo it;
    /// without drift, the edited kernel must be exactly what a full listing expects.
    @Test func editsSeeDriftMadeByHandAndLeaveTheKernelAsPlanned() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.portctl("open", "27").status == 0)
        #expect(try lab.portctl("open", "26", "--from", "2001:db8:1::/64").status == 0)
        #expect(try lab.portctl("close", "27").status == 0)
        #expect(try lab.nft("add", "table", "ip", "unrelated").status == 0)  // voids the cache: plan lists
        #expect(try lab.kernelMatchesPolicy(), "the edits left the kernel exactly as the policy renders")
        #expect(try lab.nft("add", "element", "inet", "portctl", "allow-tcp-26-v4", "{ 203.0.113.0/24 }").status == 0)
        let edit = try lab.portctl("open", "28")
        #expect(edit.status == 0, "\(edit)")
        #expect(!(try lab.ruleset()).contains("203.0.113.0/24"), "the element added by hand is gone")
        #expect(try lab.kernelMatchesPolicy())
    }

    @Test func tablesOwnedByOthersStayByteIdentical() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        // A table made before portctl's.
        let before = lab.directory.appendingPathComponent("before.nft")
        try """
        table ip admin {
            set trusted { type ipv4_addr; flags interval; elements = { 198.51.100.0/28 } }
            chain c { type filter hook input priority 10; policy accept; ip saddr @trusted counter accept comment "theirs"; }
        }
        """.write(to: before, atomically: true, encoding: .utf8)
        #expect(try lab.nft("-f", before.path).status == 0)
        let snapshot = { try lab.nft("-a", "list", "table", "ip", "admin").stdout }
        let original = try snapshot()

        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        // A table made after portctl's.
        #expect(try lab.nft("add", "table", "inet", "later").status == 0)
        #expect(try lab.nft("add", "chain", "inet", "later", "c", "{ type filter hook input priority 20; }").status == 0)
        let laterOriginal = try lab.nft("-a", "list", "table", "inet", "later").stdout

        #expect(try lab.portctl("open", "27").status == 0)
        #expect(try lab.portctl("close", "26").status == 0)
        #expect(try lab.portctl("apply").status == 0)
        #expect(try snapshot() == original)
        #expect(try lab.nft("-a", "list", "table", "inet", "later").stdout == laterOriginal)

        let disabled = try lab.portctl("disable")
        #expect(disabled.status == 0, "\(disabled)")
        #expect(try lab.nft("list", "table", "inet", "portctl").status != 0)
        #expect(try snapshot() == original)
        #expect(try lab.nft("-a", "list", "table", "inet", "later").stdout == laterOriginal)
    }

    @Test func firstRunKeepsSSHOpenAndSaysSo() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(22)
        let opened = try lab.portctl("open", "26", "--from", "10.0.0.0/8")
        #expect(opened.stdout.contains("SSH"), "\(opened)")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 22) == .connected)
    }

    @Test func invalidInputChangesNeitherFileNorKernel() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        let policyPath = lab.environment["PORTCTL_POLICY"]!
        let file = try Data(contentsOf: URL(fileURLWithPath: policyPath))
        let kernel = try lab.listing("-a", "list", "ruleset")
        for arguments in [["open", "0"], ["open", "65536"], ["open", "26", "--from", "10.0.0.1/8"],
                          ["open", "26/tcpx"], ["open", "10-5"], ["deny", "23", "--comment", "x\"; flush ruleset; \""],
                          ["open", "26", "--interface", "eth0; drop"], ["close", "26", "--from", "203.0.113.0/24"]] {
            let outcome = try run(["ip", "netns", "exec", lab.server, productsDirectory.appendingPathComponent("portctl").path] + arguments,
                                  environment: lab.environment)
            #expect(outcome.status == 64, "\(arguments): \(outcome)")
            #expect(outcome.stderr.split(separator: "\n").count == 1, "\(arguments): one line, got \(outcome.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: policyPath)) == file)
            #expect(try lab.listing("-a", "list", "ruleset") == kernel)
        }
    }
}
