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

            With --new FILE: makes FILE the policy in one change. It is validated, planned, \
            checked against locking out your SSH session and applied, and only then written \
            over the policy file, byte for byte; 'portctl rollback' restores the previous file \
            and table (or removes both when there was none). With --dry-run --json it prints \
            the plan for FILE and writes nothing (what configuration management needs).
            """
        )

        @Argument(help: ArgumentHelp("A plan saved by 'portctl plan -o'.", valueName: "planfile"))
        var planFile: String?
        @Option(name: .customLong("new"), help: ArgumentHelp("Make this file (root's, in folders only root can write; or - for standard input) the policy: apply it, then write it over the policy file, as one change.", valueName: "file"))
        var newPolicy: String?
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            if planFile != nil && newPolicy != nil {
                throw ValidationError("give a saved plan or --new FILE, not both")
            }
        }

        func run() throws {
            // A dry run of apply is a comparison with the kernel: without the privilege to read
            // it there is no answer, and "nothing to change" would be a guess.
            if change.dryRun { try requireNetAdmin("apply --dry-run (reading the kernel's table)") }
            try global.reporting {
                if let newPolicy {
                    let text = try ChangeControl.readCandidatePolicy(newPolicy)
                    let result = try global.control.replacePolicy(with: text, source: newPolicy, options: change.options)
                    var report: [String] = []
                    if result.policyChanged && !change.dryRun { report.append("wrote \(global.paths.policyFile) from \(newPolicy)") }
                    try show(result, change: change, global: global, report: report)
                    return
                }
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
