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
        @OptionGroup var change: ChangeOptions
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                try global.withLock(privileged: "applying the policy", dryRun: change.dryRun) {
                    if !change.dryRun { try refuseWhileConfirmationPending(global) }
                    if let planFile {
                        try applySaved(planFile)
                        return
                    }
                    let (policy, bytes) = try global.loadExistingWithBytes()
                    let text = String(decoding: bytes, as: UTF8.self)
                    try commit(policy, fileText: text, previousText: text, policyChanged: false, global: global, change: change, command: "apply")
                }
            }
        }

        /// A batch with its timeout and expiry figures blanked, to compare batches made at
        /// different moments.
        static func withoutCountdowns(_ script: String) -> String {
            script.replacingOccurrences(of: #"(timeout|expires) [0-9dhms]+"#, with: "$1 _", options: .regularExpression)
        }

        func applySaved(_ path: String) throws {
            // A saved plan is trusted like the policy file: root's, in folders only root can write.
            guard let data = try TrustedFiles.read(path, what: "plan file", maximumSize: 4 * PolicyStore.maximumFileSize) else {
                throw Failure(message: "cannot read plan file \(path): no such file", code: .failure)
            }
            let document: PlanDocument
            do {
                document = try PlanDocument.decode(data)
            } catch {
                throw Failure(message: "\(path): \(error)", code: .invalidData)
            }
            if !document.isIntact {
                throw Failure(message: "plan \(path) was edited after it was saved (its digest does not match its contents); nothing was applied (run 'portctl plan -o' again)", code: .invalidData)
            }
            let (policy, bytes) = try global.loadExistingWithBytes()
            if PlanDocument.digest(bytes) != document.policyDigest {
                throw Failure(message: "plan \(path) is stale: the policy file \(global.paths.policyFile) changed since the plan was made; nothing was applied (run 'portctl plan' again)", code: .failure)
            }
            if policy.table != document.table {
                throw Failure(message: "plan \(path) names table inet \(document.table), but the policy file renders table inet \(policy.table); nothing was applied", code: .failure)
            }
            let firewall = Firewall()
            let live = try firewall.live(table: policy.table)
            if PlanDocument.digest(live) != document.liveDigest {
                throw Failure(message: "plan \(path) is stale: table inet \(document.table) changed since the plan was made; nothing was applied (run 'portctl plan' again)", code: .failure)
            }
            // The script runs only if it is exactly what the planner makes for this policy against
            // this table: a saved plan cannot carry anything else into the kernel.
            var reviewed = Planner.plan(policy, live: live, now: Date(timeIntervalSince1970: document.plannedAt))
            firewall.removePreviousTable(previousTable(global, previousText: nil), in: &reviewed)
            if reviewed.script != document.script {
                throw Failure(message: "plan \(path) holds a batch that portctl would not make for its policy and table (was it edited?); nothing was applied (run 'portctl plan -o' again)", code: .invalidData)
            }
            // Time moved on since the review: what is sent is the same plan made now, so that
            // --for timeouts count from now and an opening that expired meanwhile stays closed.
            // It must be the reviewed batch but for those countdowns; otherwise the plan is stale.
            var plan = Planner.plan(policy, live: live)
            firewall.removePreviousTable(previousTable(global, previousText: nil), in: &plan)
            if Self.withoutCountdowns(plan.script) != Self.withoutCountdowns(document.script) {
                throw Failure(message: "plan \(path) is stale: a time-boxed rule expired since the plan was made, so the batch would differ; nothing was applied (run 'portctl plan' again)", code: .failure)
            }
            try guardAgainstLockout(policy, force: change.force, confirmSeconds: change.confirm)
            if change.dryRun {
                if change.json {
                    print(document.encoded(), terminator: "")
                } else {
                    say("dry run: the plan is current; applying it would send:")
                    print(plan.script, terminator: "")
                }
                if !plan.script.isEmpty { throw Failure(message: "", code: .changesPending) }
                return
            }
            if plan.script.isEmpty {
                say("the plan has no changes; nothing sent")
                return
            }
            try refuseWhileConfirmationPending(global)
            try firewall.run(script: plan.script)
            if plan.replacesTable { firewall.restoreBans(table: policy.table, stateDirectory: global.paths.stateDirectory) }
            say("applied plan \(path): \(plan.changes.count) change\(plan.changes.count == 1 ? "" : "s") to table inet \(document.table)")
            let text = String(decoding: bytes, as: UTF8.self)
            let entry = try record(command: "apply-plan", global: global, previousText: text, after: text,
                                   changes: plan.changes.map(PlanDocument.Change.init), script: plan.script, pending: change.confirm != nil)
            if let seconds = change.confirm { try armConfirmation(entry, seconds: seconds, global: global) }
        }
    }

    /// `portctl disable`: remove portctl's table.
    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "disable",
            abstract: "Remove portctl's nftables table; the policy file stays, and 'portctl apply' restores it.",
            discussion: "With --confirm SECONDS the table comes back by itself unless 'portctl confirm' runs in time. Like every change, it is recorded in the history, and 'portctl rollback' undoes it.")

        @OptionGroup var change: ChangeOptions
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            if change.force {
                throw ValidationError("--force has no meaning for disable: removing portctl's table cannot block SSH logins")
            }
        }

        func run() throws {
            try global.reporting {
                try global.withLock(privileged: "removing portctl's table", dryRun: change.dryRun) {
                    let loaded = try global.store.loadWithBytes()
                    let table = loaded?.policy.table ?? PortPolicy.defaultTable
                    let exists = Privilege.hasNetAdmin ? try Firewall().tableExists(table) : true
                    let plan = ChangePlan(table: table, changes: exists ? [.removeTable(table)] : [],
                                          script: exists ? Renderer.deleteBatch(table: table) : "", replacesTable: exists)
                    if change.dryRun {
                        if change.json, let loaded {
                            print(PlanDocument(plan: plan, policy: loaded.policy, policyFile: global.paths.policyFile,
                                               policyBytes: loaded.bytes, liveDigest: "unknown").encoded(), terminator: "")
                        } else if change.json {
                            throw Failure(message: "--json needs a policy file: there is none at \(global.paths.policyFile)", code: .failure)
                        } else if exists {
                            say("dry run: nothing written. This batch would remove table inet \(table):")
                            print(plan.script, terminator: "")
                        } else {
                            say("table inet \(table) is not in the kernel; nothing to remove")
                        }
                        if exists { throw Failure(message: "", code: .changesPending) }
                        return
                    }
                    if !exists {
                        say("table inet \(table) is not in the kernel; nothing to remove")
                        return
                    }
                    try refuseWhileConfirmationPending(global)
                    try Firewall().remove(table: table)
                    say("disabled: table inet \(table) removed; the policy file is unchanged")
                    let text = loaded.map { String(decoding: $0.bytes, as: UTF8.self) }
                    let entry = try record(command: "disable", global: global, previousText: text, after: text,
                                           changes: plan.changes.map(PlanDocument.Change.init), script: plan.script,
                                           pending: change.confirm != nil)
                    if let seconds = change.confirm { try armConfirmation(entry, seconds: seconds, global: global) }
                }
            }
        }
    }
}
