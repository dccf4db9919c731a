import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

/// The `portctl` command: opens and closes ports through nftables.
@main
struct Portctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portctl",
        abstract: "Decide which ports this host accepts, and from whom, through nftables.",
        discussion: """
        portctl keeps one policy file (default /etc/portctl/policy.yaml) and one nftables table \
        (inet portctl). Commands that change the policy write the file and apply it to the kernel \
        in one atomic batch. portctl's drop is final, but its accept cannot override a drop in \
        another nftables table on the same hook.

        Exit codes: 0 success; 1 runtime failure; 2 changes pending (plan, --dry-run); \
        3 audit found a high-severity exposure; \
        64 usage error; 65 invalid policy data; 77 needs root or CAP_NET_ADMIN.

        portctl --version --verbose also names the libnftables in use (its release needs root or \
        CAP_NET_ADMIN to read).
        """,
        version: "0.1.0",
        subcommands: [Open.self, Close.self, Deny.self, Reject.self, Remove.self, List.self, Status.self,
                      Audit.self, Probe.self, Explain.self, Render.self, Plan.self, Apply.self, Check.self, Confirm.self, Rollback.self, History.self,
                      Diff.self, Disable.self, Default.self, Forward.self, Route.self, Metrics.self, Drops.self, Trace.self, Watch.self, BanCommand.self, Unban.self, Bans.self, Import.self, Watchdog.self]
    )

    static func main() {
        // CArguments gives the runtime the arguments without /proc; were they lost anyway, parsing
        // none would print the whole help (or worse, act on no arguments).
        if CommandLine.arguments.isEmpty {
            FileHandle.standardError.write(Data("portctl: the command line could not be read (the Swift runtime found no arguments); mount /proc and run it again\n".utf8))
            Foundation.exit(ExitStatus.failure.rawValue)
        }
        if asksForVerboseVersion(Array(CommandLine.arguments.dropFirst())) {
            printVerboseVersion()
            return
        }
        // A negative number would otherwise be taken for an unknown option; a comment (free text)
        // may start with one: `--comment "-5 relays"`.
        let arguments = Array(CommandLine.arguments.dropFirst())
        let negative = arguments.indices.first { index in
            let argument = arguments[index]
            return argument.count > 1 && argument.hasPrefix("-") && argument.dropFirst().first!.isNumber
                && (index == 0 || arguments[index - 1] != "--comment")
        }
        if let negative {
            // After an option that counts something, name that option and what it takes.
            let counts = ["--warn-drops": "a number of packets, 0 or more", "--crit-drops": "a number of packets, 0 or more",
                          "--top": "a number of connections, 1 or more"]
            let option = negative > 0 ? arguments[negative - 1] : ""
            let message = counts[option].map { "invalid \(option) \"\(arguments[negative])\": use \($0)" }
                ?? "invalid value \"\(arguments[negative])\": ports run from 1 to 65535, and no option takes a negative number"
            FileHandle.standardError.write(Data("portctl: \(message)\n".utf8))
            Foundation.exit(ExitStatus.usage.rawValue)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let failure as Failure {
            if !failure.message.isEmpty {
                FileHandle.standardError.write(Data("portctl: \(failure.message)\n".utf8))
            }
            Foundation.exit(failure.code.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success || error is CleanExit {
                exit(withError: error)
            }
            // One line: the message without the usage block.
            let message = self.message(for: error).split(whereSeparator: \.isNewline).first.map(String.init) ?? "usage error"
            FileHandle.standardError.write(Data("portctl: \(message.replacingOccurrences(of: "Error: ", with: ""))\n".utf8))
            Foundation.exit(code.rawValue == 1 ? ExitStatus.usage.rawValue : code.rawValue)
        }
    }
}
