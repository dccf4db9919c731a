import Foundation
import Testing
@testable import PortPolicy

/// Trace events as the kernel sent them (Fixtures/trace: netlink buffers captured from kernel
/// 6.18 in a namespace while `portctl watch` ran, one buffer a line in hex, and the ruleset
/// listing `nft -a -s -t list ruleset` printed meanwhile).
@Suite struct TraceTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/trace")

    static func buffers(_ name: String) throws -> [[UInt8]] {
        let text = try String(contentsOf: fixtures.appendingPathComponent(name + ".hex"), encoding: .utf8)
        return text.split(separator: "\n").map { line in
            var bytes: [UInt8] = []
            var index = line.startIndex
            while index < line.endIndex {
                let next = line.index(index, offsetBy: 2)
                bytes.append(UInt8(line[index..<next], radix: 16)!)
                index = next
            }
            return bytes
        }
    }

    static func listing(_ name: String) throws -> String {
        try String(contentsOf: fixtures.appendingPathComponent(name + "-listing.txt"), encoding: .utf8)
    }

    /// The fixture's packets, grouped and named as `watch` does, in the order they completed.
    static func packets(_ name: String) throws -> [TracedPacket] {
        let listing = try listing(name)
        let ruleset = TraceRuleset(listing: listing)
        let traceTable = try #require(ruleset.chains.keys.compactMap { key -> String? in
            let words = key.split(separator: " ")
            return words[1].hasPrefix(TraceTable.prefix) ? String(words[1]) : nil
        }.first)
        var assembler = TraceAssembler(traceTable: traceTable)
        var traces: [PacketTrace] = []
        var time = 0.0
        for buffer in try buffers(name) {
            for event in try TraceEvent.decode(buffer) {
                time += 0.001
                traces += assembler.add(event, at: time)
            }
            traces += assembler.expire(now: time, idle: 0.05)
        }
        traces += assembler.finishAll()
        return traces.sorted { $0.firstSeen < $1.firstSeen }
            .map { TracedPacket($0, ruleset: ruleset, portctlTable: "portctl", traceTable: traceTable) }
    }

    @Test func decodesTheKernelsFirstEvent() throws {
        let first = try #require(try Self.buffers("traffic").first)
        let events = try TraceEvent.decode(first)
        #expect(events.count == 1)
        let event = events[0]
        #expect(event.id == 1_759_555_027)
        #expect(event.kind == .rule)
        #expect(event.family == "inet" && event.table == "portctl-trace-7203-1056579" && event.chain == "prerouting")
        #expect(event.ruleHandle == 4)
        #expect(event.verdict == .continue)
        #expect(event.packetFamily == 2)
        #expect(event.inInterface == 2)
        let headers = try #require(PacketHeaders(network: event.networkHeader!, transport: event.transportHeader))
        #expect(headers.source == IPAddress("198.51.100.2"))
        #expect(headers.destination == IPAddress("198.51.100.1"))
        #expect(headers.protocolName == "tcp" && headers.destinationPort == 26 && headers.tcpFlagNames == "syn")
    }

    @Test func readsPolicyEventsAndConnectionState() throws {
        let events = try Self.buffers("traffic").prefix(10).flatMap { try TraceEvent.decode($0) }
        let policy = try #require(events.first { $0.kind == .policy })
        #expect(policy.policy == .accept && policy.ruleHandle == nil)
        // The end of a chain's rules: a rule event without a handle; no step of the path.
        #expect(events.contains { $0.isEndOfRules })
        // Kernels from 6.8 send the connection's state: new.
        #expect(events.contains { $0.connectionState == 8 })
    }

    @Test func namesEveryVerdictWatchPrints() throws {
        let packets = try Self.packets("traffic")
        let lines = packets.map { packet -> String in
            "\(packet.summary.split(separator: " ")[2]) \(packet.outcome.word) by \(packet.outcome.decider)"
        }
        #expect(lines == [
            "198.51.100.1:26/tcp accept by rule allow-tcp-26",
            "198.51.100.1:29/tcp drop by portctl's default",
            "198.51.100.1:25/tcp reject by rule reject-tcp-25",
            "198.51.100.1:23/tcp drop by rule deny-tcp-23",
            "198.51.100.1:27/tcp accept by rule allow-tcp-27",
            "198.51.100.1:28/tcp drop by table ip other, chain in",
            "198.51.100.1:8080/tcp forwarded to 192.0.2.2:80 by rule allow-tcp-8080",
            "198.51.100.1:26/tcp accept by rule allow-tcp-26",
            "[2001:db8:1::1]:26/tcp drop by portctl's default",
            "198.51.100.1:53/udp drop by portctl's default",
            "198.51.100.1:53/udp drop by portctl's default",
        ])
        #expect(packets.allSatisfy { $0.complete })
    }

    @Test func aPathNamesEveryTableAndLeavesTheMarkOut() throws {
        let packets = try Self.packets("traffic")
        let foreign = try #require(packets.first { $0.headers?.destinationPort == 28 })
        #expect(foreign.hops.map { "\($0.tableName) \($0.chain) \($0.verdict)" } == [
            "ip nat prerouting accept", "inet portctl input accept", "ip other in drop",
        ])
        #expect(foreign.hops[1].ruleID == "allow-tcp-28" && foreign.hops[1].hook == "input")
        #expect(foreign.hops[2].rule == "tcp dport 28 drop" && foreign.hops[2].role == nil)
        let published = try #require(packets.first { $0.headers?.destinationPort == 8080 })
        #expect(published.hops.first?.rule == "tcp dport 8080 dnat to 192.0.2.2:80")
        #expect(published.outcome.decidedBy?.chain == "forward")
        #expect(published.lastHeaders?.destination == IPAddress("192.0.2.2"))
        let dropped = try #require(packets.first { $0.headers?.destinationPort == 29 })
        #expect(dropped.outcome.decidedBy?.kind == "policy" && dropped.outcome.decidedBy?.role == "default")
    }

    @Test func bansAndRateLimits() throws {
        let packets = try Self.packets("ban-and-limit")
        #expect(packets.map(\.outcome.word) == ["banned", "limited", "limited", "limited"])
        #expect(packets[0].outcome.verdict == "drop" && packets[0].outcome.decidedBy?.role == "ban")
        #expect(packets[1].outcome.decidedBy?.ruleID == "allow-tcp-27" && packets[1].outcome.decidedBy?.role == "limit")
    }

    @Test func truncatedOrLyingBytesAreErrorsNeverTraps() throws {
        let first = try #require(try Self.buffers("traffic").first)
        #expect(throws: TraceDecodingError.self) { try TraceEvent.decode(Array(first.dropLast(7))) }
        var lying = first
        lying[20] = 0xff // the first attribute claims 255 bytes
        #expect(throws: TraceDecodingError.self) { try TraceEvent.decode(lying) }
        var tiny = first
        tiny[0] = 3; tiny[1] = 0; tiny[2] = 0; tiny[3] = 0 // a message shorter than its header
        #expect(throws: TraceDecodingError.self) { try TraceEvent.decode(tiny) }
        // Every single-byte change and every cut: an error or events, never a crash.
        var generator = SeededGenerator(state: 24)
        for _ in 0..<2000 {
            var bytes = first
            bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            _ = try? TraceEvent.decode(Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator))))
        }
        #expect(try TraceEvent.decode([]).isEmpty)
    }

    @Test func headersOfOtherProtocolsAndFamilies() {
        #expect(PacketHeaders(network: [0x45], transport: nil) == nil)
        #expect(PacketHeaders(network: [0x75] + Array(repeating: 0, count: 39), transport: nil) == nil)
        var v6 = [UInt8](repeating: 0, count: 40)
        v6[0] = 0x60; v6[6] = 58; v6[23] = 1; v6[39] = 2
        let headers = PacketHeaders(network: v6, transport: [128, 0, 0, 0])
        #expect(headers?.source == IPAddress("::1") && headers?.destination == IPAddress("::2"))
        #expect(headers?.protocolName == "icmpv6" && headers?.destinationPort == nil && headers?.tcpFlagNames == nil)
    }

    @Test func anIdUsedAgainStartsANewPacketAtTheMark() {
        var assembler = TraceAssembler(traceTable: "portctl-trace-1-2")
        let mark = TraceEvent(id: 7, kind: .rule, family: "inet", table: "portctl-trace-1-2", chain: "prerouting", ruleHandle: 4, verdict: .continue)
        let accept = TraceEvent(id: 7, kind: .rule, family: "inet", table: "portctl", chain: "input", ruleHandle: 9, verdict: .accept)
        let drop = TraceEvent(id: 7, kind: .policy, family: "inet", table: "portctl", chain: "input", policy: .drop)
        #expect(assembler.add(mark, at: 0).isEmpty)
        #expect(assembler.add(accept, at: 0.001).isEmpty)
        // The same id marked again: the first packet is complete.
        let first = assembler.add(mark, at: 1)
        #expect(first.count == 1 && first[0].events.count == 2 && first[0].markedHere)
        // A drop ends the second at once.
        let second = assembler.add(drop, at: 1.001)
        #expect(second.count == 1 && second[0].events.count == 2)
        #expect(assembler.pending == 0)
        // Events whose mark was lost: a packet all the same, reported when idle.
        #expect(assembler.add(accept, at: 2).isEmpty)
        #expect(assembler.expire(now: 2.05, idle: 0.1).isEmpty)
        let late = assembler.expire(now: 2.2, idle: 0.1)
        #expect(late.count == 1 && !late[0].markedHere)
    }

    /// Two traces or watches at once (found by a hostile review: a second session's table made
    /// watch print an 'accept' for a dropped SYN, and ports it was not asked about).
    @Test func anotherSessionsPacketsAndTableAreNotThisOnes() throws {
        var assembler = TraceAssembler(traceTable: "portctl-trace-1-2")
        let theirMark = TraceEvent(id: 9, kind: .rule, family: "inet", table: "portctl-trace-3-4", chain: "prerouting", ruleHandle: 4, verdict: .continue)
        let theirPolicy = TraceEvent(id: 9, kind: .policy, family: "inet", table: "portctl-trace-3-4", chain: "prerouting", policy: .accept)
        let drop = TraceEvent(id: 9, kind: .rule, family: "ip", table: "other", chain: "in", ruleHandle: 2, verdict: .drop)
        // Marked only by the other session: nothing here, and it ends with its drop.
        #expect(assembler.add(theirMark, at: 0).isEmpty && assembler.add(theirPolicy, at: 0.001).isEmpty && assembler.add(drop, at: 0.002).isEmpty)
        #expect(assembler.pending == 0 && assembler.expire(now: 5, idle: 0.1).isEmpty)
        // Marked by both: this session's packet, without the other table's steps deciding it.
        let ourMark = TraceEvent(id: 9, kind: .rule, family: "inet", table: "portctl-trace-1-2", chain: "prerouting", ruleHandle: 4, verdict: .continue)
        #expect(assembler.add(theirMark, at: 6).isEmpty && assembler.add(ourMark, at: 6.001).isEmpty)
        #expect(assembler.add(theirPolicy, at: 6.002).isEmpty)
        let done = assembler.add(drop, at: 6.003)
        let trace = try #require(done.first)
        #expect(done.count == 1 && trace.markedHere)
        let packet = TracedPacket(trace, ruleset: TraceRuleset(listing: "{}"), portctlTable: "portctl", traceTable: "portctl-trace-1-2")
        #expect(!packet.hops.contains { $0.table.hasPrefix("portctl-trace-") }, "\(packet.hops)")
        #expect(packet.outcome.verdict == "drop")
    }

    @Test func theRulesetListingByHandle() throws {
        let ruleset = TraceRuleset(listing: try Self.listing("traffic"))
        #expect(ruleset.text(family: "ip", table: "other", chain: "in", handle: 2) == "tcp dport 28 drop")
        #expect(ruleset.chain(family: "inet", table: "portctl", chain: "input")?.hook == "input")
        #expect(ruleset.chain(family: "inet", table: "portctl", chain: "input")?.policy == "drop")
        #expect(ruleset.chain(family: "inet", table: "portctl", chain: "forward")?.priority == "filter - 1")
        #expect(ruleset.chain(family: "ip", table: "nat", chain: "prerouting")?.hook == "prerouting")
        // Counters, sets and the lines of a chain's head are no rules.
        #expect(!ruleset.rules.values.contains { $0.hasPrefix("type ") || $0.hasPrefix("counter ") && $0.hasSuffix("{") })
    }

    @Test(arguments: [
        ("ip saddr @allow-tcp-26-v4 tcp dport 26 counter name \"allow-tcp-26\" accept comment \"allow-tcp-26\"", PortctlRuleRole.rule(id: "allow-tcp-26")),
        ("tcp dport 22 counter name \"ssh\" accept comment \"ssh: added on first run so the admin keeps access\"", .rule(id: "ssh")),
        ("ip saddr @a-v4 tcp dport 27 ct state new update @a-rate4 { ip saddr limit rate over 2/minute burst 2 packets } drop comment \"a\"", .limit(id: "a")),
        ("counter name \"portctl-limited-a\" drop comment \"a\"", .limit(id: "a")),
        ("counter name \"portctl-default-in\" comment \"portctl: default\"", .default),
        ("ip saddr @portctl-bans-h4 counter name \"portctl-bans\" drop", .ban),
        ("ct state established,related accept", .baseline),
        ("meta l4proto . th dport vmap { tcp . 26 : jump rule-a }", .baseline),
        ("update @portctl-drops4 { ip saddr } comment \"portctl: drops\"", .other("drops")),
    ])
    func portctlsLinesByTheirComment(text: String, role: PortctlRuleRole) {
        #expect(PortctlRuleRole.of(ruleText: text) == role)
    }

    @Test func theTraceTablesRulesMarkOnlyWhatWasAsked() throws {
        let trace = TraceTable.text(name: "portctl-trace-10-20",
                                    marking: .trace(from: [try IPNetwork(parsing: "203.0.113.5")], port: 26, proto: .tcp, to: nil))
        #expect(trace == """
        table inet portctl-trace-10-20 {
        \tcounter marked {
        \t}
        \tchain prerouting {
        \t\ttype filter hook prerouting priority -350; policy accept;
        \t\tip saddr 203.0.113.5 tcp dport 26 tcp flags & (fin | syn | rst | ack) == syn counter name "marked" meta nftrace set 1
        \t}
        }

        """)
        let udp = TraceTable.text(name: "t", marking: .trace(from: [try IPNetwork(parsing: "2001:db8::/32")], port: 53, proto: .udp,
                                                            to: try IPNetwork(parsing: "2001:db8::1")))
        #expect(udp.contains("ip6 saddr 2001:db8::/32 ip6 daddr 2001:db8::1 udp dport 53 counter name \"marked\" meta nftrace set 1"))
        let watch = TraceTable.text(name: "t", marking: .watch(ports: [], from: []))
        #expect(watch.contains("\t\ttcp flags & (fin | syn | rst | ack) == syn counter"))
        #expect(watch.contains("chain prerouting-udp {\n\t\ttype filter hook prerouting priority -199; policy accept;\n\t\tmeta l4proto udp ct state new counter"))
        let some = TraceTable.text(name: "t", marking: .watch(ports: [PortSpec(ports: [try PortRange(26), try PortRange(8000, 8100)], proto: .tcp)],
                                                              from: [try IPNetwork(parsing: "198.51.100.0/24"), try IPNetwork(parsing: "2001:db8::/32")]))
        #expect(some.contains("ip saddr 198.51.100.0/24 tcp dport { 26, 8000-8100 } tcp flags"))
        #expect(some.contains("ip6 saddr 2001:db8::/32 tcp dport { 26, 8000-8100 } tcp flags"))
        #expect(!some.contains("udp"))
    }

    @Test(arguments: [
        ("portctl-trace-123-456", true), ("portctl-trace-123-0", true), ("portctl-trace-123", false), ("portctl-trace--4", false),
        ("portctl-trace-0-1", false), ("portctl-trace-1-2-3", false), ("portctl-trace-x-1", false), ("portctl", false),
        ("portctl-trace-99999999999-1", false), ("portctl-trace-١٢-1", false),
    ])
    func traceTableNamesAndTheirOwner(name: String, valid: Bool) {
        #expect((TraceTable.owner(of: name) != nil) == valid)
    }

    @Test func ownerRoundTrip() {
        let owner = TraceTable.owner(of: TraceTable.name(pid: 4242, startTime: 987_654_321))
        #expect(owner?.pid == 4242 && owner?.startTime == 987_654_321)
    }

    static func outcome(verdict: String, role: String?, id: String? = nil, rule: String? = nil, table: String = "portctl", family: String = "inet",
                        chain: String = "input", kind: String = "rule", limited: Bool = false, banned: Bool = false) -> TraceOutcome {
        TraceOutcome(verdict: verdict, limited: limited, banned: banned, forwardedTo: nil,
                     decidedBy: TraceHop(family: family, table: table, chain: chain, hook: "input", kind: kind, handle: 5, rule: rule,
                                         verdict: verdict == "reject" ? "drop" : verdict, ruleID: id, role: role))
    }

    @Test func theIssuesDisagreement() {
        let kernel = Self.outcome(verdict: "drop", role: nil, rule: "tcp dport 26 drop", table: "other", family: "ip", chain: "in")
        let comparison = TraceComparison(verdict: .accept, rule: "allow-tcp-26", banned: false, outcome: kernel)
        #expect(!comparison.agrees && comparison.judged)
        #expect(comparison.message == "explain: accept by allow-tcp-26; kernel: dropped by table ip other, chain in")
    }

    @Test func agreementsAndTheirNotes() {
        let accepted = Self.outcome(verdict: "accept", role: "rule", id: "allow-tcp-26")
        #expect(TraceComparison(verdict: .accept, rule: "allow-tcp-26", banned: false, outcome: accepted).message == "explain agrees: accept by allow-tcp-26")
        // Another rule of portctl's decided: the table is not the policy file's.
        #expect(!TraceComparison(verdict: .accept, rule: "other-rule", banned: false, outcome: accepted).agrees)
        let byDefault = Self.outcome(verdict: "drop", role: "default", kind: "policy")
        #expect(TraceComparison(verdict: .drop, rule: nil, banned: false, outcome: byDefault).agrees)
        #expect(!TraceComparison(verdict: .drop, rule: "deny-26", banned: false, outcome: byDefault).agrees)
        #expect(!TraceComparison(verdict: .reject, rule: nil, banned: false, outcome: byDefault).agrees)
        let limited = Self.outcome(verdict: "drop", role: "limit", id: "allow-tcp-27", limited: true)
        let overLimit = TraceComparison(verdict: .accept, rule: "allow-tcp-27", banned: false, outcome: limited)
        #expect(overLimit.agrees && overLimit.message.contains("over"))
        let banned = Self.outcome(verdict: "drop", role: "ban", banned: true)
        #expect(TraceComparison(verdict: .accept, rule: "allow-tcp-26", banned: true, outcome: banned).agrees)
        #expect(!TraceComparison(verdict: .accept, rule: "allow-tcp-26", banned: false, outcome: banned).agrees)
        let rejected = Self.outcome(verdict: "reject", role: "rule", id: "reject-25")
        #expect(TraceComparison(verdict: .reject, rule: "reject-25", banned: false, outcome: rejected).agrees)
        let foreignDrop = Self.outcome(verdict: "drop", role: nil, table: "other", family: "ip", chain: "in")
        let same = TraceComparison(verdict: .drop, rule: nil, banned: false, outcome: foreignDrop)
        #expect(same.agrees && same.message.contains("table ip other, chain in decided before portctl's rules"))
        let established = Self.outcome(verdict: "accept", role: "baseline", rule: "ct state established,related accept")
        let reply = TraceComparison(verdict: .drop, rule: nil, banned: false, outcome: established)
        #expect(!reply.judged && reply.agrees)
    }

    @Test func watchWordsAndDeciders() {
        var forwarded = Self.outcome(verdict: "accept", role: "rule", id: "allow-tcp-8080")
        forwarded.forwardedTo = "192.0.2.2:80"
        #expect(forwarded.word == "forwarded to 192.0.2.2:80")
        #expect(forwarded.sentence == "accepted by rule allow-tcp-8080, forwarded to 192.0.2.2:80")
        let policy = Self.outcome(verdict: "drop", role: nil, table: "other", family: "ip", chain: "in", kind: "policy")
        #expect(policy.decider == "table ip other, chain in (its policy)")
        let nothing = TraceOutcome(verdict: "accept", limited: false, banned: false, forwardedTo: nil, decidedBy: nil)
        #expect(nothing.sentence == "accepted by no chain (nothing on its path decided)")
    }

    @Test func topCountsStayBounded() {
        var counts = TopCounts<Int>(capacity: 10)
        for round in 0..<50 {
            for key in 0..<100 { counts.add(key, accepted: key % 2 == 0) }
            // The busy keys keep coming back; the others appear once each.
            for key in 0..<5 { for _ in 0..<(round + 1) { counts.add(1000 + key, accepted: false) } }
            #expect(counts.count <= 10)
        }
        let top = counts.top(5)
        #expect(Set(top.map(\.key)) == Set(1000..<1005))
        #expect(top.allSatisfy { $0.counts.refused == $0.counts.total })
    }
}
