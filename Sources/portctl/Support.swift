import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

/// portctl's documented exit codes.
enum ExitStatus: Int32 {
    case success = 0
    case failure = 1
    case changesPending = 2
    case highFinding = 3
    case usage = 64
    case invalidData = 65
    case needsPrivilege = 77
}

/// An error the CLI reports as one line with its own exit code.
struct Failure: Error {
    let message: String
    let code: ExitStatus

    /// Classifies any error from the library into a message and an exit code. Errors in values
    /// typed on the command line are usage errors (64); errors in the policy file are data
    /// errors (65).
    static func from(_ error: any Error, verbose: Bool) -> Failure {
        switch error {
        case let failure as Failure: return failure
        case let error as PolicyError: return Failure(message: error.description, code: .usage)
        case let error as PolicyFileError: return Failure(message: error.description, code: .invalidData)
        case let error as NftablesError:
            let text = verbose ? error.description + "\n" + error.detail : error.description
            return Failure(message: text, code: error.kind == .permissionDenied ? .needsPrivilege : .failure)
        case let error as SystemError: return Failure(message: error.description, code: .failure)
        case let error as LiveTable.ReadError: return Failure(message: error.description, code: .invalidData)
        default: return Failure(message: String(describing: error), code: .failure)
        }
    }
}

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).", valueName: "file"))
    var policy: String?

    @Flag(name: .long, help: "Print libnftables' full error text on failure.")
    var verbose = false

    var paths: PortctlPaths {
        PortctlPaths.resolve(policyOption: policy, environment: ProcessInfo.processInfo.environment)
    }

    var store: PolicyStore { PolicyStore(paths: paths) }

    /// Loads the policy file, failing when there is none.
    func loadExisting() throws -> PortPolicy {
        try loadExistingWithBytes().policy
    }

    /// Loads the policy file and keeps its bytes, failing when there is none.
    func loadExistingWithBytes() throws -> (policy: PortPolicy, bytes: Data) {
        guard let loaded = try store.loadWithBytes() else {
            throw Failure(message: "no policy file at \(paths.policyFile); run 'portctl open PORT' to create one, or pass --policy", code: .failure)
        }
        return loaded
    }

    /// Runs `body` holding the state folder's lock, after checking the privilege that `doing`
    /// needs (exit 77 before any file is touched). A dry run without the privilege runs without
    /// the lock and the state folder: it cannot read the kernel, and it writes nothing.
    func withLock<T>(privileged doing: String, dryRun: Bool = false, _ body: () throws -> T) throws -> T {
        if dryRun && !Privilege.hasNetAdmin { return try body() }
        if !dryRun { try requireNetAdmin(doing) }
        return try store.withLock(body)
    }

    /// For commands that read the state folder without the lock (`history`, `status`): one that
    /// others could have written (it, a folder above it, or a link on the way) is not read.
    func refuseUntrustedStateFolder() throws {
        let path = paths.stateDirectory
        var info = stat()
        if lstat(path, &info) == 0, !TrustedFiles.isTrustedStateDirectory(path) {
            throw Failure(message: "refusing the state folder \(path): users other than root could have written it (it, a folder above it, or a link on the way is theirs); fix: make it root's, mode 700, reached through root's folders", code: .failure)
        }
    }

    /// Runs `body`, turning every library error into a one-line ``Failure``.
    func reporting<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw Failure.from(error, verbose: verbose)
        }
    }
}

/// Fails with exit 77 unless the process may change nftables.
func requireNetAdmin(_ doing: String) throws {
    if !Privilege.hasNetAdmin {
        throw Failure(message: "\(doing) needs root or CAP_NET_ADMIN (try: sudo portctl ...)", code: .needsPrivilege)
    }
}

/// Prints a line to standard output.
func say(_ line: String) {
    print(line)
}

/// Prints a warning line to standard error.
func warn(_ line: String) {
    FileHandle.standardError.write(Data("warning: \(line)\n".utf8))
}

/// The server port of the SSH connection portctl runs over, from `SSH_CONNECTION`.
var sshServerPort: UInt16? {
    let fields = ProcessInfo.processInfo.environment["SSH_CONNECTION"]?.split(separator: " ") ?? []
    return fields.count == 4 ? UInt16(fields[3]) : nil
}

/// A list of sources as typed after `--from`: comma-separated addresses and CIDRs.
struct SourceList: ExpressibleByArgument {
    let networks: [IPNetwork]
    let text: String

    init?(argument: String) {
        text = argument
        networks = []
    }

    /// Parses the text; errors name the bad item.
    func parse() throws(PolicyError) -> [IPNetwork] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        var result: [IPNetwork] = []
        for item in items {
            let trimmed = item.trimmingASCIISpaces()
            result.append(try IPNetwork(parsing: trimmed))
        }
        return result
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
    return try IPNetwork.parseList(String(decoding: data, as: UTF8.self), name: path)
}

/// Encodes a value as pretty, key-sorted JSON text.
func jsonText(_ value: some Encodable) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
}
