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

            With PLANFILE (from 'portctl plan -o', or 'portctl plan --new PROPOSED -o'): sends \
            exactly the saved batch, but only if neither the policy file, nor portctl's table, \
            nor an address file the planned policy reads changed since the plan was made, and \
            only if the batch is exactly what portctl plans for that policy and table (an \
            edited plan is refused); otherwise it says why and changes nothing. A proposal's \
            text, carried in the plan, is written over the policy file in the same recorded \
            change. --expect-digest refuses any plan but the approved one. The plan file must \
            be root's, in folders only root can write, like the policy file.

            With --new FILE: makes FILE the policy in one change. It is validated, planned, \
            checked against locking out your SSH session and applied, and only then written \
            over the policy file, byte for byte; 'portctl rollback' restores the previous file \
            and table (or removes both when there was none). With --dry-run --json it prints \
            the plan for FILE and writes nothing (what configuration management needs).

            With --boot (the systemd unit's ExecStart): when the policy file cannot be applied \
            (it does not parse or validate, an address file is missing, the kernel refuses it), \
            the host is not left open: the last policy the state folder records as applied is \
            put in force, or, without one, the first-run policy (inbound drop, SSH allowed); \
            then apply still fails with the file's error and names what is in force instead, so \
            the unit fails. The policy file is left as it is.
            """
        )

        @Argument(help: ArgumentHelp("A plan saved by 'portctl plan -o'.", valueName: "planfile"))
        var planFile: String?
        @Option(name: .customLong("new"), help: ArgumentHelp("Make this file (root's, in folders only root can write; or - for standard input) the policy: apply it, then write it over the policy file, as one change.", valueName: "file"))
        var newPolicy: String?
        @Option(name: .customLong("expect-digest"), help: ArgumentHelp("With PLANFILE: apply it only if its digest is this one (the digest the reviewer approved, as 'portctl plan' printed it).", valueName: "sha256:hex"))
        var expectDigest: String?
        @Flag(name: .long, help: "At boot (the systemd unit): if the policy file cannot be applied, put the last applied policy (or the first-run policy: inbound drop, SSH allowed) in force instead, and still fail.")
        var boot = false
        @OptionGroup var change: ChangeFlags
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            if boot && (planFile != nil || newPolicy != nil || change.dryRun || change.confirm != nil) {
                throw ValidationError("--boot applies the policy file as it stands, with no one to review or confirm: not with a saved plan, --new, --dry-run or --confirm")
            }
            if planFile != nil && newPolicy != nil {
                throw ValidationError("give a saved plan or --new FILE, not both")
            }
            if let expectDigest {
                guard planFile != nil else { throw ValidationError("--expect-digest goes with a saved plan: portctl apply PLANFILE --expect-digest DIGEST") }
                let hex = expectDigest.dropFirst("sha256:".count)
                guard expectDigest.hasPrefix("sha256:"), hex.utf8.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                    throw ValidationError("invalid --expect-digest \(quoted(expectDigest)): give the plan's digest as 'portctl plan' prints it (sha256: and 64 lowercase hex digits)")
                }
            }
        }

        func run() throws {
            // A dry run of apply is a comparison with the kernel: without the privilege to read
            // it there is no answer, and "nothing to change" would be a guess.
            if change.dryRun { try requireNetAdmin("apply --dry-run (reading the kernel's table)") }
            try global.reporting {
                if boot {
                    try show(try global.control.applyPolicyFileAtBoot(), change: change, global: global)
                    return
                }
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
                let (document, plan, result) = try global.control.applySavedPlan(at: planFile, expectDigest: expectDigest, options: change.options)
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
                if plan.isEmpty && !result.policyChanged {
                    say("the plan has no changes; nothing sent")
                    return
                }
                let wrote = document.isProposal && result.policyChanged ? "; wrote \(global.paths.policyFile) from the proposal" : ""
                say("applied plan \(planFile) (\(document.digest)): \(plan.changes.count) change\(plan.changes.count == 1 ? "" : "s") to table inet \(document.table)\(wrote)")
                if let pending = result.confirmation { say(confirmationLine(pending)) }
            }
        }
    }
}
