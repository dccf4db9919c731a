public import Foundation
public import PortPolicy
#if canImport(Glibc)
import Glibc
#endif

/// One banned address or network (`portctl ban`): state, not policy. Kept in the state folder so
/// that `apply` can put the bans back when it rewrites the table; the kernel expires them.
public struct Ban: Codable, Sendable, Hashable {
    /// The address or network.
    public var network: String
    /// When the ban ends (ISO 8601), or nil for a ban until `unban`.
    public var expires: String?
    /// A note (fail2ban's jail, say).
    public var comment: String?
    /// When it was banned.
    public var added: String
    /// Packets the ban dropped, read from the kernel's per-element counter (``ChangeControl/bans()``);
    /// nil when not read. Never stored.
    public var hits: Int?
    /// Whether the kernel holds the ban (read with ``hits``; nil when not read). A ban the
    /// kernel refused to take back into a rewritten table is in the state folder only. Never stored.
    public var inKernel: Bool?

    /// Makes a ban.
    public init(network: IPNetwork, expires: Date?, comment: String?, added: Date = Date()) {
        self.network = network.description
        self.expires = expires.map(Timestamp.format)
        self.comment = comment
        self.added = Timestamp.format(added)
    }

    /// The network, parsed.
    public var parsed: IPNetwork? { try? IPNetwork(parsing: network) }

    /// When it ends.
    public var expiry: Date? { expires.flatMap(Timestamp.parse) }

    /// Whether it has ended by `now`.
    public func isExpired(at now: Date) -> Bool { expiry.map { $0 <= now } ?? false }

    /// Why a ban read from the state folder cannot be used, or nil when it can.
    var problem: String? {
        if parsed == nil { return "names \(quoted(network)), which is not an IPv4 or IPv6 address or CIDR" }
        if let expires, Timestamp.parse(expires) == nil { return "has the expiry \(quoted(expires)), which is not an ISO 8601 time" }
        return nil
    }
}

/// The bans kept in the state folder cannot be read: the file is damaged, or this user may not
/// read it. Nothing was changed; no ban was dropped.
public struct BanStateError: Error, Sendable, CustomStringConvertible {
    /// What is wrong with the file.
    public enum Problem: Sendable, Hashable {
        /// It could not be opened or read (`EACCES`: it needs root).
        case unreadable(errno: Int32)
        /// Its contents are not bans (at `line` of the log, when known).
        case damaged(line: Int?, reason: String)
    }

    /// The file (`bans.json` or `bans.log` in the state folder).
    public let path: String
    /// What is wrong.
    public let problem: Problem

    /// Makes an error.
    public init(path: String, problem: Problem) {
        self.path = path
        self.problem = problem
    }

    /// Whether reading needs more privilege than this process has.
    public var needsPrivilege: Bool {
        if case let .unreadable(code) = problem { return code == EACCES || code == EPERM }
        return false
    }

    /// One line: the file, what is wrong, and that nothing was changed.
    public var description: String {
        switch problem {
        case let .unreadable(code) where code == EACCES || code == EPERM:
            return "cannot read the bans in \(path): permission denied (the state folder is root's: try sudo portctl ...)"
        case let .unreadable(code):
            return "cannot read the bans in \(path): \(String(cString: strerror(code)))"
        case let .damaged(line, reason):
            return "the ban state \(path) is damaged\(line.map { " at line \($0)" } ?? ""): \(reason); nothing was changed (while portctl's table is in the kernel, its ban sets hold the bans in force: 'nft list set inet TABLE portctl-bans-h4' shows them; repair or remove the file)"
        }
    }
}

/// The bans kept in the state folder: `bans.json` (the list as last compacted) and `bans.log`
/// (bans added since, one JSON object a line). A ban appends one line, so banning one address
/// costs the same with 100,000 bans as with none; an unban rewrites the list and empties the log.
public struct BanStore: Sendable {
    /// The state folder.
    public let directory: String

    /// Makes a store.
    public init(directory: String) { self.directory = directory }

    var path: String { directory + "/bans.json" }
    var logPath: String { directory + "/bans.log" }

