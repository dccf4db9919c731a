import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
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
}
