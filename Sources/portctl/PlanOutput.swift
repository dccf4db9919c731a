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

    /// One line per change.
    /// One line per change; with the policy, source changes of rules that read address files
    /// name the files.
    static func lines(_ plan: Plan, policy: PortPolicy? = nil) -> [String] {
        plan.changes.map { change in
            switch change {
            case .createTable:
                paint("+ table inet \(plan.table) (missing: it will be created)", "32")
            case let .removeTable(name) where name == plan.table:
                paint("- table inet \(name): removed (nothing filters through portctl until 'portctl apply')", "31")
            case let .removeTable(name):
                paint("- table inet \(name): removed (portctl's table under the policy's previous name)", "31")
            case let .addRule(id, summary):
                paint("+ \(id): \(summary)", "32")
            case let .removeRule(id, summary):
                paint("- \(id): \(summary)", "31")
            case let .changeRule(id, before, after):
                paint("~ \(id): \(before) -> \(after)", "33")
            case let .changeSources(id, added, removed):
                paint("~ \(id): sources " + (added.map { "+\($0)" } + removed.map { "-\($0)" }).joined(separator: " ")
                    + (policy?.rule(id: id).map { rule in rule.readsFiles ? " (rule reads " + rule.sourceFiles.map { "@" + $0.path }.joined(separator: ", ") + ")" : "" } ?? ""), "33")
            case let .changeDefault(direction, from, to):
                paint("~ default \(direction == .in ? "inbound" : "outbound"): \(from) -> \(to)", "33")
            case let .changeRouted(from, to):
                paint("~ default routed: \(from) -> \(to)", "33")
            case let .changeDropRecording(from, to):
                paint("~ drop record: \(from) -> \(to) (\(to == "off" ? "refused connections are no longer recorded" : "portctl drops shows refused connections for \(to) after their last packet"))", "33")
            case let .changePublished(from, to):
                paint("~ default published: \(from) -> \(to) (\(to == "filter" ? "the inbound rules now govern published ports too" : "published ports are left to whoever published them"))", "33")
            case let .drift(detail):
                paint("! drift: \(detail)", "35")
            }
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
