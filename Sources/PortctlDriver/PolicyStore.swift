public import Foundation
public import PortPolicy
#if canImport(Glibc)
import Glibc
#endif

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
    public func loadWithBytes() throws -> LoadedPolicy? {
        guard let data = try readData() else { return nil }
        do {
            return LoadedPolicy(policy: try Self.decode(data), bytes: data)
        } catch {
            throw PolicyFileError(path: paths.policyFile, error: error)
        }
    }

    /// Decodes policy data, reading the address files its rules name (``readSourceFile(_:)``).
    public static func decode(_ data: Data) throws(PolicyError) -> PortPolicy {
        try PolicyFile.decode(data, readSourceFile: readSourceFile)
    }

    /// Decodes policy text, reading the address files its rules name.
    public static func decode(_ text: String) throws(PolicyError) -> PortPolicy {
        try PolicyFile.decode(text, readSourceFile: readSourceFile)
    }

    /// Reads an address file a rule names (`@PATH`): trusted like the policy file (root's, in
    /// folders only root can write), at most ``maximumFileSize``, one address or CIDR per line.
    /// A missing or unreadable file is an error naming it.
    public static func readSourceFile(_ path: String) throws(PolicyError) -> [IPNetwork] {
        let data: Data?
        do {
            data = try TrustedFiles.read(path, what: "address file", maximumSize: maximumFileSize)
        } catch {
            throw .invalidSource("@" + path, reason: "cannot read the address file: \(error)")
        }
        guard let data else { throw .invalidSource("@" + path, reason: "the address file does not exist") }
        return try IPNetwork.parseList(String(decoding: data, as: UTF8.self), name: path, allowEmpty: true, quiet: true)
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
    ///
    /// Blocks while another process holds the lock: without `timeout`, until it is released;
    /// with one, at most that many seconds, then ``SystemError`` ("another portctl holds ...").
    public func withLock<T>(timeout: Double? = nil, _ body: () throws -> T) throws -> T {
        let lockPath = try TrustedFiles.checkStateDirectory(paths.stateDirectory) + "/lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError.errno(Glibc.errno, "cannot open lock \(lockPath)") }
        defer { close(fd) }
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        while flock(fd, deadline == nil ? LOCK_EX : LOCK_EX | LOCK_NB) != 0 {
            let code = Glibc.errno
            if code == EINTR { continue }
            guard code == EWOULDBLOCK, let deadline else { throw SystemError.errno(code, "cannot lock \(lockPath)") }
            if Date() >= deadline {
                throw SystemError("another portctl holds the lock \(lockPath) (a change in progress); gave up after \(timeout.map { String(format: "%g", $0) } ?? "")s")
            }
            // Polling is what a deadline on flock takes; 20 ms is well under any change's own time.
            usleep(20_000)
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

/// A policy file as read: the policy, and the exact bytes it was read from (a saved plan's and
/// the history's fingerprint is of the bytes).
public struct LoadedPolicy: Sendable {
    /// The validated policy, its address files read.
    public var policy: PortPolicy
    /// The file's bytes.
    public var bytes: Data

    /// Makes one.
    public init(policy: PortPolicy, bytes: Data) {
        self.policy = policy
        self.bytes = bytes
    }
}
