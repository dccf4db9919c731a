import Foundation
import Testing
@testable import PortPolicy

/// `portctl import ufw`'s translation, over the files real ufw 0.36 wrote (Fixtures/ufw: the rules
/// of `ufw show added` there, made in a network namespace with a private /etc/ufw) and over
/// random rule lists checked packet by packet against ufw's first-match order.
@Suite struct UfwImportTests {
    static let folder = LiveTableTests.fixtures.appendingPathComponent("ufw")

    static func text(_ name: String) throws -> String {
        try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
    }

    static var fixture: UfwImport.Configuration {
        get throws {
            UfwImport.Configuration(userRules: try text("user.rules"), user6Rules: try text("user6.rules"), ufwConf: try text("ufw.conf"),
                                    defaults: try text("default"),
                                    applications: ["ufw-fileserver": try text("ufw-fileserver"), "ufw-webserver": try text("ufw-webserver")])
        }
    }

    /// The tuple lines of a user.rules ufw would write, around `tuples`.
    static func rulesFile(_ tuples: [String]) -> String {
        "*filter\n:ufw-user-input - [0:0]\n:ufw-user-output - [0:0]\n:ufw-user-forward - [0:0]\n### RULES ###\n"
            + tuples.map { "\n### tuple ### \($0)\n-A ufw-user-input -j ACCEPT\n" }.joined()
            + "\n### END RULES ###\nCOMMIT\n"
    }

    static func translate(_ v4: [String], _ v6: [String] = [], defaults: String = "IPV6=yes\nDEFAULT_INPUT_POLICY=\"DROP\"\n",
                          conf: String = "ENABLED=yes\nLOGLEVEL=low\n", applications: [String: String] = [:],
                          options: UfwImport.Options = UfwImport.Options()) -> UfwImport.Result {
        UfwImport.translate(UfwImport.Configuration(userRules: rulesFile(v4), user6Rules: rulesFile(v6), ufwConf: conf,
                                                    defaults: defaults, applications: applications), options: options)
    }

    static func net(_ text: String) -> IPNetwork { try! IPNetwork(parsing: text) }
    static func ports(_ text: String) -> [PortRange] { try! PortRange.parseList(text) }

    // MARK: - The real files

