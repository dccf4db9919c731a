import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl diff`: the difference between two policy files, with no kernel and no root.
    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff",
            abstract: "Show what differs between two policy files, rule by rule; no kernel, no root.",
            discussion: """
            Compares OLD with NEW as policies (not as text): rules, forwards and routes by id, \
            with every source added and removed, ports, interfaces, limits and defaults. Address \
            files are read as they are now. Exit 0 when they are the same policy, 2 when not.
            """
        )

        @Argument(help: ArgumentHelp("The policy as it is (or - for standard input).", valueName: "old"))
        var old: String
        @Argument(help: ArgumentHelp("The policy as proposed.", valueName: "new"))
        var new: String
        @Option(name: .long, help: "text (default), json, or markdown (a table for a review).")
        var format: DiffFormat = .text

        func validate() throws {
            if old == "-" && new == "-" { throw ValidationError("only one of OLD and NEW can be standard input (-)") }
        }

        func run() throws {
            do {
                let before = try decode(old)
                let after = try decode(new)
                let diff = PolicyDiff.between(before, after)
                switch format {
                case .json:
                    print(jsonText(diff))
                case .markdown:
                    print(PlanReview.diffTable(diff, old: old, new: new), terminator: "")
                case .text:
                    if diff.isEmpty { say("\(old) and \(new) are the same policy") }
                    for entry in diff.entries { say(Self.line(entry)) }
                }
                if !diff.isEmpty { throw Failure(message: "", code: .changesPending) }
            } catch {
                throw Failure.from(error, verbose: false)
            }
        }

        func decode(_ path: String) throws -> PortPolicy {
            let text = try readPolicyText(path)
            do throws(PolicyError) {
                return try PolicyStore.decode(text)
            } catch {
                throw PolicyFileError(path: path, error: error)
            }
        }

        /// `+ id: after`, `- id: before`, `~ id: before -> after (+a -b)`.
        static func line(_ entry: PolicyDiff.Entry) -> String {
            let sources = (entry.addedSources.map { "+" + $0 } + entry.removedSources.map { "-" + $0 }
                + entry.addedDestinations.map { "+to " + $0 } + entry.removedDestinations.map { "-to " + $0 })
            let detail = entry.kind == .changed && !sources.isEmpty ? " (sources " + sources.joined(separator: " ") + ")" : ""
            return switch entry.kind {
            case .added: PlanOutput.paint("+ \(entry.id): \(entry.after ?? "")", "32")
            case .removed: PlanOutput.paint("- \(entry.id): \(entry.before ?? "")", "31")
            case .changed: PlanOutput.paint("~ \(entry.id): \(entry.before ?? "") -> \(entry.after ?? "")\(detail)", "33")
            }
        }
    }
}

/// How `diff` prints.
enum DiffFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, markdown
}
