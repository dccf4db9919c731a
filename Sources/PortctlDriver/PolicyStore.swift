public import Foundation
public import PortPolicy
#if canImport(Glibc)
import Glibc
#endif

/// A failure of the machine rather than of the input: a file that cannot be read or written, a
/// lock that cannot be taken.
public struct SystemError: Error, Sendable, CustomStringConvertible {
    /// The one-line message.
    public let description: String

    /// Makes an error from a message.
    public init(_ description: String) { self.description = description }

    /// Makes an error from an errno value and what was being done.
    static func errno(_ code: Int32, _ doing: String) -> SystemError {
        SystemError("\(doing): \(String(cString: strerror(code)))")
    }
}

/// Where portctl keeps its files: the policy file and the state directory (locks, snapshots).
public struct PortctlPaths: Sendable, Hashable {
    /// The policy file.
    public var policyFile: String
    /// The state directory.
    public var stateDirectory: String

    /// The policy file used when neither `--policy` nor `PORTCTL_POLICY` names one.
    public static let defaultPolicyFile = "/etc/portctl/policy.yaml"
    /// The state directory used when `PORTCTL_STATE_DIR` names none.
    public static let defaultStateDirectory = "/var/lib/portctl"

    /// Makes paths from parts.
    public init(policyFile: String, stateDirectory: String) {
        self.policyFile = policyFile
        self.stateDirectory = stateDirectory
    }

    /// Resolves the paths: `--policy`, else `PORTCTL_POLICY`, else the default; `PORTCTL_STATE_DIR`,
    /// else the default.
    public static func resolve(policyOption: String?, environment: [String: String]) -> PortctlPaths {
        let policy = policyOption ?? environment["PORTCTL_POLICY"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultPolicyFile
        let state = environment["PORTCTL_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultStateDirectory
        return PortctlPaths(policyFile: policy, stateDirectory: state)
    }
}

/// Reads and writes the policy file, atomically and under the state directory's lock.
public struct PolicyStore: Sendable {
    /// The files this store uses.
    public let paths: PortctlPaths

    /// The largest policy file read (a 100,000-source policy is about 3 MB).
    public static let maximumFileSize = 32 << 20

    /// Makes a store for these paths.
    public init(paths: PortctlPaths) { self.paths = paths }

    /// Whether the policy file exists.
    public var exists: Bool { FileManager.default.fileExists(atPath: paths.policyFile) }

    /// Reads the policy file's bytes, or nil when there is none. Refuses a file that users other
    /// than root could have written or replaced (see ``TrustedFiles``), and files too large to be
    /// a policy. A symlink is followed, and the folders on the way to its target are checked too.
    public func readData() throws -> Data? {
        do {
            return try TrustedFiles.read(paths.policyFile, what: "policy file", maximumSize: Self.maximumFileSize)
        } catch let error as TrustedFiles.FileTooLarge {
            throw PolicyFileError(path: paths.policyFile, error: .invalidDocument(
                "the file is \(error.size) bytes; a policy file is at most \(Self.maximumFileSize >> 20) MiB (is it the right file?)"))
        }
    }

    /// Reads and validates the policy, or nil when there is no policy file.
    public func load() throws -> PortPolicy? {
        try loadWithBytes()?.policy
    }

    /// Reads and validates the policy and keeps the file's bytes (for a plan's fingerprint).
    public func loadWithBytes() throws -> (policy: PortPolicy, bytes: Data)? {
        guard let data = try readData() else { return nil }
        do {
            return (try PolicyFile.decode(data), data)
        } catch {
            throw PolicyFileError(path: paths.policyFile, error: error)
        }
    }

    /// Replaces the policy file atomically (see ``TrustedFiles/writeAtomically(_:to:mode:durable:)``).
    /// A symlinked policy file stays a symlink: its target is replaced.
    public func save(_ policy: PortPolicy) throws {
        try save(text: PolicyFile.encode(policy))
    }

    /// Replaces the policy file with this text, atomically.
    public func save(text: String) throws {
        try TrustedFiles.write(text, to: paths.policyFile, what: "policy file")
    }

    /// Runs `body` holding the exclusive lock in the state directory, so that concurrent
    /// invocations read, modify and apply one after another.
    /// The state folder must be writable by root (or this user) alone, and so must every folder
    /// above it: it holds the history that `rollback` restores from, the pending confirmation and
    /// the cache that lets `plan` skip listing the kernel.
    public func withLock<T>(_ body: () throws -> T) throws -> T {
        let lockPath = try TrustedFiles.checkStateDirectory(paths.stateDirectory) + "/lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError.errno(Glibc.errno, "cannot open lock \(lockPath)") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if Glibc.errno != EINTR { throw SystemError.errno(Glibc.errno, "cannot lock \(lockPath)") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}

/// An invalid policy file: the path plus the one-line policy error.
public struct PolicyFileError: Error, Sendable, CustomStringConvertible {
    /// The file.
    public let path: String
    /// What is wrong with it.
    public let error: PolicyError

    /// Makes the error.
    public init(path: String, error: PolicyError) {
        self.path = path
        self.error = error
    }

    /// `FILE: message`.
    public var description: String { "\(path): \(error)" }
}

/// The machine's services database.
public enum SystemServices {
    /// Reads `/etc/services`; an empty table when it is missing (numbers still work).
    public static func load(path: String = "/etc/services") -> ServiceTable {
        guard let data = FileManager.default.contents(atPath: path),
              let text = String(data: data, encoding: .utf8) else { return ServiceTable() }
        return ServiceTable(parsing: text)
    }
}

/// What the process may do.
public enum Privilege {
    /// Whether the process has CAP_NET_ADMIN (effective), read from `/proc/self/status`.
    public static var hasNetAdmin: Bool {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return geteuid() == 0 }
        return mask & (1 << 12) != 0
    }
}
