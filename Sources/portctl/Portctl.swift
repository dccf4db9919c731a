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
        let arguments = Array(CommandLine.arguments.dropFirst())
        var command: any ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            let code = exitCode(for: error)
            if code == .success || error is CleanExit {
                exit(withError: error)
            }
            // One line: a value's own parser names it and what is allowed; else the parser's
            // message, without the usage block.
            let parserMessage = (self.message(for: error).split(whereSeparator: \.isNewline).first.map(String.init) ?? "usage error")
                .replacingOccurrences(of: "Error: ", with: "")
            let message = valueError(in: error)?.description
                ?? negativeNumberMessage(arguments, parserMessage: parserMessage) ?? parserMessage
            FileHandle.standardError.write(Data("portctl: \(message)\n".utf8))
            Foundation.exit(code.rawValue == 1 ? ExitStatus.usage.rawValue : code.rawValue)
        }
        do {
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