    @Test func everyRuleReadsBackAsTheCommandUfwShows() throws {
        let rules = UfwImport.rules(try Self.text("user.rules"), family: .ipv4).rules
            + UfwImport.rules(try Self.text("user6.rules"), family: .ipv6, firstNumber: 17).rules
        var shown: [String] = []
        for rule in rules where !shown.contains(rule.command) { shown.append(rule.command) }
        let expected = try Self.text("show-added.txt").split(separator: "\n").map(String.init)
        #expect(shown == expected)
        // Numbered as `ufw status numbered` numbers them: one number for CIFS's two tuples.
        #expect(rules.map(\.number) == [1, 2, 3, 4, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
            + [17, 18, 19, 19, 20, 21, 22, 23, 24, 25, 26, 27])
        #expect(rules[1].comment == "ssh, rate-limited" && rules[3].destinationApp == "CIFS")
        #expect(rules[13].isRoute && rules[13].inInterface == "eth1" && rules[13].outInterface == "eth0")
    }

    @Test func theRealConfigurationTranslates() throws {
        let result = UfwImport.translate(try Self.fixture)
        let policy = result.policy
        #expect(policy.inbound == .drop && policy.outbound == .accept && policy.routed == .drop && policy.logDefault)
        #expect(result.enabled == true)
        let ids = policy.rules.map(\.id)
        #expect(ids.prefix(12) == ["deny-both-all", "limit-tcp-22", "allow-tcp-80.443", "allow-udp-137.138", "allow-tcp-139.445",
                                   "allow-tcp-5432", "allow-both-53", "allow-udp-60000-61000", "deny-both-23", "reject-tcp-25",
                                   "allow-tcp-9100", "out-deny-tcp-25"], "\(ids)")
        let rule = { (id: String) in policy.rule(id: id)! }
        #expect(rule("deny-both-all").sources == [Self.net("203.0.113.13")])
        #expect(rule("limit-tcp-22").sources.isEmpty && rule("limit-tcp-22").limit == UfwImport.defaultLimit)
        #expect(rule("limit-tcp-22").comment == "ssh, rate-limited")
        #expect(rule("allow-udp-137.138").comment == "ufw app CIFS" && rule("allow-tcp-139.445").sources.isEmpty)
        #expect(rule("allow-tcp-5432").sources == [Self.net("198.51.100.0/24")] && rule("allow-tcp-5432").comment == "postgres from app servers")
        #expect(rule("allow-tcp-5432-2").sources == [Self.net("2001:db8:1::/64")] && rule("allow-tcp-5432-2").comment == nil)
        #expect(rule("allow-tcp-9100").interface == "eth1" && rule("out-deny-tcp-25").direction == .out)
        #expect(rule("allow-tcp-8080").log)
        // `deny from 203.0.113.66` came after the allows: ufw never blocked their ports for it.
        let late = policy.rules.filter { $0.sources == [Self.net("203.0.113.66")] }
        #expect(late.count == 2 && late.allSatisfy { $0.action == .deny })
        let tcp = try #require(late.first { $0.proto == .tcp }), udp = try #require(late.first { $0.proto == .udp })
        #expect(tcp.ports == Self.ports("1-21,23-52,54-79,81-138,140-442,444,446-65535"), "\(tcp.ports)")
        #expect(udp.ports == Self.ports("1-52,54-136,139-59999,61001-65535"), "\(udp.ports)")
        #expect(policy.routes == [RoutedRule(id: "route-tcp-443", ports: Self.ports("443"), sources: [Self.net("192.0.2.0/24")],
                                             inInterface: "eth1", outInterface: "eth0")])
        // What portctl cannot say is named, rule by rule.
        let untranslated = result.untranslated.map(\.subject)
        #expect(untranslated == ["[12] ufw deny from 203.0.113.66", "[15] ufw allow from 198.51.100.7 port 5353 to any port 5353 proto udp",
                                 "[16] ufw allow from 198.51.100.9 proto esp"], "\(result.findings)")
        #expect(result.untranslated[0].message.contains("[10]") && result.untranslated[0].message.contains("interface"))
        #expect(result.untranslated[1].message.contains("source ports") && result.untranslated[2].message.contains("esp"))
        #expect(result.findings.contains { $0.kind == .approximated && $0.rules == [2, 17] && $0.subject.hasPrefix("[2], [17] ufw limit 22/tcp") && $0.message.contains("6th new connection within 30 s") })
        #expect(result.findings.contains { $0.kind == .note && $0.subject == "Docker hosts" && $0.message.contains("portctl default routed accept") })
        // The policy is valid and what the file would hold reads back the same.
        try policy.validate()
        #expect(try PolicyFile.decode(PolicyFile.encode(policy)) == policy)
    }

    // MARK: - Tuples

    @Test(arguments: [
        ("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", "ufw allow 22/tcp"),
        ("allow any 80 0.0.0.0/0 any 0.0.0.0/0 in_eth0 comment=776562206f6e2065746830", "ufw allow in on eth0 to any port 80 comment 'web on eth0'"),
        ("allow udp 53 0.0.0.0/0 any 0.0.0.0/0 out", "ufw allow out 53/udp"),
        ("allow udp 53 0.0.0.0/0 any 0.0.0.0/0 out_eth0", "ufw allow out on eth0 to any port 53 proto udp"),
        ("route:allow tcp 80 10.0.0.0/8 any 0.0.0.0/0 in_eth0!out_eth1", "ufw route allow in on eth0 out on eth1 to 10.0.0.0/8 port 80 proto tcp"),
        ("allow_log-all tcp 29 0.0.0.0/0 any 0.0.0.0/0 in", "ufw allow log-all 29/tcp"),
        ("allow tcp 80,443 0.0.0.0/0 any 0.0.0.0/0 WWW%20Full - in", "ufw allow 'WWW Full'"),
        ("allow tcp 31 198.51.100.1 any 198.51.100.0/24 in", "ufw allow from 198.51.100.0/24 to 198.51.100.1 port 31 proto tcp"),
        ("deny any any 0.0.0.0/0 any 203.0.113.9 in", "ufw deny from 203.0.113.9"),
        ("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0", "ufw allow 22/tcp"),
    ] as [(String, String)])
    func tuplesReadAsUfwReadsThem(_ tuple: String, _ command: String) throws {
        let rules = UfwImport.rules("### tuple ### " + tuple + "\n", family: .ipv4).rules
        #expect(rules.count == 1)
        #expect(rules.first?.command == command)
    }

    @Test(arguments: [
        "allow tcp 22 0.0.0.0/0 any",                          // too few fields
        "allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in eth0 x y z",  // too many
        "permit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in",            // not an action
        "allow_loud tcp 22 0.0.0.0/0 any 0.0.0.0/0 in",        // not a log type
        "allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 sideways",       // not a direction
        "allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in_eth0!eth1",   // interfaces in the wrong shape
    ])
    func malformedTuplesAreNamedNotGuessed(_ tuple: String) {
        let result = Self.translate(["allow tcp 80 0.0.0.0/0 any 0.0.0.0/0 in", tuple])
        #expect(result.policy.rules.map(\.id) == ["allow-tcp-80"])
        #expect(result.untranslated.count == 1)
        #expect(result.untranslated.first?.subject == "user.rules line 10", "\(result.untranslated)")
    }

    @Test(arguments: [
        ("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", "allow-tcp-22", TransportProtocol.tcp, "22"),
        ("allow any 53 0.0.0.0/0 any 0.0.0.0/0 in", "allow-both-53", .both, "53"),
        ("allow udp 60000:61000 0.0.0.0/0 any 0.0.0.0/0 in", "allow-udp-60000-61000", .udp, "60000-61000"),
        ("allow tcp 81,90:95 0.0.0.0/0 any 0.0.0.0/0 in", "allow-tcp-81.90-95", .tcp, "81,90-95"),
        ("deny tcp any 0.0.0.0/0 any 0.0.0.0/0 in", "deny-tcp-all", .tcp, "1-65535"),
        ("reject udp 69 0.0.0.0/0 any 0.0.0.0/0 in", "reject-udp-69", .udp, "69"),
    ] as [(String, String, TransportProtocol, String)])
    func portsAndProtocols(_ tuple: String, _ id: String, _ proto: TransportProtocol, _ ports: String) throws {
        let result = Self.translate([tuple])
        let rule = try #require(result.policy.rules.first)
        #expect(result.policy.rules.count == 1 && rule.id == id && rule.proto == proto && rule.ports == Self.ports(ports))
        #expect(rule.sources == [Self.net("0.0.0.0/0")], "an IPv4-only rule keeps to IPv4")
        #expect(result.untranslated.isEmpty)
    }

    @Test func theTwinsOfBothFilesBecomeOneRuleForAnySource() throws {
        let result = Self.translate(["allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", "allow tcp 26 0.0.0.0/0 any 198.51.100.0/24 in"],
                                    ["allow tcp 22 ::/0 any ::/0 in", "allow tcp 26 ::/0 any 2001:db8::/32 in"])
        #expect(result.policy.rules.map(\.id) == ["allow-tcp-22", "allow-tcp-26"])
        #expect(result.policy.rules[0].sources.isEmpty)
        #expect(result.policy.rules[1].sources == [Self.net("198.51.100.0/24"), Self.net("2001:db8::/32")])
    }

    @Test func whatPortctlCannotSayIsNamedAndLeftOut() {
        let result = Self.translate([
            "allow tcp 31 198.51.100.1 any 198.51.100.0/24 in",           // a destination address
            "allow udp 30 0.0.0.0/0 1234 203.0.113.0/24 in",              // a source port
            "allow gre any 0.0.0.0/0 any 0.0.0.0/0 in",                   // a portless protocol
            "limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 out",                   // an outbound limit
            "allow tcp 80 0.0.0.0/0 any 0.0.0.0/0 in_eth%0",              // an interface portctl refuses
            "allow tcp 8080 0.0.0.0/0 any 0.0.0.0/0 Nope - in",           // fine: ufw wrote the ports
            "allow tcp Nope 0.0.0.0/0 any 0.0.0.0/0 Nope - in",           // a profile that is not there
            "allow tcp 22 0.0.0.0/0 any 10.0.0.1/40 in",                  // not an address
        ])
        #expect(result.policy.rules.map(\.id) == ["allow-tcp-8080"])
        let messages = result.untranslated.map(\.message)
        #expect(messages.count == 7, "\(messages)")
        for (index, words) in ["destination address", "source ports", "protocol gre", "inbound allows only", "interface name",
                               "profile \"Nope\"", "not an IPv4 address"].enumerated() {
            #expect(messages[index].contains(words), "\(messages[index])")
        }
    }

    @Test func profilesResolveWhenTheTupleNamesOnlyTheApp() throws {
        let profiles = ["ufw-fileserver": try Self.text("ufw-fileserver")]
        let result = Self.translate(["allow any CIFS 0.0.0.0/0 any 0.0.0.0/0 CIFS - in"], applications: profiles)
        #expect(result.policy.rules.map(\.id) == ["allow-udp-137.138", "allow-tcp-139.445"], "\(result.findings)")
        #expect(result.untranslated.isEmpty)
        let parsed = UfwImport.profiles(profiles)
        #expect(parsed["NFS"]?.entries.map(\.proto) == [.tcp, .udp] && parsed["NFS"]?.entries[0].ports == Self.ports("111,2049"))
        #expect(UfwImport.profiles(["x": "[Odd]\nports=80/sctp\n[Range]\nports=60000:61000/udp\n"]).keys.sorted() == ["Range"])
    }

    // MARK: - ufw's order in a set

    @Test func aDenyAfterAnAllowLeavesOutWhatTheAllowTookFirst() throws {
        let result = Self.translate(["allow tcp 22 0.0.0.0/0 any 198.51.100.7 in", "deny tcp 22 0.0.0.0/0 any 198.51.100.0/24 in"])
        let deny = try #require(result.policy.rules.first { $0.action == .deny })
        #expect(!deny.sources.contains(Self.net("198.51.100.7")) && deny.sources.count == 8, "\(deny.sources)")
        #expect(result.policy.evaluate(Packet(source: IPAddress("198.51.100.7")!, port: 22)).verdict == .accept)
        #expect(result.policy.evaluate(Packet(source: IPAddress("198.51.100.8")!, port: 22)).verdict == .drop)
        #expect(result.findings.contains { $0.kind == .note && $0.rules == [2] && $0.message.contains("rule [1]") })
        #expect(result.untranslated.isEmpty)
    }

    @Test func aBlockThatNeverDecidesIsLeftOutWithANote() {
        let result = Self.translate(["allow tcp 1:65535 0.0.0.0/0 any 0.0.0.0/0 in", "deny tcp 23 0.0.0.0/0 any 0.0.0.0/0 in"])
        #expect(result.policy.rules.map(\.id) == ["allow-tcp-all"])
        #expect(result.findings.contains { $0.kind == .note && $0.message.contains("never decides") })
    }

    @Test func aBanListBecomesOneRuleWithASet() {
        let bans = (0..<20000).map { "deny any any 0.0.0.0/0 any 10.\($0 / 62500).\($0 / 250 % 250).\($0 % 250 + 1) in" }
        let result = Self.translate(bans + ["allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in"])
        #expect(result.policy.rules.map(\.id) == ["deny-both-all", "allow-tcp-22"])
        #expect(result.policy.rules[0].sources.count == 20000)
        // After an allow, each ban leaves the allowed port out, and one note says so for all of them.
        let late = Self.translate(["allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in"] + bans)
        #expect(late.policy.rules.map(\.id) == ["allow-tcp-22", "deny-udp-all", "deny-tcp-1-21.23-65535"])
        #expect(late.policy.rules[2].sources.count == 20000)
        let notes = late.findings.filter { $0.kind == .note && !$0.rules.isEmpty }
        #expect(notes.count == 1 && notes[0].rules.count == 20000, "\(notes.count)")
        #expect(notes.first?.subject == "[2] ufw deny from 10.0.0.1 and 19999 more rules ([3], [4], [5], [6], [7], ...)")
        // What is not translated keeps one line per rule.
        let ports = Self.translate((1...3).map { "allow udp 30 0.0.0.0/0 \(1000 + $0) 203.0.113.0/24 in" })
        #expect(ports.untranslated.map(\.subject) == (1...3).map { "[\($0)] ufw allow from 203.0.113.0/24 port \(1000 + $0) to any port 30 proto udp" })
    }

    @Test func sameShapedAllowsStayApartWhenALimitBetweenThemMatters() {
        // ufw: 198.51.100.7 meets the limit before its own plain allow; joining the plain allows would skip the limit.
        let result = Self.translate(["allow tcp 22 0.0.0.0/0 any 203.0.113.0/24 in", "limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in",
                                     "allow tcp 22 0.0.0.0/0 any 198.51.100.7 in"])
        #expect(result.policy.rules.map(\.id) == ["allow-tcp-22", "limit-tcp-22", "allow-tcp-22-2"])
        let joined = Self.translate(["allow tcp 22 0.0.0.0/0 any 203.0.113.0/24 in", "limit tcp 25 0.0.0.0/0 any 0.0.0.0/0 in",
                                     "allow tcp 22 0.0.0.0/0 any 198.51.100.7 in"])
        #expect(joined.policy.rules.map(\.id) == ["allow-tcp-22", "limit-tcp-25"])
    }

    /// Random ufw rule lists (both files, as ufw writes them): the imported policy decides every
    /// packet as ufw's first match does, whenever the import reports nothing untranslated.
    @Test(arguments: 0..<200)
    func theImportDecidesEveryPacketAsUfwDoes(seed: Int) throws {
        var random = SeededGenerator(state: UInt64(seed) &* 0x9E37_79B9 &+ 7)
        let portChoices: [String?] = [nil, "22", "23", "25", "53", "80", "443", "80,443", "8000:8100", "8050", "25,8000:8100"]
        let sources4 = [nil, "198.51.100.0/24", "198.51.100.0/25", "198.51.100.7", "203.0.113.0/24", "203.0.113.66"]
        let sources6 = ["2001:db8::/32", "2001:db8:1::/64", "2001:db8:1::5"]
        var commands: [RandomRule] = []
        for _ in 0..<Int.random(in: 1...14, using: &random) {
            let ports = portChoices.randomElement(using: &random)!
            let multi = ports.map { $0.contains(",") || $0.contains(":") } ?? false
            let proto = multi ? ["tcp", "udp"].randomElement(using: &random)! : ["tcp", "udp", "any"].randomElement(using: &random)!
            let source = Int.random(in: 0..<4, using: &random) == 0 ? sources6.randomElement(using: &random)! : sources4.randomElement(using: &random)!
            commands.append(RandomRule(action: ["allow", "allow", "deny", "reject", "limit"].randomElement(using: &random)!, proto: proto,
                                       ports: ports, source: source,
                                       interface: Int.random(in: 0..<8, using: &random) == 0 ? "eth1" : nil))
        }
        let v4 = commands.filter { $0.source.map { !$0.contains(":") } ?? true }
        let v6 = commands.filter { $0.source.map { $0.contains(":") } ?? true }
        let result = Self.translate(v4.map { $0.tuple(.ipv4) }, v6.map { $0.tuple(.ipv6) })
        try result.policy.validate()
        if !result.untranslated.isEmpty {
            // Only an allow on one interface before a block on all of them cannot be said.
            #expect(result.untranslated.allSatisfy { $0.message.contains("interface") }, "\(result.untranslated)")
            return
        }
        let addresses = ["198.51.100.7", "198.51.100.3", "198.51.100.200", "203.0.113.66", "203.0.113.5", "192.0.2.1",
                         "2001:db8:1::5", "2001:db8:1::9", "2001:db8:2::1", "2001:db9::1"]
        for address in addresses {
            let source = IPAddress(address)!
            let list = source.family == .ipv4 ? v4 : v6
            for port in [22, 23, 25, 53, 79, 80, 443, 7999, 8000, 8050, 8100, 8101, 65535] {
                for proto in [TransportProtocol.tcp, .udp] {
                    for interface in ["eth0", "eth1"] {
                        let packet = Packet(source: source, port: UInt16(port), proto: proto, interface: interface)
                        let ufw = list.first { $0.matches(packet) }?.verdict ?? .drop
                        let portctl = result.policy.evaluate(packet).verdict
                        #expect(portctl == ufw, "seed \(seed): \(address) \(port)/\(proto.rawValue) on \(interface)\n\(list.map { $0.tuple(source.family) })\n\(PolicyFile.encode(result.policy))")
                        if portctl != ufw { return }
                    }
                }
            }
        }
    }

    // MARK: - Settings

    @Test(arguments: [
        ("DEFAULT_INPUT_POLICY=\"REJECT\"", InboundDefault.reject, 0),
        ("DEFAULT_INPUT_POLICY=\"ACCEPT\"", .accept, 0),
        ("DEFAULT_INPUT_POLICY=\"SOMETIMES\"", .drop, 1),
    ] as [(String, InboundDefault, Int)])
    func theIncomingDefault(_ line: String, _ expected: InboundDefault, _ untranslated: Int) {
        let result = Self.translate(["allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in"], defaults: "IPV6=yes\n\(line)\nDEFAULT_FORWARD_POLICY=\"ACCEPT\"\n")
        #expect(result.policy.inbound == expected && result.untranslated.count == untranslated)
        #expect(result.policy.routed == .accept)
    }

    @Test func outgoingDenyWithoutOutboundRulesCannotBeSaid() {
        let drop = Self.translate(["allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in"], defaults: "DEFAULT_OUTPUT_POLICY=\"DROP\"\n")
        #expect(drop.policy.outbound == .drop && drop.untranslated.map(\.subject) == ["DEFAULT_OUTPUT_POLICY=DROP"])
        let withRule = Self.translate(["allow udp 53 0.0.0.0/0 any 0.0.0.0/0 out"], defaults: "DEFAULT_OUTPUT_POLICY=\"REJECT\"\n")
        #expect(withRule.policy.outbound == .drop && withRule.untranslated.isEmpty)
        #expect(withRule.findings.contains { $0.kind == .approximated && $0.subject == "DEFAULT_OUTPUT_POLICY=REJECT" })
        #expect(withRule.policy.rules.map(\.id) == ["out-allow-udp-53"] && withRule.policy.rules[0].direction == .out)
    }

    @Test func ipv6OffLeavesUser6OutAndSaysSo() {
        let result = Self.translate(["allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in"], ["allow tcp 22 ::/0 any ::/0 in"], defaults: "IPV6=no\n")
        #expect(result.policy.rules.count == 1 && result.policy.rules[0].sources == [Self.net("0.0.0.0/0")])
        #expect(result.untranslated.map(\.subject) == ["IPV6=no"] && result.untranslated[0].message.contains("the 1 rule of user6.rules is not read"))
    }

    @Test func loggingAndEnabled() {
        let quiet = Self.translate([], conf: "ENABLED=no\nLOGLEVEL=off\n")
        #expect(!quiet.policy.logDefault && quiet.enabled == false)
        #expect(quiet.findings.contains { $0.kind == .note && $0.subject == "ENABLED=no" })
        let chatty = Self.translate([], conf: "ENABLED=yes\nLOGLEVEL=high\n")
        #expect(chatty.policy.logDefault && chatty.findings.contains { $0.kind == .approximated && $0.subject == "LOGLEVEL=high" })
    }

    @Test func editedBuiltInFilesAreNotTranslated() {
        let result = UfwImport.translate(UfwImport.Configuration(userRules: Self.rulesFile([]), editedFiles: ["before.rules"]))
        #expect(result.untranslated.map(\.subject) == ["before.rules"])
        #expect(result.findings.contains { $0.subject == "ufw's settings (default/ufw)" && $0.kind == .note })
    }

    @Test(arguments: [
        ("random bytes", String(decoding: (0..<512).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ 7) }, as: UTF8.self), "binary"),
        ("NUL bytes", "### RULES ###\u{0}\u{0}", "binary"),
        ("empty", "", "marker"),
        ("another program's file", "#!/bin/sh\niptables -A INPUT -j ACCEPT\n", "marker"),
        ("an iptables dump", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n", "marker"),
    ])
    func aFileThatIsNotUfwsIsNotReadAsNoRules(name: String, text: String, reason: String) throws {
        #expect(UfwImport.notRulesFile(text)?.contains(reason) == true, "\(name)")
        let result = UfwImport.translate(UfwImport.Configuration(userRules: text, user6Rules: Self.rulesFile([])))
        #expect(result.untranslated.contains { $0.subject == "user.rules" && $0.message.contains("not a ufw rules file") }, "\(name)")
        let v6 = UfwImport.translate(UfwImport.Configuration(userRules: Self.rulesFile([]), user6Rules: text))
        #expect(v6.untranslated.contains { $0.subject == "user6.rules" }, "\(name)")
    }

    @Test func ufwsOwnFilesAreRulesFiles() throws {
        #expect(UfwImport.notRulesFile(try Self.text("user.rules")) == nil)
        #expect(UfwImport.notRulesFile(try Self.text("user6.rules")) == nil)
        #expect(UfwImport.notRulesFile(Self.rulesFile([])) == nil)
        #expect(!Self.translate([]).findings.contains { $0.subject == "user.rules" })
    }

    @Test func theLimitRateCanBeChosen() throws {
        let options = UfwImport.Options(limit: try RateLimit(parsing: "6/minute"))
        let result = Self.translate(["limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in"], options: options)
        #expect(result.policy.rules[0].limit?.description == "6/minute")
    }

    @Test(arguments: [
        ("6d7920227175696574222070617468", "my 'quiet' path"),
        ("615c62", "a/b"),
        ("0a0a", nil),
    ] as [(String, String?)])
    func commentsBecomePortctlComments(_ hex: String, _ expected: String?) {
        let result = Self.translate(["allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=\(hex)"])
        #expect(result.policy.rules[0].comment == expected)
        #expect(result.findings.contains { $0.kind == .approximated && $0.message.contains("comment") })
    }

    @Test func aLongCommentIsCutToNinetyBytes() {
        let long = String(repeating: "é", count: 60)
        let hex = long.utf8.map { String(format: "%02x", $0) }.joined()
        let comment = Self.translate(["allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=\(hex)"]).policy.rules[0].comment
        #expect(comment == String(repeating: "é", count: 45))
    }

    @Test func settingsReadLikeAShellFile() {
        let settings = UfwImport.settings("# comment\nIPV6=yes\n DEFAULT_INPUT_POLICY = \"REJECT\" \nLOGLEVEL=low # trailing\nX='a b'\n")
        #expect(settings == ["IPV6": "yes", "DEFAULT_INPUT_POLICY": "REJECT", "LOGLEVEL": "low", "X": "a b"])
    }
}

/// A ufw rule for the random test, with ufw's own way of deciding.
private struct RandomRule {
    var action: String
    var proto: String
    var ports: String?
    var source: String?
    var interface: String?

    func tuple(_ family: IPFamily) -> String {
        let any = family == .ipv4 ? "0.0.0.0/0" : "::/0"
        return "\(action) \(proto) \(ports ?? "any") \(any) any \(source ?? any) \(interface.map { "in_" + $0 } ?? "in")"
    }

    func matches(_ packet: Packet) -> Bool {
        if proto != "any" && proto != packet.proto.rawValue { return false }
        if let interface, interface != packet.interface { return false }
        if let source, !(try! IPNetwork(parsing: source)).contains(packet.source) { return false }
        guard let ports else { return true }
        return ports.split(separator: ",").contains { item in
            let bounds = item.split(separator: ":").map { UInt16($0)! }
            return bounds[0] <= packet.port && packet.port <= bounds.last!
        }
    }

    var verdict: Decision.Verdict {
        switch action {
        case "deny": .drop
        case "reject": .reject
        default: .accept
        }
    }
}
