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
                var sources = rule.sources.prefix(3).map(\.description).joined(separator: ", ")
                if rule.sources.isEmpty { sources = "any" }
                if rule.sources.count > 3 { sources += " (+\(rule.sources.count - 3) more)" }
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

    /// `portctl render`: the nftables ruleset for the policy.
    struct Render: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "render",
            abstract: "Print the nftables table the policy renders to. Needs no root; touches no kernel.")

        @OptionGroup var global: GlobalOptions

        func run() throws {
            let policy = try global.reporting { try global.loadExisting() }
            print(Renderer.table(policy), terminator: "")
        }
    }

    /// `portctl apply`: make the kernel match the policy file, or apply a saved plan.
    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "apply",
            abstract: "Apply the policy file as it stands, or a saved plan exactly as reviewed.",
            discussion: """
            Without PLANFILE: plans against the live table and sends only what differs, in one \
            atomic batch; when the kernel already matches, nothing is sent. Counters of rules \
            that stay are kept.

            With PLANFILE (from 'portctl plan -o'): sends exactly the saved batch, but only if \
            neither the policy file nor portctl's table changed since the plan was made, and \
            only if the batch is exactly what portctl plans for that policy and table (an \
            edited plan is refused); otherwise it says why and changes nothing. The plan file \
            must be root's, in folders only root can write, like the policy file.
            """
        )

        @Argument(help: ArgumentHelp("A plan saved by 'portctl plan -o'.", valueName: "planfile"))
        var planFile: String?
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                guard let planFile else {
                    try show(try global.control.applyPolicyFile(options: change.options), change: change, global: global)
                    return
                }
                let (document, plan, result) = try global.control.applySavedPlan(at: planFile, options: change.options)
                warn(result.warnings)
                if change.dryRun {
                    if change.json {
                        print(document.encoded(), terminator: "")
                    } else {
                        say("dry run: the plan is current; applying it would send:")
                        print(plan.script, terminator: "")
                    }
                    if !plan.isEmpty { throw Failure(message: "", code: .changesPending) }
                    return
                }
                if plan.isEmpty {
                    say("the plan has no changes; nothing sent")
                    return
                }
                say("applied plan \(planFile): \(plan.changes.count) change\(plan.changes.count == 1 ? "" : "s") to table inet \(document.table)")
                if let pending = result.confirmation { say(confirmationLine(pending)) }
            }
        }
    }

    /// `portctl disable`: remove portctl's table.
    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "disable",
            abstract: "Remove portctl's nftables table; the policy file stays, and 'portctl apply' restores it.",
            discussion: "With --confirm SECONDS the table comes back by itself unless 'portctl confirm' runs in time. Like every change, it is recorded in the history, and 'portctl rollback' undoes it.")

        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            if change.force {
                throw ValidationError("--force has no meaning for disable: removing portctl's table cannot block SSH logins")
            }
        }

        func run() throws {
            try global.reporting {
                let result = try global.control.disable(options: change.options)
                let plan = result.plan ?? ChangePlan(table: result.policy.table, changes: [], batch: Batch(), replacesTable: false)
                let table = plan.table
                warn(result.warnings)
                if change.dryRun {
                    if change.json {
                        guard !result.previousBytes.isEmpty else {
                            throw Failure(message: "--json needs a policy file: there is none at \(global.paths.policyFile)", code: .failure)
                        }
                        print(PlanDocument(plan: plan, policy: result.policy, policyFile: global.paths.policyFile,
                                           policyBytes: result.previousBytes, liveDigest: "unknown").encoded(), terminator: "")
                    } else if !plan.isEmpty {
                        say("dry run: nothing written. This batch would remove table inet \(table):")
                        print(plan.script, terminator: "")
                    } else {
                        say("table inet \(table) is not in the kernel; nothing to remove")
                    }
                    if !plan.isEmpty { throw Failure(message: "", code: .changesPending) }
                    return
                }
                guard result.applied else {
                    say("table inet \(table) is not in the kernel; nothing to remove")
                    return
                }
                say("disabled: table inet \(table) removed; the policy file is unchanged")
                if let pending = result.confirmation { say(confirmationLine(pending)) }
            }
        }
    }
}
