import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl import`: a policy file from another firewall's configuration.
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Write a portctl policy from another firewall's configuration (ufw).",
            subcommands: [Ufw.self]
        )
    }
}

extension Portctl.Import {
    /// `portctl import ufw`: ufw's rules and defaults as the policy file. A file operation: the
    /// kernel is left to `portctl apply`.
    struct Ufw: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ufw",
            abstract: "Write the portctl policy that does what ufw's rules and defaults do. Only the file: 'portctl apply' applies it.",
            discussion: """
            Reads ufw's user.rules and user6.rules (what 'ufw allow', 'deny', 'reject', 'limit' \
            and 'route' wrote), ufw.conf, the application profiles in applications.d and the \
            settings file (/etc/default/ufw; with --rules DIR, DIR/../default/ufw), and writes the \
            policy file. It changes neither ufw nor the kernel: review with 'portctl plan', then run \
            'portctl apply' (ufw still running: a packet must pass both, and they agree) and \
            'ufw disable'.

            ufw takes the first rule that matches; in portctl deny and reject rules win. The \
            import keeps ufw's outcome: a deny that comes after an allow for some of the same \
            traffic leaves that traffic out, as ufw did, and says so. ufw's limit (a source's sixth \
            new connection within 30 s is refused) becomes a per-source --limit rate, 10/minute \
            unless told otherwise. What portctl cannot say (source ports, a destination address \
            on an inbound rule, protocols other than TCP and UDP, edited before.rules, ...) is \
            listed one line per ufw rule or setting, and then nothing is written unless --partial.

            An existing policy file is replaced only with --replace (the old one is kept as \
            FILE.before-import). Writing the file is a recorded change, like every other: \
            'portctl history' lists it, 'portctl rollback' puts the previous file back (or \
            removes the file when there was none), and with --confirm TIME that happens by \
            itself unless 'portctl confirm' runs in time. See docs/ufw-migration.md.

            Exit codes: 0 written, or the file already holds it; 1 something could not be \
            translated (without --partial), a policy file exists (without --replace), a change \
            awaits confirmation, or a file was refused; 2 --dry-run would write; 64 a bad \
            --rules, --defaults, --limit or --confirm; 77 writing without root or \
            CAP_NET_ADMIN (a dry run needs neither).

            Examples:
              portctl import ufw --dry-run
              portctl import ufw
              portctl import ufw --rules /srv/host1/etc/ufw --partial --policy /srv/host1/policy.yaml
            """
        )

        @Option(name: .long, help: ArgumentHelp("ufw's folder: user.rules, user6.rules, ufw.conf, applications.d.", valueName: "dir"))
        var rules: String = UfwFolder.defaultFolder
        @Option(name: .long, help: ArgumentHelp("ufw's settings file (DEFAULT_INPUT_POLICY, ...); default /etc/default/ufw, or DIR/../default/ufw with --rules DIR.", valueName: "file"))
        var defaults: String?
        @Option(name: .long, help: ArgumentHelp("The per-source rate ufw's limit rules become: COUNT/UNIT, like 10/minute (the default) or 6/minute.", valueName: "rate"))
        var limit: String?
        @Flag(name: .long, help: "Print the policy it would write (YAML on standard output; findings on standard error) and write nothing. Exits 2 when it would write, 0 when the file already holds it.")
        var dryRun = false
        @Flag(name: .long, help: "Write the policy even though some ufw rules or settings could not be translated (they are listed).")
        var partial = false
        @Flag(name: .long, help: "Replace an existing policy file; the old one is kept as FILE.before-import.")
        var replace = false
        @Flag(name: .long, help: "Print the outcome as JSON: the policy, the findings, the file and whether it was written.")
        var json = false
        @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Put the previous policy file back automatically unless 'portctl confirm' runs within this time: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.", valueName: "time"), transform: ConfirmTime.parse)
        var confirm: ConfirmTime?
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            if confirm != nil && dryRun {
                throw ValidationError("--confirm and --dry-run do not go together: a dry run applies nothing to confirm")
            }
            if let limit {
                do {
                    _ = try RateLimit(parsing: limit)
                } catch {
                    throw ValidationError(error.description)
                }
            }
        }

        func run() throws {
            let options = UfwImport.Options(limit: try limit.map { try RateLimit(parsing: $0) } ?? UfwImport.defaultLimit,
                                            services: SystemServices.load())
            let configuration: UfwImport.Configuration
            do {
                configuration = try UfwFolder.read(folder: rules, settings: defaults)
            } catch let error as UfwFolder.NotFound {
                throw Failure(message: error.description, code: .usage)
            } catch {
                throw Failure.from(error, verbose: global.verbose)
            }
            let result = UfwImport.translate(configuration, options: options)
            // A file that is not ufw's would read as "no rules": a deny-all policy, made silently.
            if !partial, let foreign = result.untranslated.first(where: { ["user.rules", "user6.rules"].contains($0.subject) }) {
                let base = rules.hasSuffix("/") && rules.count > 1 ? String(rules.dropLast()) : rules
                throw Failure(message: "\(base)/\(foreign.subject) \(foreign.message); nothing written (is --rules the folder ufw keeps its rules in? --partial imports the rest anyway)", code: .invalidData)
            }
            let path = global.paths.policyFile
            let incomplete = !result.untranslated.isEmpty && !partial
            let control = global.control
            if dryRun {
                let outcome = try global.reporting {
                    try control.importPolicy(result.policy, command: "import ufw", replace: replace, options: ChangeOptions(dryRun: true))
                }
                if json {
                    say(jsonText(Report(result, policy: outcome.policy, file: path, written: false)))
                } else {
                    print(outcome.text, terminator: "")
                    report(result.findings)
                }
                if incomplete { throw incompleteFailure(result) }
                if outcome.previousBytes != nil && outcome.policyChanged && !replace {
                    warn("\(path) holds a policy already: without --replace the import will refuse to replace it")
                }
                if !outcome.policyChanged {
                    if !json { note("unchanged: \(path) already holds this policy") }
                    return
                }
                if !json { note("would write \(path): \(summary(result))") }
                throw Failure(message: "", code: .changesPending)
            }
            if incomplete {
                if json {
                    say(jsonText(Report(result, policy: result.policy, file: path, written: false)))
                } else {
                    report(result.findings)
                }
                throw incompleteFailure(result)
            }
            let outcome = try global.reporting {
                try control.importPolicy(result.policy, command: "import ufw", replace: replace,
                                         options: ChangeOptions(confirmSeconds: confirm?.seconds))
            }
            if json {
                say(jsonText(Report(result, policy: outcome.policy, file: path, written: outcome.written)))
            } else {
                warn(outcome.warnings)
                report(result.findings)
                if outcome.written {
                    say("imported \(summary(result)) into \(path)")
                    say("nothing is applied yet: review with 'portctl plan', then run 'portctl apply' and 'ufw disable' (docs/ufw-migration.md)")
                    if let pending = outcome.confirmation { say(confirmationLine(pending)) }
                } else {
                    say("unchanged: \(path) already holds the policy imported from ufw")
                }
            }
            if outcome.written { warnAboutSSH(outcome.policy) }
        }

        /// The refusal when something could not be translated and `--partial` is not given.
        func incompleteFailure(_ result: UfwImport.Result) -> Failure {
            let count = result.untranslated.count
            return Failure(message: "\(count) ufw \(count == 1 ? "rule or setting" : "rules or settings") could not be translated (listed as untranslated): \(dryRun ? "the import would write" : "wrote") nothing; add --partial to write the rest", code: .failure)
        }

        /// `17 ufw rules as 14 portctl rules (inbound drop, outbound accept, routed drop)`.
        func summary(_ result: UfwImport.Result) -> String {
            let ufwRules = Set(result.rules.map(\.number)).count
            let portctlRules = result.policy.rules.count + result.policy.routes.count
            return "\(ufwRules) ufw rule\(ufwRules == 1 ? "" : "s") as \(portctlRules) portctl rule\(portctlRules == 1 ? "" : "s") "
                + "(inbound \(result.policy.inbound.rawValue), outbound \(result.policy.outbound.rawValue), routed \(result.policy.routed.rawValue))"
        }

        /// One line per finding on standard error, marked by kind.
        func report(_ findings: [UfwImport.Finding]) {
            for finding in findings {
                let mark = switch finding.kind {
                case .untranslated: "untranslated"
                case .approximated: "approximated"
                case .note: "note"
                }
                // ufw's files are text anyone who could edit them wrote: no control character
                // reaches the terminal as it is.
                let text = String(String.UnicodeScalarView("\(finding)".unicodeScalars.flatMap { scalar -> [Unicode.Scalar] in
                    scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) ? Array("\\u{\(String(scalar.value, radix: 16))}".unicodeScalars) : [scalar]
                }))
                FileHandle.standardError.write(Data("\(mark): \(text)\n".utf8))
            }
        }

        /// A line for people on standard error (standard output holds the policy in a dry run).
        func note(_ line: String) {
            FileHandle.standardError.write(Data("\(line)\n".utf8))
        }

        /// Warns when `portctl apply` would refuse the policy from this SSH session.
        func warnAboutSSH(_ policy: PortPolicy) {
            guard let value = ProcessInfo.processInfo.environment["SSH_CONNECTION"],
                  let connection = SSHConnection(environmentValue: value) else { return }
            let interface = LocalInterfaces.name(holding: connection.server).flatMap { $0 == "lo" ? nil : $0 }
            if LockoutGuard.blockingDecision(policy, connection: connection, interface: interface) != nil {
                warn("this policy blocks new SSH logins from \(connection.client) to port \(connection.port), so 'portctl apply' will refuse it from this session: allow it first (portctl open \(connection.port) --from \(connection.client))")
            }
        }
    }

    /// What `--json` prints.
    struct Report: Encodable {
        let policy: PortPolicy
        let findings: [UfwImport.Finding]
        let ufwRules: Int
        let file: String
        let written: Bool

        init(_ result: UfwImport.Result, policy: PortPolicy, file: String, written: Bool) {
            self.policy = policy
            findings = result.findings
            ufwRules = Set(result.rules.map(\.number)).count
            self.file = file
            self.written = written
        }
    }
}
