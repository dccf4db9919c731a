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

    /// Reads the policy file's bytes, or nil when there is none. Refuses a file (or a folder
    /// holding it) that users other than root can write, as sshd's StrictModes does, and files too
    /// large to be a policy.
    public func readData() throws -> Data? {
        var info = stat()
        if stat(paths.policyFile, &info) != 0 {
            if Glibc.errno == ENOENT { return nil }
            throw SystemError.errno(Glibc.errno, "cannot read policy file \(paths.policyFile)")
        }
        if (info.st_mode & S_IFMT) != S_IFREG {
            throw SystemError("policy file \(paths.policyFile) is not a regular file")
        }
        try Self.refuseForeignWriters(paths.policyFile, info, isDirectory: false)
        let directory = URL(fileURLWithPath: paths.policyFile).deletingLastPathComponent().path
        var directoryInfo = stat()
        if stat(directory, &directoryInfo) == 0 {
            try Self.refuseForeignWriters(directory, directoryInfo, isDirectory: true)
        }
        if Int(info.st_size) > Self.maximumFileSize {
            throw PolicyFileError(path: paths.policyFile, error: .invalidDocument(
                "the file is \(info.st_size) bytes; a policy file is at most \(Self.maximumFileSize >> 20) MiB (is it the right file?)"))
        }
        guard let data = FileManager.default.contents(atPath: paths.policyFile) else {
            throw SystemError("cannot read policy file \(paths.policyFile)")
        }
        return data
    }

    /// Refuses a path that someone other than root (or the user running portctl) could write.
    static func refuseForeignWriters(_ path: String, _ info: stat, isDirectory: Bool) throws(SystemError) {
        guard othersCanWrite(info, isDirectory: isDirectory) else { return }
        let what = isDirectory ? "the folder holding the policy file, \(path)," : "policy file \(path)"
        let fix = isDirectory ? "chown root \(path) && chmod go-w \(path)" : "chown root \(path) && chmod 644 \(path)"
        throw SystemError("refusing \(what) because users other than root can write it (owner uid \(info.st_uid), mode \(String(info.st_mode & 0o7777, radix: 8))); fix: \(fix)")
    }

    /// Whether someone other than root (or the user running portctl) could write the file or
    /// folder: a foreign owner, or group or other write permission. A sticky, root-owned folder
    /// such as /tmp lets others create files but not replace ours, so it passes.
    static func othersCanWrite(_ info: stat, isDirectory: Bool) -> Bool {
        let mode = info.st_mode & 0o7777
        let trustedOwner = info.st_uid == 0 || info.st_uid == geteuid()
        let groupOrOtherWritable = mode & 0o022 != 0 && !(isDirectory && mode & 0o1000 != 0 && info.st_uid == 0)
        return !trustedOwner || groupOrOtherWritable
    }

    /// ``othersCanWrite(_:isDirectory:)`` for a path; true when it cannot be examined.
    static func othersCanWrite(_ path: String) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else { return true }
        return othersCanWrite(info, isDirectory: (info.st_mode & S_IFMT) == S_IFDIR)
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

    /// Replaces the policy file atomically: a temporary file in the same directory, fsync,
    /// rename, fsync of the directory. A crash leaves the old file or the new one, never a mix.
    public func save(_ policy: PortPolicy) throws(SystemError) {
        try Self.writeAtomically(PolicyFile.encode(policy), to: paths.policyFile)
    }

    /// Replaces a file atomically (temporary file in the same directory, fsync, rename, fsync
    /// of the directory). With `durable: false` (caches) the syncs are left out: the rename is
    /// still atomic, but a crash may lose the new file.
    public static func writeAtomically(_ text: String, to path: String, durable: Bool = true) throws(SystemError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        try Self.makeDirectory(directory, mode: 0o755)
        let temporary = directory + "/.\(url.lastPathComponent).\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .errno(Glibc.errno, "cannot write \(temporary)") }
        var failed: SystemError?
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if Glibc.errno == EINTR { continue }
                failed = .errno(Glibc.errno, "cannot write \(temporary)")
                break
            }
            offset += written
        }
        if failed == nil && durable && fsync(fd) != 0 { failed = .errno(Glibc.errno, "cannot sync \(temporary)") }
        close(fd)
        if let failed {
            unlink(temporary)
            throw failed
        }
        if rename(temporary, path) != 0 {
            let code = Glibc.errno
            unlink(temporary)
            throw .errno(code, "cannot replace \(path)")
        }
        let directoryFD = durable ? open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }

    /// Runs `body` holding the exclusive lock in the state directory, so that concurrent
    /// invocations read, modify and apply one after another.
    /// The state folder must be writable by root (or this user) alone: it holds the history that
    /// `rollback` restores from and the cache that lets `plan` skip listing the kernel.
    public func withLock<T>(_ body: () throws -> T) throws -> T {
        try Self.makeDirectory(paths.stateDirectory, mode: 0o700)
        if Self.othersCanWrite(paths.stateDirectory) {
            let path = paths.stateDirectory
            throw SystemError("refusing the state folder \(path) because users other than root can write it; fix: chown root \(path) && chmod 700 \(path)")
        }
        let lockPath = paths.stateDirectory + "/lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError.errno(Glibc.errno, "cannot open lock \(lockPath)") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if Glibc.errno != EINTR { throw SystemError.errno(Glibc.errno, "cannot lock \(lockPath)") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    static func makeDirectory(_ path: String, mode: Int) throws(SystemError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: mode])
        } catch {
            throw SystemError("cannot create directory \(path): \(error.localizedDescription)")
        }
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
