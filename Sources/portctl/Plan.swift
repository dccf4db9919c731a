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
            it is refused if the policy file or the table changed in between.
            """
        )

        @Flag(name: .long, help: "Print the plan as JSON (same as --format json).")
        var json = false
        @Option(name: .long, help: "text (default), json, or nft (the exact batch apply sends).")
        var format: PlanFormat = .text
        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Also save the plan (JSON) to this file, for 'portctl apply FILE' (- for standard output; a device, FIFO, socket or folder is refused).", valueName: "file"))
        var output: String?
        @Option(name: .long, help: ArgumentHelp("Plan against a saved listing ('nft -j list table inet portctl') instead of the kernel; needs no root.", valueName: "file"))
        var live: String?
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                // Against a saved listing, nothing of the machine's is read but the policy file.
                let policy: PortPolicy, bytes: Data, plan: ChangePlan, liveDigest: String
                if let live {
                    (policy, bytes) = try global.loadExistingWithBytes()
                    guard let data = FileManager.default.contents(atPath: live) else {
                        throw Failure(message: "cannot read listing \(live)", code: .failure)
                    }
                    let liveTable = try LiveTable.read(json: String(decoding: data, as: UTF8.self), table: policy.table)
                    plan = Planner.plan(policy, live: liveTable)
                    liveDigest = PlanDocument.digest(liveTable)
                } else {
                    try requireNetAdmin("reading the kernel's table (use --live FILE to plan against a saved listing)")
                    (policy, bytes, plan, liveDigest) = try global.control.plan()
                }
                let document = PlanDocument(plan: plan, policy: policy, policyFile: global.paths.policyFile,
                                            policyBytes: bytes, liveDigest: liveDigest)
                // `-o -`: the saved plan is what standard output carries; the view goes to stderr.
                let toStandardOutput = output == "-"
                if let output, !toStandardOutput { try TrustedFiles.write(document.encoded(), to: output, what: "plan file") }
                let view = switch json ? .json : format {
                case .text: PlanOutput.text(plan, policy: policy)
                case .json: document.encoded()
                case .nft: plan.script
                }
                if toStandardOutput {
                    print(document.encoded(), terminator: "")
                    if format != .json && !json { FileHandle.standardError.write(Data(view.utf8)) }
                } else {
                    print(view, terminator: "")
                }
                if let output, !toStandardOutput, format == .text, !json { say("plan saved to \(output)") }
                if live == nil { warn(global.control.publishedWarnings(policy)) }
                if !plan.isEmpty { throw Failure(message: "", code: .changesPending) }
            }
        }
    }
}

/// The library's plan type (inside `Portctl`, `Plan` names the command).
typealias ChangePlan = Plan

/// How `plan` prints.
enum PlanFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, nft
}
