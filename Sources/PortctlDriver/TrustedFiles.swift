public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The files root may act on: the policy file, saved plans and the state folder. Root trusts a
/// file only when nobody but root (or the user running portctl) can change what its path names:
/// the file itself, and every folder from `/` down to it, as sshd's StrictModes does.
///
/// Paths are resolved once, hop by hop (a symlink is followed, and the folder holding each link
/// is checked too), then the file is opened without following links and checked again on the
/// open descriptor, and read from that descriptor: nothing is looked up by path twice.
///
/// A folder that others can write is refused. The one exception is a root-owned sticky folder
/// (such as `/tmp`) *above* the folder holding the file: others may add entries there but cannot
/// rename or remove root's. The folder that holds the file, and the state folder itself, must not
/// be writable by others at all, sticky or not: there they could plant files or links.
public enum TrustedFiles {
    /// Whether a file or folder's owner is root or the user running portctl.
    static func trustedOwner(_ info: stat) -> Bool {
        info.st_uid == 0 || info.st_uid == geteuid()
    }

    /// Why a folder on the way to a trusted file cannot be trusted, or nil when it can.
    /// `holdsTheFile`: the folder directly holds the file (or is the state folder itself).
    static func folderProblem(_ info: stat, holdsTheFile: Bool) -> String? {
        let mode = info.st_mode & 0o7777
        if !trustedOwner(info) { return "is owned by uid \(info.st_uid)" }
        guard mode & 0o022 != 0 else { return nil }
        let sticky = mode & 0o1000 != 0
        if sticky && info.st_uid == 0 && !holdsTheFile { return nil }
        return "is writable by users other than root (mode \(String(mode, radix: 8)))"
    }

    /// Checks every folder from `/` down to `folder` (a path without symlinks).
    static func checkFolders(_ folder: String, for what: String, holdsTheFile: Bool = true) throws(SystemError) {
        var components = folder.split(separator: "/").map(String.init)
        var paths: [String] = ["/"]
        var current = ""
        while !components.isEmpty {
            current += "/" + components.removeFirst()
            paths.append(current)
        }
        for (index, path) in paths.enumerated() {
            var info = stat()
            guard lstat(path, &info) == 0 else { throw .errno(Glibc.errno, "cannot examine \(path), on the way to \(what)") }
            if (info.st_mode & S_IFMT) != S_IFDIR {
                throw SystemError("refusing \(what): \(path) is not a folder")
            }
            if let problem = folderProblem(info, holdsTheFile: holdsTheFile && index == paths.count - 1) {
                throw SystemError("refusing \(what): the folder \(path) \(problem), so they could replace it; fix: chown root \(path) && chmod go-w \(path)")
            }
        }
    }

