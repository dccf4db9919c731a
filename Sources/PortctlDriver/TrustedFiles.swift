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

    /// Walks `path` from `/`, one component at a time, the way the kernel resolves it, and
    /// returns the path it names with no symlink left in it. Every folder on the way is checked
    /// (``folderProblem(_:holdsTheFile:)``); every symlink on the way must be owned by root (or
    /// this user) and sit in a folder that others cannot write at all, so that nobody else can
    /// repoint it; its target is walked the same way. The last component is returned as it is
    /// (not followed when `followLast` is false, and it may not exist). A missing folder on the
    /// way throws ``MissingFolder``, or is created (root's, `createMode`) when a mode is given.
    /// With `checkingFolders: false` only the links are checked, not the folders passed through
    /// (for a caller that then opens the path one component at a time, never following a link).
    static func walk(_ path: String, for what: String, followLast: Bool = true, createMode: Int? = nil,
                     checkingFolders: Bool = true) throws -> String {
        var pending = (path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path)
            .split(separator: "/").map(String.init)
        var current = ""  // the real path walked so far; "" is /
        var hops = 0
        if checkingFolders { try checkFolder("/", for: what, strict: false) }
        while !pending.isEmpty {
            let name = pending.removeFirst()
            if name == "." || name.isEmpty { continue }
            if name == ".." {
                current = String(current[..<(current.lastIndex(of: "/") ?? current.startIndex)])
                continue
            }
            let candidate = current + "/" + name
            let isLast = pending.isEmpty
            var info = stat()
            if lstat(candidate, &info) != 0 {
                guard Glibc.errno == ENOENT else { throw SystemError.errno(Glibc.errno, "cannot examine \(candidate), on the way to \(what)") }
                if isLast { return candidate }
                guard let createMode else { throw MissingFolder() }
                try checkFolder(current.isEmpty ? "/" : current, for: what, strict: true)
                guard mkdir(candidate, mode_t(createMode)) == 0 || Glibc.errno == EEXIST else {
                    throw SystemError.errno(Glibc.errno, "cannot create \(candidate)")
                }
                pending.insert(name, at: 0)
                continue
            }
            switch info.st_mode & S_IFMT {
            case S_IFLNK:
                if isLast && !followLast { return candidate }
                hops += 1
                guard hops <= 40 else { throw SystemError("refusing \(what): too many symbolic links on the way to \(path)") }
                // Whoever can replace the link chooses what root reads: only root's links in
                // folders that only root can write are followed.
                try checkFolder(current.isEmpty ? "/" : current, for: what, strict: true)
                guard trustedOwner(info) else {
                    throw SystemError("refusing \(what): the symbolic link \(candidate) is owned by uid \(info.st_uid), who could repoint it; fix: replace it with root's own link or the real path")
                }
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let length = readlink(candidate, &buffer, buffer.count - 1)
                guard length > 0 else { throw SystemError.errno(Glibc.errno, "cannot read the link \(candidate)") }
                let target = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if target.hasPrefix("/") { current = "" }
                pending = target.split(separator: "/").map(String.init) + pending
            case S_IFDIR:
                current = candidate
                if !isLast && checkingFolders {
                    try checkFolder(current, for: what, strict: false)
                }
            default:
                if !isLast { throw SystemError("refusing \(what): \(candidate) is not a folder") }
                return candidate
            }
        }
        return current.isEmpty ? "/" : current
    }

    /// Checks one folder: root's (or this user's), and not writable by others. With `strict`,
    /// a root-owned sticky folder does not pass either (it holds the file, or a link).
    static func checkFolder(_ folder: String, for what: String, strict: Bool) throws(SystemError) {
        var info = stat()
        guard lstat(folder, &info) == 0 else { throw .errno(Glibc.errno, "cannot examine \(folder), on the way to \(what)") }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw SystemError("refusing \(what): \(folder) is not a folder") }
        if let problem = folderProblem(info, holdsTheFile: strict) {
            throw SystemError("refusing \(what): the folder \(folder) \(problem), so they could replace it; fix: chown root \(folder) && chmod go-w \(folder)")
        }
    }

    /// Resolves a file's path (see `walk(_:for:followLast:createMode:)`) and checks the folder
    /// that holds it strictly: others must not be able to write it even when it is sticky.
    public static func resolve(_ path: String, for what: String) throws -> String {
        let real = try walk(path, for: what)
        let folder = URL(fileURLWithPath: real).deletingLastPathComponent().path
        try checkFolder(folder, for: what, strict: true)
        return real
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
        // Opening a device or a FIFO can act on it (arm a watchdog, release a writer): anything
        // but a regular file is refused before it is opened. fstat below checks what was opened.
        var seen = stat()
        if lstat(real, &seen) == 0, (seen.st_mode & S_IFMT) != S_IFREG {
            throw SystemError("refusing \(what) \(path): it is not a regular file")
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

    /// A path portctl was to write names something other than a regular file: a device, a FIFO,
    /// a socket, a folder or a link. portctl writes by renaming a new file over the path, which
    /// would replace that thing (`plan -o /dev/null` would replace the machine's /dev/null), so
    /// it writes nothing.
    public struct NotARegularFile: Error, Sendable, CustomStringConvertible {
        /// The path as given.
        public let path: String
        /// What is there: "a character device", "a FIFO", ...
        public let kind: String

        /// `refusing to write PATH: it is a character device; ...`.
        public var description: String {
            "refusing to write \(path): it is \(kind), not a regular file; name a new or regular file (or - for standard output where the command takes it)"
        }

        /// What `mode` (from `lstat`) names, in words.
        static func kind(_ mode: mode_t) -> String {
            switch mode & S_IFMT {
            case S_IFCHR: "a character device"
            case S_IFBLK: "a block device"
            case S_IFIFO: "a FIFO"
            case S_IFSOCK: "a socket"
            case S_IFDIR: "a folder"
            case S_IFLNK: "a symbolic link"
            default: "not a regular file"
            }
        }
    }

    /// Throws ``NotARegularFile`` when `path` exists and is anything but a regular file.
    static func refuseUnlessRegularOrMissing(_ path: String, as given: String? = nil) throws(NotARegularFile) {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) != S_IFREG else { return }
        throw NotARegularFile(path: given ?? path, kind: NotARegularFile.kind(info.st_mode))
    }

    /// Writes a file root acts on (the policy file, a saved plan) atomically, after the same
    /// checks as ``read(_:what:maximumSize:)``: a symlink is followed to the file it names.
    /// Only a regular file (or a new one) is replaced: ``NotARegularFile`` otherwise, with
    /// nothing created.
    public static func write(_ text: String, to path: String, what: String) throws {
        let folder = try walk(URL(fileURLWithPath: path).deletingLastPathComponent().path, for: what, createMode: 0o755)
        let real = try resolve(folder + "/" + URL(fileURLWithPath: path).lastPathComponent, for: what)
        try refuseUnlessRegularOrMissing(real, as: path)
        try writeAtomically(text, to: real)
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
    /// Anything at `path` but a regular file (a device, a FIFO, a socket, a folder, a link) is
    /// refused with ``NotARegularFile`` before anything is created: the rename would replace it.
    public static func writeAtomically(_ text: String, to path: String, mode: mode_t = 0o644,
                                       durable: Bool = true) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        try refuseUnlessRegularOrMissing(path)
        try makeDirectory(directory, mode: 0o755)
        let folder = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folder >= 0 else { throw SystemError.errno(Glibc.errno, "cannot open \(directory)") }
        defer { close(folder) }
        try replace(url.lastPathComponent, in: folder, folderPath: directory, with: text, mode: mode, durable: durable)
    }

    /// Replaces the file `name` in the open folder `folder` atomically: a new temporary file with
    /// an unpredictable name, created exclusively and never through a link; fsync; rename over
    /// the file; fsync of the folder (the syncs only when `durable`). Anything at `name` but a
    /// regular file is refused with ``NotARegularFile``, with nothing created.
    static func replace(_ name: String, in folder: Int32, folderPath: String, with text: String, mode: mode_t,
                        durable: Bool) throws {
        var seen = stat()
        if fstatat(folder, name, &seen, AT_SYMLINK_NOFOLLOW) == 0, (seen.st_mode & S_IFMT) != S_IFREG {
            throw NotARegularFile(path: folderPath + "/" + name, kind: NotARegularFile.kind(seen.st_mode))
        }
        var fd: Int32 = -1
        var temporary = ""
        for _ in 0..<16 {
            temporary = ".\(name).\(String(UInt64.random(in: 0...UInt64.max), radix: 36)).tmp"
            fd = openat(folder, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if fd >= 0 || Glibc.errno != EEXIST { break }
        }
        guard fd >= 0 else { throw SystemError.errno(Glibc.errno, "cannot write \(folderPath)/\(temporary)") }
        var failed: SystemError?
        if fchmod(fd, mode) != 0 { failed = .errno(Glibc.errno, "cannot set the mode of \(folderPath)/\(temporary)") }
        let bytes = Array(text.utf8)
        var offset = 0
        while failed == nil && offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if Glibc.errno == EINTR { continue }
                failed = .errno(Glibc.errno, "cannot write \(folderPath)/\(temporary)")
                break
            }
            offset += written
        }
        if failed == nil && durable && fsync(fd) != 0 { failed = .errno(Glibc.errno, "cannot sync \(folderPath)/\(temporary)") }
        close(fd)
        if failed == nil && renameat(folder, temporary, folder, name) != 0 {
            failed = .errno(Glibc.errno, "cannot replace \(folderPath)/\(name)")
        }
        if let failed {
            unlinkat(folder, temporary, 0)
            throw failed
        }
        if durable { fsync(folder) }
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

    /// Checks the state folder and returns its real path, creating it (0700) when missing: it and
    /// every folder above it must be root's, links on the way root's in root-only folders, and the
    /// state folder itself writable by root alone. Use the returned path from then on.
    @discardableResult
    public static func checkStateDirectory(_ path: String) throws -> String {
        let what = "the state folder \(path)"
        do {
            let real = try walk(path, for: what, createMode: 0o700)
            var info = stat()
            if lstat(real, &info) != 0 {
                guard Glibc.errno == ENOENT, mkdir(real, 0o700) == 0 || Glibc.errno == EEXIST else {
                    throw SystemError.errno(Glibc.errno, "cannot create \(real)")
                }
            }
            try checkFolder(real, for: what, strict: true)
            return real
        } catch let error as SystemError {
            throw SystemError(error.description.replacingOccurrences(of: "chmod go-w \(path)", with: "chmod 700 \(path)"))
        }
    }

    /// Whether the state folder exists and passes ``checkStateDirectory(_:)``'s checks.
    public static func isTrustedStateDirectory(_ path: String) -> Bool {
        guard let real = try? walk(path, for: "the state folder") else { return false }
        return (try? checkFolder(real, for: "the state folder", strict: true)) != nil
    }

    /// Whether a file could have been written by someone other than root (or this user): a
    /// foreign owner or group/other write permission; true when it cannot be examined.
    static func othersCanWrite(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return true }
        return !trustedOwner(info) || info.st_mode & 0o022 != 0
    }

    /// Opens a folder that root writes files into for others to read (`metrics --textfile`).
    /// The folder itself must be root's (or this user's) and writable by nobody else, sticky or
    /// not (else they could swap in a forged file); every link on the way must be root's, in a
    /// folder only root can write (else they could repoint root's write). Folders above may be
    /// others' (Debian's `/var/lib/prometheus` is the prometheus user's): the path is opened one
    /// component at a time without following any link, and the folder is checked on the open
    /// descriptor, so whatever they rename meanwhile, root writes only into a folder only root
    /// can write.
    public static func openOutputFolder(_ path: String, what: String) throws -> OutputFolder {
        let real: String
        do {
            real = try walk(path, for: what, checkingFolders: false)
        } catch is MissingFolder {
            throw SystemError("refusing \(what): a folder on the way to \(path) does not exist")
        }
        var fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError.errno(Glibc.errno, "cannot open /") }
        for name in real.split(separator: "/") {
            let next = openat(fd, String(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let code = Glibc.errno
            close(fd)
            guard next >= 0 else {
                throw SystemError("refusing \(what): \(real) changed while it was opened, or is not a folder (\(String(cString: strerror(code))))")
            }
            fd = next
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = Glibc.errno
            close(fd)
            throw SystemError.errno(code, "cannot examine \(real)")
        }
        if let problem = folderProblem(info, holdsTheFile: true) {
            close(fd)
            throw SystemError("refusing \(what): the folder \(real) \(problem), so they could replace what root writes there or where it goes; fix: chown root \(real) && chmod 755 \(real)")
        }
        return OutputFolder(descriptor: fd, path: real)
    }
}

/// An open folder that only root can write (``TrustedFiles/openOutputFolder(_:what:)``); root's
/// files are written into it through the descriptor, never through its path again.
public final class OutputFolder: Sendable {
    /// The open folder; closed exactly once, when this object goes.
    let descriptor: Int32
    /// Its real path, for messages.
    public let path: String

    init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { close(descriptor) }

    /// Replaces the file `name` in the folder atomically (a new temporary file, created
    /// exclusively and never through a link, synced, renamed over it; then the folder synced).
    /// Anything at `name` but a regular file is refused (``TrustedFiles/NotARegularFile``).
    public func write(_ text: String, to name: String, mode: mode_t = 0o644) throws {
        try TrustedFiles.replace(name, in: descriptor, folderPath: path, with: text, mode: mode, durable: true)
    }
}
