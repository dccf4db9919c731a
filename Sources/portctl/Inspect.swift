import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl list`: the policy's rules.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the policy's defaults and rules.")

        @Flag(name: .long, help: "Print the policy as JSON (the policy file's shape).")
        var json = false
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let policy = try global.reporting { try global.loadExisting() }
            if json {
                print(jsonText(policy))
                return
            }
            say("policy \(global.paths.policyFile) -> table inet \(policy.table)")
            say("defaults: inbound \(policy.inbound.rawValue), outbound \(policy.outbound.rawValue)")
            if policy.rules.isEmpty {
                say("no rules")
                return
            }
            let rows = policy.rules.map { rule -> [String] in
                var sources = rule.sources.prefix(3).map(\.description).joined(separator: ", ")
                if rule.sources.isEmpty { sources = "any" }
                if rule.sources.count > 3 { sources += " (+\(rule.sources.count - 3) more)" }
                return [rule.id, rule.action.rawValue, rule.direction.rawValue, rule.portsDescription,
                        sources, rule.interface ?? "", rule.comment ?? ""]
            }
            let header = ["ID", "ACTION", "DIR", "PORTS", "ADDRESSES", "IFACE", "COMMENT"]
            let widths = header.indices.map { column in
                ([header] + rows).map { $0[column].count }.max() ?? 0
            }
            for row in [header] + rows {
                let cells = row.enumerated().map { index, cell in
                    index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                }
                say(cells.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
            }
        }
    }

    /// `portctl render`: the nftables ruleset for the policy.
    struct Render: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the nftables table the policy renders to. Needs no root; touches no kernel.")

        @OptionGroup var global: GlobalOptions

        func run() throws {
            let policy = try global.reporting { try global.loadExisting() }
            print(Renderer.table(policy), terminator: "")
        }
    }

    /// `portctl apply`: make the kernel match the policy file.
    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply the policy file as it stands, in one atomic batch.")

        @OptionGroup var change: ChangeOptions
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                try global.store.withLock {
                    let policy = try global.loadExisting()
                    if change.dryRun {
                        say("dry run: nothing written. The policy would be applied as this nftables batch:")
                        print(Renderer.replaceBatch(policy), terminator: "")
                        throw Failure(message: "dry run: changes pending", code: .changesPending)
                    }
                    try requireNetAdmin("applying the policy")
                    try Firewall().apply(policy)
                    say("applied: table inet \(policy.table) now holds \(policy.rules.count) rule\(policy.rules.count == 1 ? "" : "s") (inbound default \(policy.inbound.rawValue))")
                }
            }
        }
    }

    /// `portctl disable`: remove portctl's table.
    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove portctl's nftables table; the policy file stays, and 'portctl apply' restores it.")

        @OptionGroup var change: ChangeOptions
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                try global.store.withLock {
                    let table = try global.store.load()?.table ?? PortPolicy.defaultTable
                    if change.dryRun {
                        say("dry run: nothing written. This batch would remove table inet \(table):")
                        print(Renderer.deleteBatch(table: table), terminator: "")
                        throw Failure(message: "dry run: changes pending", code: .changesPending)
                    }
                    try requireNetAdmin("removing portctl's table")
                    try Firewall().remove(table: table)
                    say("disabled: table inet \(table) removed; the policy file is unchanged")
                }
            }
        }
    }
}