    /// The canonical path of an existing folder (no symlinks, no `..`).
    static func realFolder(_ path: String, for what: String) throws -> String {
        guard let resolved = realpath(path, nil) else {
            if Glibc.errno == ENOENT { throw MissingFolder() }
            throw SystemError.errno(Glibc.errno, "cannot resolve \(path), on the way to \(what)")
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Follows `path` hop by hop to the file it names, checking the folders that hold each hop;
    /// returns the final path (its last component is not a symlink, or does not exist).
    public static func resolve(_ path: String, for what: String) throws -> String {
        var current = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        for _ in 0..<40 {
            let url = URL(fileURLWithPath: current)
            let name = url.lastPathComponent
            let folder = try realFolder(url.deletingLastPathComponent().path, for: what)
            try checkFolders(folder, for: what)
            let candidate = (folder == "/" ? "" : folder) + "/" + name
            var info = stat()
            guard lstat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK else { return candidate }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlink(candidate, &buffer, buffer.count - 1)
            guard length > 0 else { throw SystemError.errno(Glibc.errno, "cannot read the link \(candidate)") }
            let target = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            current = target.hasPrefix("/") ? target : folder + "/" + target
        }
        throw SystemError("refusing \(what): too many symbolic links on the way to \(path)")
    }

    /// Reads a file root may act on, or nil when it does not exist. Refuses a file that others
    /// could have written or replaced, one that is not a regular file, and one larger than
    /// `maximumSize` bytes.
    public static func read(_ path: String, what: String, maximumSize: Int) throws -> Data? {
        let real: String
        do {
            real = try resolve(path, for: what)
        } catch is MissingFolder {
            return nil
        }
        let fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if Glibc.errno == ENOENT { return nil }
            throw SystemError.errno(Glibc.errno, "cannot read \(what) \(path)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SystemError.errno(Glibc.errno, "cannot examine \(what) \(path)") }
        if (info.st_mode & S_IFMT) != S_IFREG {
            throw SystemError("refusing \(what) \(path): it is not a regular file")
        }
        if !trustedOwner(info) || info.st_mode & 0o022 != 0 {
            throw SystemError("refusing \(what) \(path) because users other than root can write it (owner uid \(info.st_uid), mode \(String(info.st_mode & 0o7777, radix: 8))); fix: chown root \(real) && chmod go-w \(real)")
        }
        if Int(info.st_size) > maximumSize {
            throw FileTooLarge(path: path, size: Int(info.st_size), limit: maximumSize)
        }
        return try readAll(fd, path: path, limit: maximumSize)
    }

    /// A file larger than what portctl reads for that purpose.
    public struct FileTooLarge: Error, Sendable, CustomStringConvertible {
        /// The file.
        public let path: String
        /// Its size in bytes, or at least that much for a stream.
        public let size: Int
        /// The most portctl reads.
        public let limit: Int

        /// `FILE is N bytes; at most M MiB are read`.
        public var description: String {
            "\(path) is \(size >= limit ? "over \(limit >> 20) MiB" : "\(size) bytes"); at most \(limit >> 20) MiB are read (is it the right file?)"
        }
    }

    /// A folder on the way to a file does not exist (so neither does the file).
    struct MissingFolder: Error {}

    /// Writes a file root acts on (the policy file, a saved plan) atomically, after the same
    /// checks as ``read(_:what:maximumSize:)``: a symlink is followed to the file it names.
    public static func write(_ text: String, to path: String, what: String) throws {
        try makeDirectory(URL(fileURLWithPath: path).deletingLastPathComponent().path, mode: 0o755)
        try writeAtomically(text, to: try resolve(path, for: what))
    }

    /// Reads a descriptor to its end (blocking), failing past `limit` bytes.
    static func readAll(_ fd: Int32, path: String, limit: Int) throws -> Data {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if Glibc.errno == EINTR { continue }
                throw SystemError.errno(Glibc.errno, "cannot read \(path)")
            }
            if count == 0 { return data }
            if data.count + count > limit { throw FileTooLarge(path: path, size: data.count + count, limit: limit) }
            data.append(contentsOf: buffer[0..<count])
        }
    }

    /// Reads any file or stream the admin names (an address list, a pipe, `<(...)`, `-` for
    /// standard input), up to `limit` bytes. No trust checks: the contents are data, validated
    /// and shown before use.
    public static func readInput(_ path: String, limit: Int) throws -> Data {
        let fd = path == "-" ? dup(0) : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError.errno(Glibc.errno, "cannot read \(path)") }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            throw SystemError("cannot read \(path): it is a folder")
        }
        if (info.st_mode & S_IFMT) == S_IFREG && Int(info.st_size) > limit {
            throw FileTooLarge(path: path, size: Int(info.st_size), limit: limit)
        }
        return try readAll(fd, path: path, limit: limit)
    }

    /// Replaces a file atomically: a new temporary file with an unpredictable name, created
    /// exclusively and never through a link, in the same folder; fsync; rename over the file;
    /// fsync of the folder. A crash leaves the old file or the new one, never a mix. With
    /// `durable: false` (caches) the syncs are left out. The folder is created (0755) when missing.
    public static func writeAtomically(_ text: String, to path: String, mode: mode_t = 0o644,
                                       durable: Bool = true) throws(SystemError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        try makeDirectory(directory, mode: 0o755)
        var fd: Int32 = -1
        var temporary = ""
        for _ in 0..<16 {
            let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
            temporary = directory + "/.\(url.lastPathComponent).\(suffix).tmp"
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if fd >= 0 || Glibc.errno != EEXIST { break }
        }
        guard fd >= 0 else { throw .errno(Glibc.errno, "cannot write \(temporary)") }
        var failed: SystemError?
        if fchmod(fd, mode) != 0 { failed = .errno(Glibc.errno, "cannot set the mode of \(temporary)") }
        let bytes = Array(text.utf8)
        var offset = 0
        while failed == nil && offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
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

    /// Creates a folder (and its parents) with `mode` when missing.
    static func makeDirectory(_ path: String, mode: Int) throws(SystemError) {
        var info = stat()
        if stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR { return }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: mode])
        } catch {
            throw SystemError("cannot create directory \(path): \(error.localizedDescription)")
        }
    }

    /// Checks the state folder (creating it 0700 when missing): it and every folder above it must
    /// be root's, and the state folder itself writable by root alone. A symlink to such a folder
    /// is followed.
    public static func checkStateDirectory(_ path: String) throws {
        try makeDirectory(path, mode: 0o700)
        let what = "the state folder \(path)"
        let real = try realFolder(path, for: what)
        do {
            try checkFolders(real, for: what)
        } catch {
            throw SystemError(error.description.replacingOccurrences(of: "chmod go-w", with: "chmod 700"))
        }
    }

    /// Whether the state folder exists and passes ``checkStateDirectory(_:)``'s checks.
    static func isTrustedStateDirectory(_ path: String) -> Bool {
        guard let real = try? realFolder(path, for: "the state folder") else { return false }
        return (try? checkFolders(real, for: "the state folder")) != nil
    }

    /// Whether a file could have been written by someone other than root (or this user): a
    /// foreign owner or group/other write permission; true when it cannot be examined.
    static func othersCanWrite(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return true }
        return !trustedOwner(info) || info.st_mode & 0o022 != 0
    }
}
