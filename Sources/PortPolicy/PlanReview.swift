/// A plan as a review comment (`portctl plan --format markdown`): a summary line, the digest to
/// approve, a table of what changes with every source added and removed, the warnings, and the
/// exact nftables batch in a collapsed block. Pure text, for a merge request or a ticket.
public enum PlanReview {
    /// The markdown for `document` (its plan is `plan`). `diff` is the policy-to-policy
    /// difference when both policies are known (a proposal); otherwise the plan's changes are
    /// listed. `warnings` are one-line sentences; `planFile` is where the plan was saved, if it was.
    public static func markdown(_ document: PlanDocument, plan: Plan, diff: PolicyDiff?, warnings: [String],
                                planFile: String? = nil) -> String {
        var out: [String] = []
        let drift = plan.changes.filter(\.isDrift)
        let current = document.policyDigest == "none" ? "there is no policy yet"
            : "it replaces the policy whose digest is \(code(String(document.policyDigest.prefix(19)) + "…"))"
        let what = document.isProposal
            ? "making \(code(document.newPolicySource ?? "the proposal")) the policy (\(current))"
            : "applying the policy \(code(document.policyFile))"
        let count = diff.map(\.entries.count) ?? (plan.changes.count - drift.count)
        if plan.isEmpty && (diff?.isEmpty ?? true) {
            out.append("### portctl plan: no changes")
            out.append("")
            out.append(document.isProposal ? "The proposal \(code(document.newPolicySource ?? "")) is the policy in force, and the kernel's table `inet \(document.table)` matches it."
                       : "The kernel's table `inet \(document.table)` already matches the policy \(code(document.policyFile)).")
        } else {
            out.append("### portctl plan: \(Counted.text(count, "change")) to table `inet \(document.table)`")
            out.append("")
            let kernel = plan.changes.isEmpty ? "the kernel needs no change"
                : "\(Counted.text(plan.batch.operations.count, "nftables operation")) in one transaction"
            let replaced = plan.replacesTable ? " (the table is replaced whole: counters restart from zero)" : ""
            out.append("For \(what); \(kernel)\(replaced).")
        }
        out.append("")
        let file = planFile ?? "PLAN"
        out.append("**Plan digest:** `\(document.digest)` — apply exactly this with `portctl apply \(file) --expect-digest \(document.digest)`")
        out.append("")
        if let diff, !diff.isEmpty {
            out += table(diff)
            out.append("")
        } else if diff == nil, !plan.changes.isEmpty {
            out += tableHeader
            for change in plan.changes where !change.isDrift {
                out.append(row(change))
            }
            out.append("")
        }
        if !drift.isEmpty {
            out.append("**Drift** (changed outside portctl; applying removes it):")
            out.append("")
            for change in drift { if case let .drift(detail) = change { out.append("- " + cell(detail)) } }
            out.append("")
        }
        if !warnings.isEmpty {
            out.append("**Warnings:**")
            out.append("")
            for warning in warnings { out.append("- ⚠️ " + cell(warning)) }
            out.append("")
        }
        let lines = plan.script.split(separator: "\n", omittingEmptySubsequences: false).count - (plan.script.hasSuffix("\n") ? 1 : 0)
        out.append("<details><summary>nftables batch (\(Counted.text(lines, "line")))</summary>")
        out.append("")
        out.append("```")
        out.append(plan.script.isEmpty ? "# nothing to send" : String(plan.script.dropLast(plan.script.hasSuffix("\n") ? 1 : 0)))
        out.append("```")
        out.append("")
        out.append("</details>")
        return out.joined(separator: "\n") + "\n"
    }

    /// The difference between two policy files as a review table (`portctl diff --format markdown`).
    public static func diffTable(_ diff: PolicyDiff, old: String, new: String) -> String {
        var out = ["### portctl diff: \(Counted.text(diff.entries.count, "difference")) from \(code(old)) to \(code(new))", ""]
        if diff.isEmpty { return out.joined(separator: "\n") + "The two files are the same policy.\n" }
        out += table(diff)
        return out.joined(separator: "\n") + "\n"
    }

    /// The head of every change table: what changed, the rule, before, after, and the sources.
    static let tableHeader = ["| | Rule | Before | After | Sources added | Sources removed |", "|---|---|---|---|---|---|"]

    /// The rows of a policy difference, with a header.
    static func table(_ diff: PolicyDiff) -> [String] {
        var out = tableHeader
        for entry in diff.entries {
            let mark = switch entry.kind { case .added: "+"; case .removed: "−"; case .changed: "~" }
            let added = entry.addedSources + entry.addedDestinations.map { "to " + $0 }
            let removed = entry.removedSources + entry.removedDestinations.map { "to " + $0 }
            out.append("| \(mark) | \(code(entry.id)) | \(cell(entry.before ?? "—")) | \(cell(entry.after ?? "—")) | \(cell(added.joined(separator: ", "))) | \(cell(removed.joined(separator: ", "))) |")
        }
        return out
    }

    /// A row for a kernel-side change (a plan of the policy file as it stands).
    static func row(_ change: PlanChange) -> String {
        switch change {
        case .createTable:
            "| + | table | — | created | | |"
        case let .removeTable(name):
            "| − | \(code("inet " + name)) | table | removed | | |"
        case let .addRule(id, summary):
            "| + | \(code(id)) | — | \(cell(summary)) | | |"
        case let .removeRule(id, summary):
            "| − | \(code(id)) | \(cell(summary)) | — | | |"
        case let .changeRule(id, before, after):
            "| ~ | \(code(id)) | \(cell(before)) | \(cell(after)) | | |"
        case let .changeSources(id, added, removed):
            "| ~ | \(code(id)) | | | \(cell(added.map(\.description).joined(separator: ", "))) | \(cell(removed.map(\.description).joined(separator: ", "))) |"
        case let .changeDefault(direction, from, to):
            "| ~ | \(code(direction == .in ? "default inbound" : "default outbound")) | \(cell(from)) | \(cell(to)) | | |"
        case let .changePublished(from, to):
            "| ~ | `default published` | \(cell(from)) | \(cell(to)) | | |"
        case let .changeRouted(from, to):
            "| ~ | `default routed` | \(cell(from)) | \(cell(to)) | | |"
        case let .changeDropRecording(from, to):
            "| ~ | `drop record` | \(cell(from)) | \(cell(to)) | | |"
        case let .drift(detail):
            "| ! | drift | \(cell(detail)) | | | |"
        }
    }

    /// Text safe inside a table cell: no line breaks, `|` escaped, markup characters escaped.
    static func cell(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\n", "\r": out += " "
            case "|", "\\", "`", "*", "_", "<", ">", "[", "]": out += "\\" + String(character)
            default: out.append(character)
            }
        }
        return out
    }

    /// Inline code, with backticks in the text kept out.
    static func code(_ text: String) -> String {
        "`" + text.replacingOccurrences(of: "`", with: "'").replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "|", with: "\\|") + "`"
    }
}
