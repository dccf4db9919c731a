import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl audit`: what listens here, against what the policy lets in.
    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract: "Compare what listens on this host with what the policy lets in; exit 3 on a high-severity finding.",
            discussion: """
            high: a sensitive service (remote shell, mail relay, database, cache, admin panel; \
            see docs/audit.md) listens on all addresses and the policy lets any source reach it. \
            warning: a port open to any source; an opening nothing listens on. info: a service \
            listening on all addresses that the policy blocks. Needs no root to read the policy \
            and the sockets; process names of other users need root.
            """
        )

        @Flag(name: .long, help: "Print the findings as JSON.")
        var json = false
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                let policy = try global.loadExisting()
                // Published ports need the ruleset, which needs CAP_NET_ADMIN; say when they were not read.
                let published = Privilege.hasNetAdmin ? try Firewall().publishedPorts(excluding: policy.table) : nil
                if published == nil && !json { warn("ports published by DNAT (containers) were not read: that needs root or CAP_NET_ADMIN") }
                var findings = ExposureAudit.findings(policy, listeners: HostListeners.read(), published: published ?? [])
                for family in Set(policy.forwards.map(\.to.family)).sorted(by: { $0 == .ipv4 && $1 == .ipv6 }) {
                    if let sysctl = HostForwarding.off(for: family) {
                        let forward = policy.forwards.first { $0.to.family == family }!
                        findings.insert(Finding(port: forward.ports[0].first, proto: forward.proto == .both ? .tcp : forward.proto, severity: .warning,
                                                kind: "forwarding-off",
                                                message: "rule \(forward.id) forwards \(forward.summary), but forwarding is off in this network namespace: set \(sysctl)=1"), at: 0)
                    }
                }
                if json {
                    struct Report: Encodable { var findings: [Finding] }
                    print(jsonText(Report(findings: findings)))
                } else if findings.isEmpty {
                    say("no findings: every listener is reachable only as the policy intends")
                } else {
                    for finding in findings {
                        let label = finding.severity.rawValue.uppercased().padding(toLength: 8, withPad: " ", startingAt: 0)
                        let colour = finding.severity == .high ? "31" : (finding.severity == .warning ? "33" : "36")
                        say(PlanOutput.paint(label, colour) + finding.message)
                    }
                }
                if findings.contains(where: { $0.severity == .high }) {
                    throw Failure(message: "", code: .highFinding)
                }
            }
        }
    }
}
