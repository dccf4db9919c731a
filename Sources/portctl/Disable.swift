import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
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
