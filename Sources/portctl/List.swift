import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl list`: the policy's rules.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Show the policy's defaults and rules.")

        @Flag(name: .long, help: "Print the policy as JSON (the policy file's shape).")
        var json = false
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let policy = try global.reporting { try global.loadExisting() }
            if json {
                print(jsonText(policy))
                return
            }
            say("policy \(global.paths.policyFile) -> table inet \(policy.table)")
            say("defaults: inbound \(policy.inbound.rawValue), outbound \(policy.outbound.rawValue), published \(policy.published.rawValue), routed \(policy.routed.rawValue)")
            for forward in policy.forwards { say("forward \(forward.id): \(forward.summary)\(forward.comment.map { " (\($0))" } ?? "")") }
            for route in policy.routes { say("routed \(route.id): \(route.summary)\(route.comment.map { " (\($0))" } ?? "")") }
            if policy.rules.isEmpty {
                say("no rules")
                return
            }
            let rows = policy.rules.map { rule -> [String] in
                let listed = rule.readsFiles ? rule.inlineSources : rule.sources
                var sources = (listed.prefix(3).map(\.description) + rule.sourceFiles.map { "@\($0.path) (\($0.networks?.count ?? 0))" })
                    .joined(separator: ", ")
                if rule.isFromAnywhere { sources = "any" }
                if listed.count > 3 { sources += " (+\(listed.count - 3) more)" }
                var comment = rule.comment ?? ""
                if let expires = rule.expires {
                    comment = (rule.isExpired(at: Date()) ? "[expired] " : "[until \(PolicyFile.timestamp(expires))] ") + comment
                }
                if let limit = rule.limit { comment = "[limit \(limit)] " + comment }
                return [rule.id, rule.action.rawValue, rule.direction.rawValue, rule.portsDescription,
                        sources, rule.interface ?? "", comment]
            }
            let header = ["ID", "ACTION", "DIR", "PORTS", "ADDRESSES", "IFACE", "COMMENT"]
            printTable([header] + rows)
        }
    }
}
