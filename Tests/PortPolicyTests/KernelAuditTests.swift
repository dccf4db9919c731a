import Foundation
import Testing
@testable import PortPolicy

/// The comparison of the kernel's table with the policy file, listener by listener.
@Suite struct KernelAuditTests {
    static var policy: PortPolicy {
        var relays = PortRule(id: "relays", ports: [try! PortRange(26)], sources: [try! IPNetwork(parsing: "10.0.0.0/8")])
        relays.sourceFiles = [SourceFile(path: "/etc/portctl/relays.txt", networks: [try! IPNetwork(parsing: "198.51.100.0/24")])]
        relays.inlineSources = [try! IPNetwork(parsing: "10.0.0.0/8")]
        relays.recomputeSources()
        return PortPolicy(rules: [relays, PortRule(id: "web", ports: [try! PortRange(443)])])
    }

    static let listeners = [
        Listener(proto: .tcp, address: "::", port: 26, process: "smtpd[10]"),
        Listener(proto: .tcp, address: "0.0.0.0", port: 443, process: "nginx[11]"),
        Listener(proto: .tcp, address: "::", port: 8080, process: "app[12]"),
        Listener(proto: .udp, address: "0.0.0.0", port: 53, process: "dns[13]"),
        Listener(proto: .tcp, address: "127.0.0.1", port: 8081, process: "admin[14]"),
    ]

    func kinds(_ findings: [Finding]) -> Set<String> {
        Set(findings.map { "\($0.port)/\($0.proto.rawValue) \($0.severity.rawValue) \($0.kind)" })
    }

    func input(_ table: inout Table, _ body: (inout [Rule]) -> Void) {
        let index = table.chains.firstIndex { $0.name == "input" }!
        body(&table.chains[index].rules)
    }

    @Test func aKernelThatMatchesAddsNothing() {
        let live = Renderer.model(Self.policy)
        let kernel = ExposureAudit.findings(Self.policy, listeners: Self.listeners, view: .kernel(live))
        #expect(kernel == ExposureAudit.findings(Self.policy, listeners: Self.listeners), "the kernel agrees: the file's findings stand")
    }

