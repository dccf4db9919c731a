import Foundation
import Testing
@testable import PortPolicy

/// The block-YAML shortcut must read every text it accepts exactly as libyaml (through Yams)
/// does, and must accept what portctl writes (else the shortcut silently never runs).
@Suite struct BlockYAMLTests {
    /// Compares the shortcut with Yams on one text; returns whether the shortcut took it.
    @discardableResult
    func agree(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        guard let fast = BlockYAML.parse(text) else { return false }
        let yams = Result { () throws(PolicyError) in try DocumentValue.parseWithYams(text) }
        switch yams {
        case let .success(value):
            #expect(fast == value, "text: \(text.debugDescription)", sourceLocation: sourceLocation)
        case let .failure(error):
            Issue.record("the shortcut read a text libyaml refuses (\(error)): \(text.debugDescription)", sourceLocation: sourceLocation)
        }
        return true
    }

    @Test func readsWhatPortctlWrites() throws {
        var policy = PortPolicy(inbound: .reject)
        policy.logDefault = true
        policy.rules = [
            PortRule(id: "ssh", ports: [try PortRange(22)]),
            PortRule(id: "relays", ports: [try PortRange(26), try PortRange(8000, 8100)], proto: .both,
                     sources: (0..<300).map { try! IPNetwork(parsing: "10.0.\($0 / 256).\($0 % 256)") } + [try IPNetwork(parsing: "2001:db8::/32")],
                     interface: "eth0", comment: "mail relays: ümlaut, 'single' # not a comment"),
            PortRule(id: "dns-out", ports: [try PortRange(53)], proto: .udp, direction: .out,
                     sources: [try IPNetwork(parsing: "198.51.100.53")]),
        ]
        policy.rules[1].limit = try RateLimit(parsing: "10/minute")
        policy.rules[1].expires = Date(timeIntervalSince1970: 1_800_000_000)
        policy.rules[1].log = true
        let text = PolicyFile.encode(policy)
        #expect(agree(text), "portctl's own output must take the shortcut")
        #expect(agree(PolicyFile.encode(PortPolicy())))
        #expect(try PolicyFile.decode(text) == policy)
    }

    @Test func readsTheExamplePolicies() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Examples/policies").standardized
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }
        #expect(!names.isEmpty)
        for name in names {
            let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            agree(text)
        }
    }

    @Test(arguments: [
        "a: 1\n", "a:\n", "a: ~\n", "a: null # c\n", "# only\n\n", "", "a: [1, 2, 3]\n", "a: []\n",
        "a: 'it''s'\n", "a: \"x\\\"y\\\\z\\u00e9\\x41\\U0001F680\"\n", "a: b # c\n", "a: b#c\n",
        "a:\n  - 1\n  - 2\n", "- a\n- b\n", "-\n  a: 1\n", "- a: 1\n  b: 2\n- c: 3\n", "a:\n    b:\n        c: d\n",
        "a: 2001:db8::/32\n", "a: [\"2001:db8::/32\", 10.0.0.0/8]\n", "a: -1\n", "a: 25,26\n", "a: x y  z\n",
        // Outside the subset: the shortcut must give up (or, if it reads them, agree).
        "a: &x 1\nb: *x\n", "a: !!str 1\n", "a: |\n  text\n", "a: >\n  text\n", "a: {b: 1}\n", "a:\n- 1\n",
        "a: b\n  c\n", "a: 1\na: 2\n", "---\na: 1\n", "a: \"multi\n  line\"\n", "a: [1,\n  2]\n", "a:\tb\n",
        "a: b: c\n", "a: [a: b]\n", "a: [a #c]\n", "a: \"x\"y\n", "? a\n: b\n", "a: @x\n", "a: `x`\n", "a: %x\n",
        "a: b\r\n", "a: \u{85}\n", "a: x\u{2028}y\n", "\u{feff}a: 1\n", "a: \"\\N\"\n", "a: \"\\q\"\n", "a: [,]\n",
        "a: [1, ]\n", "a: x\n b: y\n", "  a: 1\nb: 2\n", "a: 'x\n", "a: \"\\ud800\"\n", "a: \"\\u12\"\n",
        "a: \u{7f}\n", "a: \u{9f}\n", "a: \u{fffe}\n", "- - a\n", "a: - b\n", "a: :b\n", "a: b:\n", "a: ?b\n",
        "-a: 1\n", "-: 1\n", "a-b_c: 1\n", "0: x\n", "- -1\n", "a:  \"x\"   # c\n", "a: 'x'#c\n", "a: x\n\n\n  \nb: y\n",
        "a:\n  # comment\n  b: 1\n", "a: [ ]\n", "a: [ x , y ]\n", "a: ['x', \"y\"]\n", "a: 'it''s' # c\n", "a: \"\"\n", "a: ''\n",
    ])
    func handMadeCases(_ text: String) {
        agree(text)
    }

    /// Random documents in random styles: whatever the shortcut reads, it reads as libyaml does,
    /// and it reads most of them.
    @Test func randomDocumentsAgreeWithLibyaml() {
        var random = SeededGenerator(state: 0x706f_7274_6374_6c01)
        let pieces = ["a", "b", "10.0.0.0/8", "2001:db8::1", "-", ":", ": ", " #", "#", ",", "[", "]", "{", "'", "\"",
                      "\\", "é", "🚀", " ", "~", "null", "yes", "0x1f", "026", "&", "*", "!", "|", ">", "?", "%", "@",
                      "\\u00e9", "\t", "\u{85}", "-1", "x y"]
        func scalarText() -> String {
            (0..<Int.random(in: 1...4, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
        }
        func scalar(_ text: String, inFlow: Bool) -> String {
            switch Int.random(in: 0..<4, using: &random) {
            case 0: return "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
            case 1: return PolicyFile.yamlString(text)
            default: return text  // plain, whatever it means
            }
        }
        func comment() -> String { Bool.random(using: &random) ? "" : " # " + scalarText() }
        func block(_ depth: Int, indent: Int) -> String {
            let pad = String(repeating: " ", count: indent)
            let step = Int.random(in: 1...4, using: &random)
            var out = ""
            if depth < 3 && Bool.random(using: &random) {
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    if Int.random(in: 0..<3, using: &random) == 0 {
                        out += pad + "-" + comment() + "\n" + block(depth + 1, indent: indent + step)
                    } else {
                        out += pad + "- " + scalar(scalarText(), inFlow: false) + comment() + "\n"
                    }
                }
                return out
            }
            for index in 0..<Int.random(in: 1...4, using: &random) {
                let key = ["id", "ports", "from", "comment", "k\(index)"].randomElement(using: &random)! + (index == 0 ? "" : "\(index)")
                switch Int.random(in: 0..<4, using: &random) {
                case 0 where depth < 3:
                    out += pad + key + ":" + comment() + "\n" + block(depth + 1, indent: indent + step)
                case 1:
                    let items = (0..<Int.random(in: 0...3, using: &random)).map { _ in scalar(scalarText(), inFlow: true) }
                    out += pad + key + ": [" + items.joined(separator: Bool.random(using: &random) ? ", " : ",") + "]" + comment() + "\n"
                default:
                    out += pad + key + ": " + scalar(scalarText(), inFlow: false) + comment() + "\n"
                }
                if Int.random(in: 0..<5, using: &random) == 0 { out += "\n" + pad + "# a comment line\n" }
            }
            return out
        }
        var taken = 0
        let count = 3000
        for _ in 0..<count where agree(block(0, indent: 0)) { taken += 1 }
        #expect(taken > count / 10, "the shortcut took \(taken) of \(count) documents")
    }
}