    /// The bans in force at `now` (expired ones are left out; a later ban of the same source
    /// replaces an earlier one). Missing files hold no bans; a file that cannot be read, or a
    /// damaged one (a truncated list, a line of the log that is not a ban, an address that does
    /// not parse), is a ``BanStateError`` naming it: damaged state is never read as "no bans".
    public func load(now: Date = Date()) throws -> [Ban] {
        var bans: [Ban] = []
        if let data = try Self.contents(path) {
            let decoded: [Ban]
            do {
                decoded = try JSONDecoder().decode([Ban].self, from: data)
            } catch {
                throw BanStateError(path: path, problem: .damaged(line: nil, reason: "not a JSON list of bans (truncated or edited?)"))
            }
            for (index, ban) in decoded.enumerated() {
                if let reason = ban.problem {
                    throw BanStateError(path: path, problem: .damaged(line: nil, reason: "ban #\(index + 1) \(reason)"))
                }
            }
            bans = decoded
        }
        if let log = try Self.contents(logPath) {
            let decoder = JSONDecoder()
            for (index, line) in log.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
                if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
                guard let ban = try? decoder.decode(Ban.self, from: Data(line)) else {
                    throw BanStateError(path: logPath, problem: .damaged(line: index + 1, reason: "not a ban record (truncated or edited?)"))
                }
                if let reason = ban.problem {
                    throw BanStateError(path: logPath, problem: .damaged(line: index + 1, reason: reason))
                }
                bans.append(ban)
            }
        }
        var latest: [String: Int] = [:]
        for (index, ban) in bans.enumerated() { latest[ban.network] = index }
        return bans.enumerated().filter { latest[$0.element.network] == $0.offset && !$0.element.isExpired(at: now) }.map(\.element)
    }

    /// A state file's bytes, or nil when it does not exist (the folder may be missing too).
    static func contents(_ path: String) throws -> Data? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { return nil }
            throw BanStateError(path: path, problem: .unreadable(errno: code))
        }
        defer { close(fd) }
        do {
            return try TrustedFiles.readAll(fd, path: path, limit: 1 << 30)
        } catch {
            throw BanStateError(path: path, problem: .unreadable(errno: errno))
        }
    }

    /// Appends bans to the log (the caller holds the lock), synced to disk.
    public func append(_ bans: [Ban]) throws {
        var text = ""
        for ban in bans { text += try JSONText.line(ban) + "\n" }
        let fd = open(logPath, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError.errno(errno, "cannot write \(logPath)") }
        defer { close(fd) }
        // A line torn by a crash stays a damaged line of its own, never swallowing this one.
        var info = stat()
        var last: UInt8 = 0
        if fstat(fd, &info) == 0, info.st_size > 0, pread(fd, &last, 1, info.st_size - 1) == 1, last != UInt8(ascii: "\n") {
            text = "\n" + text
        }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw SystemError.errno(errno, "cannot write \(logPath)")
            }
            offset += written
        }
        if fsync(fd) != 0 { throw SystemError.errno(errno, "cannot sync \(logPath)") }
    }

    /// Replaces the whole list (atomically; the caller holds the lock) and empties the log.
    public func save(_ bans: [Ban]) throws {
        try TrustedFiles.writeAtomically(StateStore.json(bans), to: path, mode: 0o600)
        unlink(logPath)
    }
}

extension Firewall {
    /// The batch that puts bans into the kernel: single addresses into the plain sets (one
    /// element, constant time), networks into the interval sets, each with its time left.
    public static func banBatch(_ bans: [Ban], table: String, now: Date = Date()) -> Batch {
        var batch = Batch()
        for ban in bans {
            guard let network = ban.parsed else { continue }
            let single = network.prefixLength == network.family.bitWidth
            let timeout = ban.expiry.map { max(1, Int($0.timeIntervalSince(now).rounded(.up))) }
            batch.operations.append(.addElements(table: table, set: Renderer.banSetName(network.family, networks: !single),
                                                 elements: [SetElement(network, timeout: timeout)]))
        }
        return batch
    }

    /// Puts bans into the kernel, in one batch.
    public func addBans(_ bans: [Ban], table: String, now: Date = Date()) throws(NftablesError) {
        try run(Self.banBatch(bans, table: table, now: now))
    }

    /// Takes bans out of the kernel; ones the kernel has already expired are no error.
    public func removeBans(_ networks: [IPNetwork], table: String) throws(NftablesError) {
        for network in networks {
            let single = network.prefixLength == network.family.bitWidth
            let set = Renderer.banSetName(network.family, networks: !single)
            do {
                try run(Batch([.deleteElements(table: table, set: set, elements: [network])]))
            } catch where error.kind == .notFound {
                continue
            }
        }
    }

    /// How many packets each ban has dropped since it was put in the kernel (the ban sets count
    /// per element); bans the kernel does not hold are missing.
    public func banHits(table: String) -> [IPNetwork: Int] {
        var hits: [IPNetwork: Int] = [:]
        for family in IPFamily.allCases {
            for networks in [false, true] {
                let name = Renderer.banSetName(family, networks: networks)
                guard let json = try? backend.listJSON("list set inet \(table) \(name)") else { continue }
                hits.merge(LiveTable.elementPackets(json: json)) { $0 + $1 }
            }
        }
        return hits
    }

    /// Puts bans back after the table was created or rewritten: every ban the kernel accepts
    /// goes in, and each one it refuses (a network overlapping another, an expiry it cannot hold)
    /// is returned with the kernel's reason. One batch when all are good; a refused batch is split
    /// in halves until the refused bans are alone, so one bad ban costs a few batches, not all bans.
    public func restoreBans(_ bans: [Ban], table: String, now: Date = Date()) -> [UnrestoredBan] {
        var refused: [UnrestoredBan] = []
        var pending: [ArraySlice<Ban>] = [bans[...]]
        while let part = pending.popLast() {
            if part.isEmpty { continue }
            do {
                try addBans(Array(part), table: table, now: now)
            } catch {
                if part.count == 1 || error.kind == .notFound || error.kind == .permissionDenied {
                    refused += part.map { UnrestoredBan(ban: $0, reason: error.description) }
                    continue
                }
                let middle = part.startIndex + part.count / 2
                pending += [part[middle...], part[..<middle]]
            }
        }
        return refused
    }
}

/// A ban that could not be put back into a rewritten table. It stays in the state folder.
public struct UnrestoredBan: Sendable, Hashable {
    /// The ban.
    public var ban: Ban
    /// Why the kernel refused it (libnftables' first error line).
    public var reason: String
}