    @Test func aPortOpenedByHandIsHigh() {
        var live = Renderer.model(Self.policy)
        input(&live) { $0.insert(Rule([.match(.payload("tcp", "dport"), op: "==", .number(8080)), .verdict(.accept)]), at: $0.count - 1) }
        let findings = ExposureAudit.findings(Self.policy, listeners: Self.listeners, view: .kernel(live))
        #expect(kinds(findings).contains("8080/tcp high kernel-admits"), "\(findings)")
        #expect(!kinds(findings).contains("8080/tcp info listener-blocked"), "the file's 'only this host can use it' is not said of a port the kernel opens")
        let high = findings.first { $0.kind == "kernel-admits" }!
        #expect(high.message.contains("the kernel admits any source") && high.message.contains("`tcp dport 8080 accept`")
                && high.message.contains("the policy admits no one"), "\(high.message)")
        #expect(high.kernelAdmits == ["0.0.0.0/0", "::/0"])
        // The file's own judgement is unchanged: without the kernel, no such finding.
        #expect(!kinds(ExposureAudit.findings(Self.policy, listeners: Self.listeners, view: .policyFile)).contains("8080/tcp high kernel-admits"))
    }

    /// A drop-record line given an accept by hand admits everyone it records: HIGH, not "cannot
    /// tell" (hostile review).
    @Test func aRecordingLineThatAcceptsIsHigh() {
        var live = Renderer.model(Self.policy)
        input(&live) { rules in
            let index = rules.firstIndex { $0.comment == Renderer.defaultComment && $0.statements.contains { if case .record = $0 { true } else { false } } }!
            rules[index].statements.append(.verdict(.accept))
        }
        let findings = ExposureAudit.findings(Self.policy, listeners: Self.listeners, view: .kernel(live))
        #expect(kinds(findings).contains("8080/tcp high kernel-admits"), "\(findings)")
    }

    @Test func anElementAddedToARulesSetIsHigh() {
        var live = Renderer.model(Self.policy)
        let index = live.sets.firstIndex { $0.name == "relays-v4" }!
        live.sets[index] = AddressSet(name: "relays-v4", family: .ipv4, elements: live.sets[index].elements + [try! IPNetwork(parsing: "203.0.113.0/24")])
        let findings = ExposureAudit.findings(Self.policy, listeners: Self.listeners, view: .kernel(live))
        let high = findings.first { $0.kind == "kernel-admits" }
        #expect(high?.port == 26 && high?.severity == .high && high?.kernelAdmits == ["203.0.113.0/24"], "\(findings)")
        #expect(high?.message.contains("whose set relays-v4 in the kernel does not hold what the policy lists") == true, "\(high?.message ?? "")")
    }

    @Test func aDeletedRuleOrAMissingTableIsAWarningForWhatThePolicyOpens() {
        var live = Renderer.model(Self.policy)
        input(&live) { $0.removeAll { $0.ruleID == "web" } }
        let findings = ExposureAudit.findings(Self.policy, listeners: Self.listeners, view: .kernel(live))
        let warning = findings.first { $0.kind == "kernel-refuses" }
        #expect(warning?.port == 443 && warning?.severity == .warning && warning?.policyAdmits == ["0.0.0.0/0"], "\(findings)")
        #expect(!findings.contains { $0.severity == .high })
        #expect(!kinds(findings).contains("443/tcp warning open-to-any"), "the file's view of 443 is not presented as the kernel's")

        // No table: nothing refuses, so a port the policy keeps closed is open: high; the table is named.
        let missing = ExposureAudit.findings(Self.policy, listeners: Self.listeners, view: .kernel(nil))
        #expect(kinds(missing).isSuperset(of: ["8080/tcp high kernel-admits", "53/udp high kernel-admits", "26/tcp high kernel-admits",
                                               "0/tcp warning table-not-in-force"]), "\(kinds(missing))")
        #expect(!kinds(missing).contains { $0.hasPrefix("8081/") }, "a loopback listener is nobody else's")
    }

    @Test func aLineItCannotReadIsReportedNotGuessed() {
        var live = Renderer.model(Self.policy)
        input(&live) {
            $0.insert(Rule([.match(.meta("mark"), op: "==", .number(1)), .match(.payload("tcp", "dport"), op: "==", .number(8080)), .verdict(.accept)]),
                      at: $0.count - 1)
        }
        let findings = ExposureAudit.findings(Self.policy, listeners: Self.listeners, view: .kernel(live))
        let unsure = findings.first { $0.kind == "kernel-cannot-tell" }
        #expect(unsure?.port == 8080 && unsure?.severity == .warning && unsure?.message.contains("meta mark 1") == true, "\(findings)")
        #expect(!findings.contains { $0.severity == .high })
        let row = ExposureAudit.reach(Self.policy, listeners: Self.listeners, view: .kernel(live)).first { $0.port == 8080 }
        #expect(row?.admits == "unknown" && row?.decidedBy.first == "cannot tell" && row?.sources == "cannot tell for any source"
                && row?.notes.contains { $0.contains("`meta mark 1 tcp dport 8080 accept` in chain input") } == true, "\(String(describing: row))")
    }

    @Test func anInterfaceOnlyOpeningIsNamedWithItsInterface() {
        var live = Renderer.model(Self.policy)
        input(&live) {
            $0.insert(Rule([.match(.meta("iifname"), op: "==", .string("eth9")), .match(.payload("udp", "dport"), op: "==", .number(53)), .verdict(.accept)]),
                      at: $0.count - 1)
        }
        let findings = ExposureAudit.findings(Self.policy, listeners: Self.listeners, view: .kernel(live))
        let high = findings.first { $0.kind == "kernel-admits" }
        #expect(high?.port == 53 && high?.message.contains("arriving on eth9") == true, "\(findings)")
        let row = ExposureAudit.reach(Self.policy, listeners: Self.listeners, view: .kernel(live)).first { $0.port == 53 }
        #expect(row?.sources == "no one" && row?.notes.contains { $0.hasPrefix("arriving on eth9: anyone") } == true, "\(String(describing: row))")
    }

    @Test func everyListenerWithWhoMayReachIt() {
        let rows = ExposureAudit.reach(Self.policy, listeners: Self.listeners, view: .policyFile)
        let table = rows.map { "\($0.address) \($0.port)/\($0.proto.rawValue) \($0.process ?? "-") | \($0.decidedBy.joined(separator: ", ")) | \($0.sources) | \($0.admits)" }
        #expect(table == [
            ":: 26/tcp smtpd[10] | relays | 10.0.0.0/8, @/etc/portctl/relays.txt | some",
            "0.0.0.0 53/udp dns[13] | default drop | no one | none",
            "0.0.0.0 443/tcp nginx[11] | web | anyone | any",
            ":: 8080/tcp app[12] | default drop | no one | none",
            "127.0.0.1 8081/tcp admin[14] | bound to loopback | only this host (loopback) | local",
        ], "\(table)")
        #expect(rows.first { $0.port == 26 }?.addresses == ["10.0.0.0/8", "198.51.100.0/24"])

        // From the kernel, where it differs: the kernel's addresses, and the line that decides.
        var live = Renderer.model(Self.policy)
        let index = live.sets.firstIndex { $0.name == "relays-v4" }!
        live.sets[index] = AddressSet(name: "relays-v4", family: .ipv4, elements: live.sets[index].elements + [try! IPNetwork(parsing: "203.0.113.0/24")])
        input(&live) { $0.insert(Rule([.match(.payload("tcp", "dport"), op: "==", .number(8080)), .verdict(.accept)]), at: $0.count - 1) }
        let kernel = ExposureAudit.reach(Self.policy, listeners: Self.listeners, view: .kernel(live))
        #expect(kernel.first { $0.port == 26 }?.sources == "10.0.0.0/8, 198.51.100.0/24, 203.0.113.0/24")
        #expect(kernel.first { $0.port == 8080 }.map { ($0.decidedBy, $0.sources) } ?? ([], "") == (["`tcp dport 8080 accept` (not from the policy)"], "anyone"))
        #expect(ExposureAudit.reach(Self.policy, listeners: Self.listeners, view: .kernel(nil)).first { $0.port == 8080 }?.decidedBy
                == ["no table inet portctl in the kernel"])
    }

    @Test func listenerFamilies() {
        #expect(Listener(proto: .tcp, address: "0.0.0.0", port: 1).families == [.ipv4])
        #expect(Listener(proto: .tcp, address: "::", port: 1).families == [.ipv4, .ipv6])
        #expect(Listener(proto: .tcp, address: "2001:db8::1", port: 1).families == [.ipv6])
        #expect(Listener(proto: .tcp, address: "::ffff:198.51.100.1", port: 1).families == [.ipv4])
    }
}
