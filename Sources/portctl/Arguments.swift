import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

/// Options of every command that changes something.
struct ChangeFlags: ParsableArguments {
    @Flag(name: .long, help: "Show what would change and the nftables batch; write neither the policy file nor the kernel. Exits 0 when nothing would change, 2 when something would.")
    var dryRun = false

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Roll the change back automatically (policy file and ruleset) unless 'portctl confirm' runs within this time: seconds (90) or a duration (90s, 5m, 1h30m), up to 24h.", valueName: "time"), transform: ConfirmTime.parse)
    var confirm: ConfirmTime?

    @Flag(name: .long, help: "Apply even if the change would block new SSH logins over the connection portctl runs in.")
    var force = false

    @Flag(name: .long, help: "With --dry-run: print the plan as JSON, with the policy as it would be written (see docs/change-control.md).")
    var json = false

    /// The library's options for these flags.
    var options: ChangeOptions { ChangeOptions(dryRun: dryRun, confirmSeconds: confirm?.seconds, force: force) }

    func validate() throws {
        if json && !dryRun {
            throw ValidationError("--json goes with --dry-run (other output is for people); use 'portctl plan --json' or 'portctl status --json'")
        }
        if confirm != nil && dryRun {
            throw ValidationError("--confirm and --dry-run do not go together: a dry run applies nothing to confirm")
        }
    }
}

/// The ports and addresses `open`, `close`, `deny` and `reject` take.
///
/// Interfaces keep one meaning on every command: `--in-interface` (alias `--interface`) is the
/// one traffic arrives on, `--out-interface` the one it leaves by; `--out` alone means an
/// outbound rule.
struct PortArguments: ParsableArguments {
    @Argument(help: ArgumentHelp("Ports: 26, 26/tcp, 53/udp, 53/both, 8000-8100/tcp, 25,26,587/tcp, or a service name (smtp). A bare port means TCP.", valueName: "ports"), transform: PortsArgument.parse)
    var ports: PortsArgument

    @Option(name: .long, parsing: .unconditionalSingleValue, help: ArgumentHelp("Source addresses or CIDRs, IPv4 or IPv6, comma-separated; repeatable; @FILE names an address file the policy keeps reading (apply re-reads it). Without it: any source.", valueName: "addr"))
    var from: [SourceList] = []

    @Option(name: .long, parsing: .unconditionalSingleValue, help: ArgumentHelp("Outbound rule: destination addresses or CIDRs, comma-separated; repeatable; @FILE names an address file the policy keeps reading, as for --from.", valueName: "addr"))
    var to: [SourceList] = []

    @Option(name: .customLong("from-file"), parsing: .unconditional, help: ArgumentHelp("Source addresses from a file, a pipe or - (standard input): one address or CIDR per line, # comments allowed, at most 32 MiB.", valueName: "file"))
    var fromFile: String?

    @Flag(name: .long, help: "Make an outbound rule (matches destination port; --to names destinations).")
    var out = false

    @Option(name: [.customLong("in-interface"), .customLong("interface")], parsing: .unconditional, help: ArgumentHelp("Only traffic arriving on this interface (inbound and --routed rules); a trailing * matches a prefix.", valueName: "name"))
    var inInterface: String?

    @Option(name: .customLong("out-interface"), parsing: .unconditional, help: ArgumentHelp("Only traffic leaving by this interface (outbound rules, made with --out, and --routed rules); a trailing * matches a prefix.", valueName: "name"))
    var outInterface: String?

    func validate() throws {
        try refuseOptionLike(inInterface, for: "--in-interface", "--interface")
        try refuseOptionLike(outInterface, for: "--out-interface")
    }

