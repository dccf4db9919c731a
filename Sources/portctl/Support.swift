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
        case let error as ChangeError: return from(error)
        default: return Failure(message: String(describing: error), code: .failure)
        }
    }
}

extension Failure {
    /// The pipeline's refusals in the CLI's words: its commands, its flags, its exit codes.
    static func from(_ error: ChangeError) -> Failure {
        switch error {
        case let .needsPrivilege(doing):
            return Failure(message: "\(doing) needs root or CAP_NET_ADMIN (try: sudo portctl ...)", code: .needsPrivilege)
        case let .noPolicyFile(path):
            return Failure(message: "no policy file at \(path); run 'portctl open PORT' to create one, or pass --policy", code: .failure)
        case let .awaitingConfirmation(sequence, secondsLeft):
            return Failure(message: "change #\(sequence) awaits confirmation (rolls back in \(secondsLeft)s): run 'portctl confirm' to keep it or 'portctl rollback' to undo it, then try again", code: .failure)
        case let .wouldLockOut(decision, connection, expiring):
            return Failure(message: LockoutGuard.refusal(decision, connection: connection, expiring: expiring), code: .failure)
        case let .unreadableSSHConnection(value):
            return Failure(message: "cannot check this change against locking out your SSH session: SSH_CONNECTION \(quoted(value)) is not \"CLIENT PORT SERVER PORT\"; fix the variable, or add --force to change without the check", code: .failure)
        case let .untrustedStateFolder(path):
            return Failure(message: "refusing the state folder \(path): users other than root could have written it (it, a folder above it, or a link on the way is theirs); fix: make it root's, mode 700, reached through root's folders", code: .failure)
        case let .nothingToRollBack(directory):
            return Failure(message: "nothing to roll back: no change has been applied with this state directory (\(directory))", code: .failure)
        case let .missingHistory(sequence, directory):
            return Failure(message: "cannot roll back change #\(sequence): the policy it replaced is missing from \(directory)/history", code: .failure)
        case let .confirmedTooLate(sequence, time):
            return Failure(message: "too late: the change was rolled back at \(time) (history #\(sequence))", code: .failure)
        case let .savedPlan(path, problem):
            switch problem {
            case .missing:
                return Failure(message: "cannot read plan file \(path): no such file", code: .failure)
            case let .unreadable(reason):
                return Failure(message: "\(path): \(reason)", code: .invalidData)
            case .edited:
                return Failure(message: "plan \(path) was edited after it was saved (its digest does not match its contents); nothing was applied (run 'portctl plan -o' again)", code: .invalidData)
            case let .policyChanged(policyFile):
                return Failure(message: "plan \(path) is stale: the policy file \(policyFile) changed since the plan was made; nothing was applied (run 'portctl plan' again)", code: .failure)
            case let .otherTable(planned, policy):
                return Failure(message: "plan \(path) names table inet \(planned), but the policy file renders table inet \(policy); nothing was applied", code: .failure)
            case let .tableChanged(table):
                return Failure(message: "plan \(path) is stale: table inet \(table) changed since the plan was made; nothing was applied (run 'portctl plan' again)", code: .failure)
            case .notPortctls:
                return Failure(message: "plan \(path) holds a batch that portctl would not make for its policy and table (was it edited?); nothing was applied (run 'portctl plan -o' again)", code: .invalidData)
            case .expiredSince:
                return Failure(message: "plan \(path) is stale: a time-boxed rule expired since the plan was made, so the batch would differ; nothing was applied (run 'portctl plan' again)", code: .failure)
            }
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

    /// The library's change pipeline, on these paths.
    var control: ChangeControl { ChangeControl(paths: paths) }

    /// Loads the policy file, failing when there is none.
    func loadExisting() throws -> PortPolicy {
        try control.requirePolicy().policy
    }

    /// Loads the policy file and keeps its bytes, failing when there is none.
    func loadExistingWithBytes() throws -> (policy: PortPolicy, bytes: Data) {
        try control.requirePolicy()
    }

    /// Runs `body` holding the state folder's lock, after checking the privilege that `doing`
    /// needs (exit 77 before any file is touched); see ``ChangeControl/withLock(privileged:dryRun:_:)``.
    func withLock<T>(privileged doing: String, dryRun: Bool = false, _ body: () throws -> T) throws -> T {
        try control.withLock(privileged: doing, dryRun: dryRun, body)
    }

    /// For commands that read the state folder without the lock (`history`, `status`): one that
    /// others could have written (it, a folder above it, or a link on the way) is not read.
    func refuseUntrustedStateFolder() throws {
        try control.refuseUntrustedStateFolder()
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
    do {
        try ChangeControl().requirePrivilege(doing)
    } catch {
        throw Failure.from(error)
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
