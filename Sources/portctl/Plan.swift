import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl plan`: what apply would change, without changing anything.
    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "plan",
            abstract: "Show what 'portctl apply' would change in the kernel; change nothing.",
            discussion: """
            Compares the policy file with portctl's live table and lists the differences: rules \
            added, removed or changed, sources added or removed, defaults, a missing table, and \
            anything in the table that the policy does not explain (drift). Exit 0 when the \
            kernel matches the policy, 2 when there are changes.

            Save a plan with -o FILE and apply exactly that later with 'portctl apply FILE': \
            it is refused if the policy file or the table changed in between. With --new FILE, \
            the plan is of making FILE the policy: production's policy file and kernel stay \
            untouched during the review, and 'portctl apply' of the saved plan writes exactly \
            the reviewed text. The plan's digest (printed last) is what a reviewer approves: \
            'portctl apply FILE --expect-digest DIGEST' applies nothing else.
            """
        )

        @Flag(name: .long, help: "Print the plan as JSON (same as --format json).")
        var json = false
        @Option(name: .long, help: "text (default), json, nft (the exact batch apply sends), or markdown (a review comment).")
        var format: PlanFormat = .text
        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Also save the plan (JSON) to this file, for 'portctl apply FILE' (- for standard output; a device, FIFO, socket or folder is refused).", valueName: "file"))
        var output: String?
        @Option(name: .long, help: ArgumentHelp("Plan against a saved listing ('nft -j list table inet portctl', or 'portctl status --save-listing') instead of the kernel; needs no root.", valueName: "file"))
        var live: String?
        @Option(name: .customLong("new"), help: ArgumentHelp("Plan making this proposed policy file the policy (what 'apply --new FILE' would do); the policy file and the kernel stay as they are. Save it with -o and 'portctl apply' applies exactly it.", valueName: "file"))
        var newPolicy: String?
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                // Read once: `-` is standard input.
                let proposalText = try newPolicy.map(readProposal)
                let liveSource = try live.map { path -> LiveSource in
                    guard let data = FileManager.default.contents(atPath: path) else {
                        throw Failure(message: "cannot read listing \(path)", code: .failure)
                    }
                    // The table the listing is read for: the proposal's, else the policy file's.
                    let table = try proposalText.map { ChangeControl.tableName($0) ?? PortPolicy.defaultTable }
                        ?? global.loadExisting().table
                    return .listing(try LiveTable.read(json: String(decoding: data, as: UTF8.self), table: table))
                }
                let document: PlanDocument, plan: ChangePlan, policy: PortPolicy
                var diff: PolicyDiff?
                var warnings: [ChangeWarning] = []
                if let newPolicy, let proposalText {
                    let proposed = try global.control.planProposal(proposalText, source: newPolicy, against: liveSource ?? .kernel)
                    (document, plan, policy, warnings) = (proposed.document, proposed.plan, proposed.proposal, proposed.warnings)
                    diff = proposed.diff
                } else {
                    let bytes: Data, liveDigest: String
                    if case let .listing(liveTable) = liveSource {
                        // Against a saved listing, nothing of the machine's is read but the policy file.
                        let loaded = try global.loadExistingWithBytes()
                        (policy, bytes) = (loaded.policy, loaded.bytes)
                        plan = Planner.plan(policy, live: liveTable)
                        liveDigest = PlanDocument.digest(liveTable)
                    } else {
                        try requireNetAdmin("reading the kernel's table (use --live FILE to plan against a saved listing)")
                        let planned = try global.control.plan()
                        (policy, bytes, plan, liveDigest) = (planned.policy, planned.bytes, planned.plan, planned.liveDigest)
                        warnings = global.control.publishedWarnings(policy)
                    }
                    document = PlanDocument(plan: plan, policy: policy, policyFile: global.paths.policyFile,
                                            policyBytes: bytes, liveDigest: liveDigest)
                }
                // `-o -`: the saved plan is what standard output carries; the view goes to stderr.
                let toStandardOutput = output == "-"
                if let output, !toStandardOutput { try TrustedFiles.write(document.encoded(), to: output, what: "plan file") }
                let chosen = json ? .json : format
                let view = switch chosen {
                case .text: PlanOutput.text(plan, policy: policy) + "plan digest: \(document.digest)\n"
                case .json: document.encoded()
                case .nft: plan.script
                case .markdown: PlanReview.markdown(document, plan: plan, diff: diff, warnings: warnings.map(\.description),
                                                    planFile: toStandardOutput ? nil : output)
                }
                if toStandardOutput {
                    print(document.encoded(), terminator: "")
                    if chosen != .json { FileHandle.standardError.write(Data(view.utf8)) }
                } else {
                    print(view, terminator: "")
                }
                if let output, !toStandardOutput, chosen == .text { say("plan saved to \(output)") }
                if chosen != .markdown { warn(warnings) }
                if !plan.isEmpty || diff.map({ !$0.isEmpty }) == true { throw Failure(message: "", code: .changesPending) }
            }
        }

        func readProposal(_ path: String) throws -> String { try readPolicyText(path) }
    }
}

/// A policy file named on the command line for review (`plan --new`, `diff`): as root, only a
/// file root could trust as its policy file (as 'apply --new' reads it: no one else's link to a
/// secret); as anyone else, any file they can read. `-` is standard input.
func readPolicyText(_ path: String) throws -> String {
    if geteuid() == 0 || path == "-" { return try ChangeControl.readCandidatePolicy(path) }
    let data = try TrustedFiles.readInput(path, limit: PolicyStore.maximumFileSize)
    guard let text = String(data: data, encoding: .utf8) else {
        throw PolicyFileError(path: path, error: .invalidDocument("the file is not UTF-8 text (is it a binary file?)"))
    }
    return text
}

/// The library's plan type (inside `Portctl`, `Plan` names the command).
typealias ChangePlan = Plan

/// How `plan` prints.
enum PlanFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, nft, markdown
}
