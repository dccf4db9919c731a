import Foundation
import Testing
@testable import PortPolicy

@Suite struct RateAndExpiryTests {
    @Test(arguments: [("6/minute", "6/minute"), ("10/s", "10/second"), ("100/HOUR", "100/hour"), ("1000/d", "1000/day")])
    func rates(_ text: String, _ canonical: String) throws {
        #expect(try RateLimit(parsing: text).description == canonical)
    }

    @Test(arguments: ["0/minute", "6", "6/fortnight", "-1/s", "x/s", "6/", "/minute", "9999999/s"])
    func badRates(_ text: String) {
        #expect(throws: PolicyError.self) { try RateLimit(parsing: text) }
    }

    @Test(arguments: [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400)])
    func durations(_ text: String, _ seconds: Int) throws {
        #expect(try parseDuration(text) == seconds)
    }

    @Test(arguments: ["", "0s", "5", "5x", "1h30", "-5m", "400d", "m"])
    func badDurations(_ text: String) {
        #expect(throws: PolicyError.self) { try parseDuration(text) }
    }

    @Test func limitExpiryAndLogRoundTripThroughTheFile() throws {
        var rule = PortRule(id: "ssh", ports: [try PortRange(22)])
        rule.limit = try RateLimit(parsing: "6/minute")
        rule.log = true
        var timed = PortRule(id: "tmp", ports: [try PortRange(27)], sources: [try IPNetwork(parsing: "198.51.100.0/24")])
        timed.expires = Date(timeIntervalSince1970: 1_800_000_000)
        var policy = PortPolicy(rules: [rule, timed])
        policy.logDefault = true
        #expect(try PolicyFile.decode(PolicyFile.encode(policy)) == policy)
    }

    @Test func limitsOnlyOnInboundAllows() {
        var rule = PortRule(id: "d", ports: [try! PortRange(23)], action: .deny)
        rule.limit = try! RateLimit(parsing: "6/minute")
        #expect(throws: PolicyError.self) { try PortPolicy(rules: [rule]).validate() }
    }

    @Test func limitedAndLoggedRuleGolden() throws {
        var ssh = PortRule(id: "ssh", ports: [try PortRange(22)], sources: [try IPNetwork(parsing: "198.51.100.0/24")])
        ssh.limit = try RateLimit(parsing: "6/minute")
        ssh.log = true
        var any = PortRule(id: "web", ports: [try PortRange(80)])
        any.limit = try RateLimit(parsing: "100/second")
        var policy = PortPolicy(rules: [ssh, any])
        policy.logDefault = true
        let url = RendererTests.goldenDirectory.appendingPathComponent("limit-and-log.nft")
        let rendered = Renderer.table(policy)
        try expectGolden(rendered, url)
    }

    @Test func expiredRulesAreNotRenderedAndTimedSetsCountDown() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var timed = PortRule(id: "tmp", ports: [try PortRange(27)])
        timed.expires = now.addingTimeInterval(90)
        let policy = PortPolicy(rules: [timed])
        let table = Renderer.model(policy, now: now)
        let set = try #require(table.set("tmp-v4"))
        #expect(set.kind == .timed && set.expiresIn == 90 && set.elements.map(\.description) == ["0.0.0.0/0"])
        #expect(table.text.contains("elements = { ::/0 timeout 90s }"))
        let later = Renderer.model(policy, now: now.addingTimeInterval(91))
        #expect(later.set("tmp-v4") == nil && !later.text.contains("tmp"))
        #expect(Planner.plan(policy, live: table, now: now.addingTimeInterval(2)).isEmpty, "a countdown within tolerance is no change")
        let extended = PortPolicy(rules: [{ var r = timed; r.expires = now.addingTimeInterval(3600); return r }()])
        let plan = Planner.plan(extended, live: table, now: now)
        #expect(plan.changes == [.changeRule(id: "tmp", before: "expires in 1m30s", after: "expires in 1h")])
        #expect(plan.script.contains("delete set inet portctl tmp-v4"))
    }
}

@Suite struct AuditModelTests {
    /// Lines as the kernel prints them: 0.0.0.0:25 and 127.0.0.1:631 listening, a connection on 22.
    static let tcp = """
      sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
       0: 00000000:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
       1: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0
       2: 016433C6:0016 026433C6:C350 01 00000000:00000000 02:000A7C1D 00000000     0        0 1003 2 0000000000000000 20 4 30 10 -1
    """
    static let tcp6 = """
      sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
       0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 100 0 0 10 0
       1: B80D0120000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2002 1 0000000000000000 100 0 0 10 0
    """

    @Test func parsesProcNet() {
        let four = Listener.parseProcNet(Self.tcp, proto: .tcp, family: .ipv4)
        #expect(four.map { "\($0.listener.address):\($0.listener.port) \($0.inode)" } == ["0.0.0.0:25 1001", "127.0.0.1:631 1002"])
        #expect(four[1].listener.isLoopbackOnly && four[0].listener.isOnAllAddresses)
        let six = Listener.parseProcNet(Self.tcp6, proto: .tcp, family: .ipv6)
        #expect(six.map { "[\($0.listener.address)]:\($0.listener.port)" } == ["[::]:8080", "[2001:db8::1]:80"])
    }

    @Test func findings() throws {
        let listeners = [Listener(proto: .tcp, address: "0.0.0.0", port: 25, process: "exim4[10]"),
                         Listener(proto: .tcp, address: "::", port: 8080),
                         Listener(proto: .tcp, address: "0.0.0.0", port: 5432),
                         Listener(proto: .tcp, address: "127.0.0.1", port: 6379),
                         Listener(proto: .tcp, address: "0.0.0.0", port: 26)]
        let policy = PortPolicy(rules: [
            PortRule(id: "mail", ports: [try PortRange(25)]),
            PortRule(id: "web", ports: [try PortRange(8080), try PortRange(8443)]),
            PortRule(id: "relay", ports: [try PortRange(26)], sources: [try IPNetwork(parsing: "10.0.0.0/8")]),
            PortRule(id: "cache", ports: [try PortRange(6379)]),
        ])
        let found = ExposureAudit.findings(policy, listeners: listeners)
        #expect(found.map { "\($0.port) \($0.severity.rawValue) \($0.kind)" } == [
            "25 high sensitive-open-to-any", "6379 warning stale-opening", "8080 warning open-to-any",
            "8443 warning stale-opening", "5432 info listener-blocked",
        ])
        #expect(found[0].message.contains("exim4[10]") && found[0].message.contains("mail relay"))
        var open = policy
        open.inbound = .accept
        #expect(ExposureAudit.findings(open, listeners: listeners).contains { $0.port == 5432 && $0.severity == .high })
    }
}
