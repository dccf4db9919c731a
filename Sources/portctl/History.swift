import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl history`: the change-control trail.
    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "history",
            abstract: "List applied changes: when, by whom, from where, and what changed (the last \(StateStore.historyLimit) are kept).")

        @Argument(help: "Show one entry in full: its changes and the nftables batch.")
        var sequence: Int?
        @Flag(name: .long, help: "Print the entries as JSON.")
        var json = false
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                let control = global.control
                let entries = try control.history()
                if let sequence {
                    guard let entry = entries.first(where: { $0.sequence == sequence }) else {
                        throw Failure(message: "no history entry #\(sequence) (kept: \(entries.first.map { "#\($0.sequence)" } ?? "none")...\(entries.last.map { "#\($0.sequence)" } ?? ""))", code: .usage)
                    }
                    if json { print(jsonText(entry)); return }
                    say("#\(entry.sequence) \(entry.time) \(entry.command) by \(entry.user)\(entry.sshClient.map { " from \($0)" } ?? "")\(entry.confirmation.map { " [\($0)]" } ?? "")")
                    say("command: portctl \(entry.arguments.joined(separator: " "))")
                    say("did: \(entry.summary)")
                    if let plan = entry.plan { say("plan: \(plan)") }
                    for change in entry.changes { say("  \(change.kind) \([change.rule, change.summary, change.before, change.after, change.detail].compactMap { $0 }.joined(separator: " "))") }
                    say("batch:")
                    print(try control.historyText(entry.script) ?? "(not kept)\n", terminator: "")
                    return
                }
                if json { print(jsonText(entries)); return }
                if entries.isEmpty { say("no changes recorded in \(global.paths.stateDirectory)"); return }
                for entry in entries {
                    let who = entry.user + (entry.sshClient.map { " from \($0)" } ?? "")
                    let status = entry.confirmation.map { " [\($0)]" } ?? ""
                    say("#\(entry.sequence)  \(entry.time)  \(who)  \(entry.summary)\(status)")
                }
            }
        }
    }
}
