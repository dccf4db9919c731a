import Foundation
import PortPolicy

/// How plans are shown to people: `+`/`-`/`~` lines, `!` for drift; colour only on a terminal
/// and never when `NO_COLOR` is set.
enum PlanOutput {
    static var useColour: Bool {
        let environment = ProcessInfo.processInfo.environment
        return isatty(STDOUT_FILENO) == 1 && environment["NO_COLOR"] == nil && environment["TERM"] != "dumb"
    }

    static func paint(_ text: String, _ code: String) -> String {
        useColour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    /// One line per change (``PlanChange/line(table:policy:)``), coloured by kind on a terminal.
    static func lines(_ plan: Plan, policy: PortPolicy? = nil) -> [String] {
        plan.changes.map { change in
            let colour = switch change {
            case .createTable, .addRule: "32"
            case .removeTable, .removeRule: "31"
            case .drift: "35"
            default: "33"
            }
            return paint(change.line(table: plan.table, policy: policy), colour)
        }
    }

    /// The human report of a plan, with a closing line.
    static func text(_ plan: Plan, policy: PortPolicy? = nil) -> String {
        if plan.isEmpty { return "table inet \(plan.table) matches the policy: nothing to change\n" }
        var out = lines(plan, policy: policy).joined(separator: "\n") + "\n"
        let drift = plan.changes.filter(\.isDrift).count
        let changes = plan.changes.count - drift
        out += "\(changes) change\(changes == 1 ? "" : "s")"
        if drift > 0 { out += ", \(drift) made outside portctl" }
        if plan.replacesTable { out += "; apply replaces the whole table (counters restart from zero)" }
        return out + "\n"
    }
}
