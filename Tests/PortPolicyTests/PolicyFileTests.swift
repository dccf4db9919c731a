import Foundation
import Testing
@testable import PortPolicy

@Suite struct PolicyFileTests {
    static let sample = """
    version: 1
    defaults:
      inbound: drop
    rules:
      - id: smtp-alt
        ports: 26
        from: [10.0.0.0/8, "2001:db8::/32"]
        comment: mail relays
      - id: web
        ports: [80, 443, "8000-8100"]
        protocol: both
      - id: telnet
        action: deny
        ports: "23"
      - id: dns-out
        direction: out
        protocol: udp
        ports: 53
        to: 198.51.100.53
        interface: eth0
    """

    @Test func readsYAML() throws {
        let policy = try PolicyFile.decode(Self.sample)
        #expect(policy.table == "portctl")
        #expect(policy.rules.map(\.id) == ["smtp-alt", "web", "telnet", "dns-out"])
        #expect(policy.rules[0].sources.map(\.description) == ["10.0.0.0/8", "2001:db8::/32"])
        #expect(policy.rules[1].portsDescription == "80,443,8000-8100/both")
        #expect(policy.rules[2].action == .deny)
        #expect(policy.rules[3].direction == .out && policy.rules[3].interface == "eth0")
    }

    @Test func readsJSON() throws {
        let policy = try PolicyFile.decode(#"{"version": 1, "rules": [{"id": "a", "ports": [26], "from": ["10.0.0.0/8"]}]}"#)
        #expect(policy.rules.first?.sources.first?.description == "10.0.0.0/8")
    }

    @Test func jsonAndYAMLReadTheSame() throws {
        let json = """
        {"version": 1, "defaults": {"inbound": "reject", "log": true},
         "rules": [{"id": "smtp-alt", "ports": [26, "8000-8100"], "from": ["10.0.0.0/8", "2001:db8::/32"],
                    "comment": "caf\\u00e9 \\ud83d\\ude80 \\/", "log": false}]}
        """
        let yaml = """
        version: 1
        defaults: {inbound: reject, log: yes}
        rules:
          - {id: smtp-alt, ports: [26, 8000-8100], from: [10.0.0.0/8, "2001:db8::/32"], comment: "café 🚀 /", log: off}
        """
        let fromJSON = try PolicyFile.decode(json)
        #expect(fromJSON == (try PolicyFile.decode(yaml)))
        #expect(fromJSON.rules[0].comment == "café 🚀 /")
        #expect(fromJSON.inbound == .reject && fromJSON.logDefault)
    }

    /// YAML 1.1 reads `026` as octal 22; a port written with a leading zero means port 26.
    @Test func leadingZeroPortsAreDecimal() throws {
        #expect(try PolicyFile.decode("rules:\n  - id: a\n    ports: 026\n").rules[0].portsDescription == "26/tcp")
        #expect(try PolicyFile.decode("rules:\n  - id: a\n    ports: [026]\n").rules[0].portsDescription == "26/tcp")
    }

    /// A few lines of aliases can name billions of values; they are refused, not expanded.
    @Test func refusesAliasBombs() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            text += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        #expect {
            try PolicyFile.decode(text)
        } throws: { error in
            (error as? PolicyError)?.description.contains("expands to more values than it holds") ?? false
        }
    }

    @Test func writesWhatItReads() throws {
        var policy = try PolicyFile.decode(Self.sample)
        policy.rules[0].comment = "relais: ümlaut, 'single' quotes, colon: yes, # not a comment"
        policy.rules.append(PortRule(id: "many", ports: [try PortRange(9000)],
                                     sources: (1...300).map { try! IPNetwork(parsing: "198.51.100.\($0 % 250)") }))
        let text = PolicyFile.encode(policy)
        #expect(try PolicyFile.decode(text) == policy)
        #expect(try PolicyFile.decode(PolicyFile.encode(PortPolicy())) == PortPolicy())
    }

    @Test(arguments: [
        ("", "empty"),
        ("# only a comment\n", "only comments"),
        ("version: 2\n", "version: 2 is not supported"),
        ("versoin: 1\n", "did you mean \"version\"?"),
        ("rules:\n  - id: a\n    prots: 26\n", "did you mean \"ports\"?"),
        ("rules:\n  - id: a\n    ports: 26\n    form: [10.0.0.0/8]\n", "did you mean \"from\"?"),
        ("rules:\n  - id: a\n    ports: 26\n    action: allwo\n", "use allow, deny, reject"),
        ("defaults:\n  inbound: maybe\n", "use drop, reject, accept"),
        ("rules:\n  - id: a\n    ports: 0\n", "ports run from 1 to 65535"),
        ("rules:\n  - id: a\n    ports: [26, 10-5]\n", "like 5-10"),
        ("rules:\n  - id: a\n    ports: 26\n    from: 10.0.0.1/8\n", "did you mean 10.0.0.0/8?"),
        ("rules:\n  - id: a\n    ports: 26\n    from: []\n", "would match nobody"),
        ("rules:\n  - id: a\n    ports: 26\n  - id: a\n    ports: 27\n", "duplicate rule id \"a\""),
        ("rules:\n  - ports: 26\n", "needs an id"),
        ("rules:\n  - id: a\n", "needs `ports`"),
        ("rules:\n  - id: a\n    ports: 26\n    comment: 'x\" ; drop'\n", "quotes"),
        ("rules:\n  - id: a\n    ports: 26\n    interface: 'eth0 }'\n", "invalid interface"),
        ("rules:\n  - id: a\n    ports: 26\n    to: 10.0.0.0/8\n", "names addresses with `from`"),
        ("rules: 5\n", "rules"),
        ("rules:\n  - id: [1]\n    ports: 26\n", "rules[0]"),
        ("- a\n- b\n", "not a list"),
        ("rules:\n  - id: a\n    ports: {x: 1}\n", "rule \"a\""),
        ("rules:\n  - id: a\n    ports: 26\n  - id: b\n    ports: [27", "not valid YAML"),
        ("{\"version\": 1, \"rules\": [", "not valid JSON"),
        ("rules:\n  - id: 9lives\n    ports: 26\n", "letter first"),
        ("table: \"bad table\"\n", "table name"),
        (#"{"version": 1, "rules": [],}"#, "line 1: expected a key"),
        ("{\"version\": 1,\n \"version\": 1}", "line 2: the key \"version\" appears twice"),
        (#"{"version": 01}"#, "unexpected \"01\""),
        ("{\"rules\": [{\"id\": \"a\", \"ports\": 26, \"comment\": \"tab\there\"}]}", "raw control character"),
        (#"{"rules": [{"id": "a", "ports": 26, "comment": "\ud800"}]}"#, "surrogate"),
        (#"{"version": 1} x"#, "unexpected text after the end"),
        (#"{"version": 1, /* no */ "rules": []}"#, "expected a key"),
        (#"{"rules": [{"id": "a", "ports": 26, "log": "true"}]}"#, "expected true or false"),
        ("rules:\n  - id: a\n    ports: 26\n    log: \"yes\"\n", "expected true or false"),
        ("version: \"1\"\n", "version: expected a number"),
        ("rules:\n  - id: a\n    ports: 26\n    ports: 27\n", "duplicated key"),
        ("rules:\n  - id: a\n    ports: 26\n    from:\n", "would match nobody"),
        ("rules:\n  - id: a\n    ports: [[26]]\n", "rules[0].ports: expected ports"),
        ("rules:\n  - id: a\n    ports: 26\n    from: [[10.0.0.0/8]]\n", "rules[0].from: expected addresses"),
        ("rules:\n  - 5\n", "rules[0]: expected a mapping"),
        ("? [a]\n: 1\n", "as a key"),
    ])
    func refusesBadFiles(_ text: String, _ fragment: String) {
        #expect {
            try PolicyFile.decode(text)
        } throws: { error in
            let message = (error as? PolicyError)?.description ?? "\(error)"
            if !message.contains(fragment) || message.contains("\n") { print("message was: \(message)") }
            return message.contains(fragment) && !message.contains("\n")
        }
    }

    @Test func refusesBinaryAndNUL() {
        #expect(throws: PolicyError.self) { try PolicyFile.decode(Data([0xff, 0xfe, 0x00, 0x01, 0x80])) }
        #expect(throws: PolicyError.self) { try PolicyFile.decode("version: 1\n\u{0}rules: []\n") }
    }

    @Test func refusesHostileTextInEveryFreeField() throws {
        let hostile = ["a\"b", "a\\b", "line\nbreak", "nul\u{0}x", String(repeating: "x", count: 200),
                       "tab\there", "bell\u{7}", "rtl\u{202e}x", "sep\u{2028}x"]
        for text in hostile {
            #expect(throws: PolicyError.self, "comment \(text.debugDescription)") { try PortRule.validateComment(text) }
            #expect(throws: PolicyError.self, "interface \(text.debugDescription)") { try PortRule.validateInterface(text) }
            #expect(throws: PolicyError.self, "id \(text.debugDescription)") { try PortRule.validateID(text) }
        }
        #expect(throws: PolicyError.self) { try PortRule.validateInterface("eth0 } table") }
        #expect(throws: PolicyError.self) { try PortRule.validateID("a}b") }
        for text in ["semi; colon", "{braces}", "ümlaut ok", "it's fine", "$var @set #hash"] {
            try PortRule.validateComment(text)
        }
    }
}