    /// Builds the request, with every value checked.
    func request(comment: String? = nil, id: String? = nil) throws(PolicyError) -> PortRequest {
        let spec = ports.spec
        let outbound = out || !to.isEmpty
        if outbound && !from.isEmpty {
            throw .invalidRule("--from names sources of inbound traffic; an outbound rule names destinations with --to")
        }
        // An interface option never changes meaning with the rule's direction: refused, not reread.
        if outbound, let inInterface {
            throw .invalidRule("--in-interface (or --interface) \(quoted(inInterface)) names where traffic arrives; an outbound rule matches the interface it leaves by: use --out-interface")
        }
        if !outbound, let outInterface {
            throw .invalidRule("--out-interface \(quoted(outInterface)) applies only to outbound rules (--out) and to traffic this host routes (--routed); inbound rules take --in-interface")
        }
        var sources: [IPNetwork] = []
        var files: [SourceFile] = []
        for list in outbound ? to : from {
            let (networks, paths) = try list.parseWithFiles()
            sources += networks
            for path in paths where !files.contains(where: { $0.path == path }) {
                files.append(SourceFile(path: path, networks: try PolicyStore.readSourceFile(path)))
            }
        }
        if let fromFile {
            if outbound { throw .invalidRule("--from-file names sources of inbound traffic; an outbound rule names destinations with --to") }
            sources += try readAddressFile(fromFile)
        }
        var request = PortRequest(spec: spec, sources: sources, direction: outbound ? .out : .in,
                                  interface: outbound ? outInterface : inInterface, comment: comment, id: id)
        request.sourceFiles = files
        return request
    }
}

/// The id and comment a new rule, forward or route may be given.
struct RuleNaming: ParsableArguments {
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("A note kept in the policy and the nftables comment (at most 90 bytes; no quotes or backslashes).", valueName: "text"))
    var comment: String?
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The rule id (a letter, then letters, digits, '.', '_', '-'); derived from the ports when omitted.", valueName: "id"))
    var id: String?

    func validate() throws {
        try refuseOptionLike(comment, for: "--comment")
    }
}

/// Whether a new rule's sources replace the old ones, and whether it logs: `open`, `deny`, `reject`.
struct RuleBehaviour: ParsableArguments {
    @Flag(name: .long, help: "Make the rule's sources exactly the --from list, in one change (instead of adding them to what it has).")
    var only = false

    @Flag(name: .long, help: "Log matching packets (at most 10 lines a minute) with the prefix 'portctl ID: '.")
    var log = false

    /// The request with these options and the rule's name.
    func apply(to request: PortRequest, naming: RuleNaming) -> PortRequest {
        var request = request
        request.comment = naming.comment
        request.id = naming.id
        request.log = log
        request.only = only
        return request
    }
}

/// Refuses an interface option's old spelling (`route --out eth1`), naming the new one: the old
/// `--in`/`--out` read as directions, which is what `--out` means on `open`, `close`, `deny` and
/// `reject`.
func refuseRenamed(_ old: String, _ value: String?, now new: String) throws {
    guard let value else { return }
    throw ValidationError("\(old) \(quoted(value)) is now \(new) \(quoted(value)) (an interface; --out alone means an outbound rule)")
}

/// A list of sources as typed after `--from`: comma-separated addresses and CIDRs.
struct SourceList: ExpressibleByArgument {
    let text: String

    init?(argument: String) {
        text = argument
    }

    /// Parses the text (``IPNetwork/parseCommaList(_:)``); errors name the bad item.
    func parse() throws(PolicyError) -> [IPNetwork] {
        try IPNetwork.parseCommaList(text)
    }

    /// Parses the text, taking `@FILE` items as address files: their absolute paths (a relative
    /// path is taken from the current folder).
    func parseWithFiles() throws(PolicyError) -> (networks: [IPNetwork], files: [String]) {
        var networks: [IPNetwork] = [], files: [String] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingASCIISpaces() }) {
            guard item.hasPrefix("@") else {
                networks.append(try IPNetwork(parsing: item))
                continue
            }
            var path = String(item.dropFirst())
            if !path.isEmpty && !path.hasPrefix("/") { path = FileManager.default.currentDirectoryPath + "/" + path }
            try PortRule.validateSourceFilePath(path)
            files.append(path)
        }
        return (networks, files)
    }
}

/// Reads an address file (`--from-file`): a file, a pipe or `-`, up to the policy file's cap,
/// one address or CIDR per line; errors name the file and the line.
func readAddressFile(_ path: String) throws(PolicyError) -> [IPNetwork] {
    let data: Data
    do {
        data = try TrustedFiles.readInput(path, limit: PolicyStore.maximumFileSize)
    } catch {
        throw .invalidDocument("cannot read address file \(path): \(error)")
    }
    // The offending line is never echoed: run through sudo, it could be any file's secret.
    return try IPNetwork.parseList(String(decoding: data, as: UTF8.self), name: path, quiet: true)
}
