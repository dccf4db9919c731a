import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl audit`: what listens here, against what the policy lets in.
    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract: "Compare what listens on this host with what the firewall lets in; exit 3 on a high-severity finding.",
            discussion: """
            With root (CAP_NET_ADMIN), each listener is judged against portctl's table as the \
            kernel holds it, not only against the policy file. high: the kernel admits sources to \
            a listening port that the policy does not (a rule or a set element added by hand, the \
            table missing or dormant). warning: the policy admits sources the kernel does not (a \
            rule deleted), or a rule line portctl does not interpret decides (never guessed). \
            Without root, the policy file alone is judged, and a note on stderr says so.

            From the policy: high, a sensitive service (remote shell, mail relay, database, cache, \
            admin panel; see docs/audit.md) listens on all addresses and any source may reach it; \
            warning, a port open to any source, or an opening nothing listens on; info, a service \
            listening on all addresses that the policy blocks. Process names of other users need \
            root.

            --all lists every listener (TCP and UDP, IPv4 and IPv6): address, port, process, the \
            rule or default that decides, and the sources it admits.
            """
        )

        @Flag(name: .long, help: "Print the report as JSON: the view judged, the findings, and with --all the listeners.")
        var json = false
        @Flag(name: .long, help: "List every listener (TCP and UDP, IPv4 and IPv6) with who may reach it: address, port, process, the rule or default that decides, the sources admitted.")
        var all = false
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                let policy = try global.loadExisting()
                // The kernel's table and the ports published by DNAT need CAP_NET_ADMIN; without
                // it the file alone is judged, and that is said.
                var view = FirewallView.policyFile
                var published: [PublishedPort] = []
                if Privilege.hasNetAdmin {
                    let firewall = global.control.firewall
                    view = .kernel(try firewall.live(table: policy.table))
                    published = try firewall.publishedPorts(excluding: policy.table)
                } else {
                    FileHandle.standardError.write(Data("note: judged the policy file only: reading the kernel's table inet \(policy.table) and ports published by DNAT (containers) needs root or CAP_NET_ADMIN\n".utf8))
                }
                let listeners = HostListeners.read()
                var findings = ExposureAudit.findings(policy, listeners: listeners, published: published, view: view)
                for family in Set(policy.forwards.map(\.to.family)).sorted(by: { $0 == .ipv4 && $1 == .ipv6 }) {
                    if let sysctl = HostForwarding.off(for: family) {
                        let forward = policy.forwards.first { $0.to.family == family }!
                        findings.insert(Finding(port: forward.ports[0].first, proto: forward.proto == .both ? .tcp : forward.proto, severity: .warning,
                                                kind: "forwarding-off",
                                                message: "rule \(forward.id) forwards \(forward.summary), but forwarding is off in this network namespace: set \(sysctl)=1"), at: 0)
                    }
                }
                let reach = all ? ExposureAudit.reach(policy, listeners: listeners, view: view) : nil
                if json {
                    struct Report: Encodable {
                        var view: String
                        var findings: [Finding]
                        var listeners: [ListenerReach]?
                    }
                    print(jsonText(Report(view: view.name, findings: findings, listeners: reach)))
                } else {
                    if let reach {
                        say("Listeners, as the \(view == .policyFile ? "policy file" : "kernel's table inet \(policy.table)") lets them be reached:")
                        printTable([["ADDRESS", "PORT", "PROCESS", "DECIDED BY", "SOURCES"]] + reach.map { row in
                            [row.address, "\(row.port)/\(row.proto.rawValue)", row.process ?? "-", row.decidedBy.joined(separator: ", "), row.sources]
                        })
                        for row in reach {
                            for note in row.notes { say("  \(row.address) \(row.port)/\(row.proto.rawValue): \(note)") }
                        }
                        if reach.isEmpty { say("  (nothing listens)") }
                        say("")
                    }
                    if findings.isEmpty {
                        say("no findings: every listener is reachable only as the policy intends")
                    } else {
                        for finding in findings {
                            let label = finding.severity.rawValue.uppercased().padding(toLength: 8, withPad: " ", startingAt: 0)
                            let colour = finding.severity == .high ? "31" : (finding.severity == .warning ? "33" : "36")
                            say(PlanOutput.paint(label, colour) + finding.message)
                        }
                    }
                }
                if findings.contains(where: { $0.severity == .high }) {
                    throw Failure(message: "", code: .highFinding)
                }
            }
        }
    }
}
