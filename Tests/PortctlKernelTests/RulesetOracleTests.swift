import Foundation
import Testing

/// The oracle the kernel tests judge "the kernel holds the policy" by must itself see every
/// kind of difference: an element, a rule, a chain's policy, the order of rules.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct RulesetOracleTests {
    func handle(_ lab: NetLab, of comment: String) throws -> String? {
        let listing = try lab.nft("-a", "list", "chain", "inet", "portctl", "input").stdout
        let line = listing.split(separator: "\n").first { $0.contains("comment \"\(comment)\"") && $0.contains("accept") }
        return line?.split(separator: " ").last.map(String.init)
    }

    @Test func theOracleSeesElementsRulesPoliciesAndOrder() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        #expect(try lab.portctl("open", "27", "--for", "1h").status == 0)
        #expect(try lab.kernelDifferences().isEmpty)

        #expect(try lab.nft("add", "element", "inet", "portctl", "allow-tcp-26-v4", "{ 203.0.113.0/24 }").status == 0)
        let element = try lab.kernelDifferences()
        #expect(element.count == 1 && element.first?.onlyInKernel == ["203.0.113.0/24"], "\(element)")
        #expect(try lab.nft("delete", "element", "inet", "portctl", "allow-tcp-26-v4", "{ 203.0.113.0/24 }").status == 0)
        #expect(try lab.kernelDifferences().isEmpty)

        #expect(try lab.nft("insert", "rule", "inet", "portctl", "input", "tcp", "dport", "9", "accept").status == 0)
        let rule = try lab.kernelDifferences()
        #expect(rule.count == 1 && rule.first?.onlyInKernel == ["tcp dport 9 accept"], "\(rule)")
        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.kernelDifferences().isEmpty)

        #expect(try lab.nft("add", "chain", "inet", "portctl", "input", "{ policy accept; }").status == 0)
        let policy = try lab.kernelDifferences()
        #expect(policy.first?.onlyInKernel.first?.contains("policy accept") == true, "\(policy)")
        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.kernelDifferences().isEmpty)

        // The rule for 26 moved to the end of its chain: the same lines, another order.
        let moved = try #require(try handle(lab, of: "allow-tcp-26"))
        let text = try #require(try lab.nft("list", "chain", "inet", "portctl", "input").stdout
            .split(separator: "\n").first { $0.contains("comment \"allow-tcp-26\"") && $0.contains("accept") })
        #expect(try lab.nft("delete", "rule", "inet", "portctl", "input", "handle", moved).status == 0)
        #expect(try run(["ip", "netns", "exec", lab.server, "sh", "-c", "nft add rule inet portctl input \"$0\"",
                         text.trimmingCharacters(in: .whitespaces)]).status == 0)
        let order = try lab.kernelDifferences()
        #expect(order.count == 1 && order.first?.note == "the same lines in another order", "\(order)")
    }

    @Test func durationsAreReadAsNftWritesThem() {
        #expect(RulesetOracle.seconds("2h") == 7_200)
        #expect(RulesetOracle.seconds("1d3h20m5s") == 98_405)
        #expect(RulesetOracle.seconds("59m59s999ms") == 3_599)
        #expect(RulesetOracle.seconds("h") == nil && RulesetOracle.seconds("12") == nil)
    }
}
