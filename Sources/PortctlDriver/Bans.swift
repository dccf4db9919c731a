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
    /// replaces an earlier one).
    public func load(now: Date = Date()) -> [Ban] {
        var bans = FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode([Ban].self, from: $0) } ?? []
        if let log = FileManager.default.contents(atPath: logPath) {
            let decoder = JSONDecoder()
            for line in log.split(separator: UInt8(ascii: "\n")) {
                if let ban = try? decoder.decode(Ban.self, from: Data(line)) { bans.append(ban) }
            }
        }
        var latest: [String: Int] = [:]
        for (index, ban) in bans.enumerated() { latest[ban.network] = index }
        return bans.enumerated().filter { latest[$0.element.network] == $0.offset && !$0.element.isExpired(at: now) }.map(\.element)
    }

    /// Appends bans to the log (the caller holds the lock), synced to disk.
    public func append(_ bans: [Ban]) throws {
        var text = ""
        for ban in bans { text += try JSONText.line(ban) + "\n" }
        let fd = open(logPath, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError.errno(errno, "cannot write \(logPath)") }
        defer { close(fd) }
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

    /// Puts the state folder's bans back after the table was created or rewritten.
    public func restoreBans(table: String, stateDirectory: String) {
        try? addBans(BanStore(directory: stateDirectory).load(), table: table)
    }
}
