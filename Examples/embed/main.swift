// portctl-embed-example: a mail relay provisioner that embeds portctl's library.
//
//   portctl-embed-example --relays 198.51.100.0/24[,2001:db8::/32] [--relays ...] [--confirm SECONDS] [--dry-run]
//
// Makes sure port 26 (alternate SMTP) is open to exactly the given relay networks: it edits the
// policy file (PORTCTL_POLICY) and the kernel in one change through PortctlDriver's pipeline,
// with the lockout guard, the history (attributed to this tool, so `portctl history` shows it
// and `portctl rollback` undoes it) and, with --confirm, a deadline after which the change rolls
// back unless `portctl confirm` runs. No subprocess runs portctl.
import Foundation
import PortPolicy
import PortctlDriver

let ruleID = "mail-relays"

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("portctl-embed-example: \(message)\n".utf8))
    exit(code)
}

var arguments = Array(CommandLine.arguments.dropFirst())
// The confirmation watchdog this tool starts for --confirm runs this same program with
// --portctl-watchdog TOKEN: the library runs it, and the program then ends.
do {
    if try ChangeControl.runWatchdogIfAsked(flag: "--portctl-watchdog") { exit(0) }
} catch {
    fail("\(error)", code: 1)
}

var relays: [IPNetwork] = []
var options = ChangeOptions()
while !arguments.isEmpty {
    let flag = arguments.removeFirst()
    switch flag {
    case "--relays":
        guard !arguments.isEmpty else { fail("--relays needs a value: addresses or CIDRs, comma-separated", code: 64) }
        do {
            relays += try IPNetwork.parseCommaList(arguments.removeFirst())
        } catch {
            fail("\(error)", code: 64)
        }
    case "--confirm":
        guard let seconds = arguments.first.flatMap(Int.init), (1...86400).contains(seconds) else {
            fail("invalid --confirm \"\(arguments.first ?? "")\": give seconds from 1 to 86400", code: 64)
        }
        arguments.removeFirst()
        options.confirmSeconds = seconds
    case "--dry-run":
        options.dryRun = true
    default:
        fail("unknown argument \"\(flag)\": use --relays ADDRS [--confirm SECONDS] [--dry-run]", code: 64)
    }
}
guard !relays.isEmpty else { fail("give the relay networks with --relays (port 26 is never opened to everyone)", code: 64) }

let control = ChangeControl(
    author: ChangeAuthor.current(environment: ProcessInfo.processInfo.environment,
                         arguments: ["portctl-embed-example"] + CommandLine.arguments.dropFirst()),
    watchdogCommand: ChangeControl.watchdog(runningThisProgramWith: "--portctl-watchdog"))
do {
    let result = try control.change("mail-relays", options: options) { policy in
        let wanted = IPNetwork.merged(relays)
        if let index = policy.rules.firstIndex(where: { $0.id == ruleID }) {
            if IPNetwork.merged(policy.rules[index].sources) == wanted && policy.rules[index].action == .allow {
                return [.unchanged("port 26 is open to exactly the relays")]
            }
            policy.rules[index].sources = wanted
            policy.rules[index].action = .allow
            return [.updated(policy.rules[index])]
        }
        return [try policy.open(PortRequest(spec: PortSpec(ports: [try PortRange(26)], proto: .tcp), sources: wanted,
                                            comment: "mail relays (portctl-embed-example)", id: ruleID))]
    }
    for change in result.policyChanges { print(change) }
    if let plan = result.plan {
        for change in plan.changes { print(options.dryRun ? "would: \(change)" : "kernel: \(change)") }
    }
    if let entry = result.entry { print("recorded as change #\(entry.sequence); 'portctl rollback' undoes it") }
    if let pending = result.confirmation {
        print("confirm with 'portctl confirm' within \(options.confirmSeconds ?? 0)s, or change #\(pending.sequence) rolls back")
    }
    if !result.isPending { print("port 26 already open to exactly \(relays.map(\.description).joined(separator: ", ")); nothing changed") }
} catch let error as ChangeError {
    fail("refused: \(error)", code: 1)
} catch {
    fail("\(error)", code: 1)
}
