import Foundation
public import PortPolicy
#if canImport(Glibc)
import Glibc
#endif

/// One applied change: the change-control trail `portctl history` shows and `rollback` uses.
public struct HistoryEntry: Codable, Sendable, Hashable {
    /// Increasing number of the entry.
    public var sequence: Int
    /// When it was applied (ISO 8601, UTC).
    public var time: String
    /// The user who ran it (login name, else uid).
    public var user: String
    /// The SSH client address and port, when run over SSH.
    public var sshClient: String?
    /// What was run: `open`, `apply`, `rollback`, `auto-rollback`, ...
    public var command: String
    /// The full command line.
    public var arguments: [String]
    /// The policy file.
    public var policyFile: String
    /// The policy in force before: the digest of the file's text (see ``StateStore/text(_:)``),
    /// or nil when there was none.
    public var before: String?
    /// The policy in force after: the digest of the file's text, or nil when it was removed.
    public var after: String?
    /// What changed in the kernel.
    public var changes: [PlanDocument.Change]
    /// The batch sent: the digest of its text.
    public var script: String
    /// `pending` while a `--confirm` window is open, then `confirmed` or `rolled back`.
    public var confirmation: String?
    /// The address files the policy before read, as they were then: path to the digest of
    /// their addresses, one per line. A rollback restores those addresses, not the files'
    /// contents of the moment.
    public var beforeFiles: [String: String]?
    /// The same for the policy after.
    public var afterFiles: [String: String]?
    /// Whether portctl's table was out of the kernel before the change (after `disable`).
    public var tableRemovedBefore: Bool?
    /// Whether the change left portctl's table out of the kernel (`disable`): a rollback of the
    /// change that follows removes the table again rather than applying the policy.
    public var tableRemovedAfter: Bool?

    /// Makes an entry (`record` numbers it).
    public init(sequence: Int, time: String, user: String, sshClient: String?, command: String, arguments: [String],
                policyFile: String, before: String?, after: String?, changes: [PlanDocument.Change], script: String,
                confirmation: String?) {
        self.sequence = sequence
        self.time = time
        self.user = user
        self.sshClient = sshClient
        self.command = command
        self.arguments = arguments
        self.policyFile = policyFile
        self.before = before
        self.after = after
        self.changes = changes
        self.script = script
        self.confirmation = confirmation
    }
}

/// A change waiting for `portctl confirm`.
public struct PendingConfirmation: Codable, Sendable, Hashable {
    /// A random token the watchdog checks, so a later change is never rolled back by an old one.
    public var token: String
    /// The history entry to roll back.
    public var sequence: Int
    /// When the rollback happens (seconds since 1970).
    public var deadline: Double
    /// The watchdog's process id.
    public var watchdog: Int32?

    /// Makes a pending confirmation.
    public init(token: String, sequence: Int, deadline: Double, watchdog: Int32?) {
        self.token = token
        self.sequence = sequence
        self.deadline = deadline
        self.watchdog = watchdog
    }
}

/// The state directory: history of applied changes (bounded) and the pending confirmation.
public struct StateStore: Sendable {
    /// The state directory.
    public let directory: String
    /// How many history entries are kept.
    public static let historyLimit = 50

    /// Makes a store.
    public init(directory: String) { self.directory = directory }

    var historyDirectory: String { directory + "/history" }
    var blobDirectory: String { directory + "/history/blobs" }
    var pendingPath: String { directory + "/pending-confirm.json" }

    private func entryNames() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: historyDirectory)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
    }

    private func entry(named name: String) -> HistoryEntry? {
        FileManager.default.contents(atPath: historyDirectory + "/" + name).flatMap { try? JSONDecoder().decode(HistoryEntry.self, from: $0) }
    }

    /// Every kept entry, oldest first (small records: texts live in the blob store).
    public func history() throws -> [HistoryEntry] {
        entryNames().compactMap(entry(named:))
    }

    /// The newest entry whose change stayed in force: an entry marked `undone` (the kernel was
    /// put back because the policy file could not be written) never held, so it is passed over.
    public func latestInForce() throws -> HistoryEntry? {
        for name in entryNames().reversed() {
            guard let entry = entry(named: name) else { continue }
            if !(entry.confirmation?.hasPrefix("undone") ?? false) { return entry }
        }
        return nil
    }

    /// The newest entry (reads one file).
    public func latest() throws -> HistoryEntry? {
        entryNames().last.flatMap(entry(named:))
    }

    /// Stores a text (a policy file, a batch) once, under its digest, and returns the digest.
    public func store(_ text: String) throws -> String {
        let bytes = Array(text.utf8)
        let digest = PlanDocument.digest(bytes)
        let path = blobDirectory + "/" + digest.replacingOccurrences(of: "sha256:", with: "")
        if !FileManager.default.fileExists(atPath: path) {
            try TrustedFiles.makeDirectory(blobDirectory, mode: 0o700)
            try TrustedFiles.writeAtomically(text, to: path)
        }
        return digest
    }

    /// A stored text by digest.
    public func text(_ digest: String?) -> String? {
        guard let digest, digest.hasPrefix("sha256:") else { return nil }
        let path = blobDirectory + "/" + digest.dropFirst("sha256:".count)
        return FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Records an entry (numbering it) and drops the oldest beyond the limit, with the texts
    /// only they used; returns the entry.
    @discardableResult
    public func record(_ entry: HistoryEntry) throws -> HistoryEntry {
        try TrustedFiles.makeDirectory(historyDirectory, mode: 0o700)
        var entry = entry
        entry.sequence = (try latest()?.sequence ?? 0) + 1
        try save(entry)
        let names = entryNames()
        let dropped = names.dropLast(Self.historyLimit)
        if !dropped.isEmpty {
            for name in dropped { try? FileManager.default.removeItem(atPath: historyDirectory + "/" + name) }
            // Every text an entry names stays: policies, batches, and the address files' snapshots.
            let used = Set(try history().flatMap { entry in
                ([entry.before, entry.after, entry.script] + Array((entry.beforeFiles ?? [:]).values) + Array((entry.afterFiles ?? [:]).values))
                    .compactMap { $0?.replacingOccurrences(of: "sha256:", with: "") }
            })
            for blob in (try? FileManager.default.contentsOfDirectory(atPath: blobDirectory)) ?? [] where !used.contains(blob) {
                try? FileManager.default.removeItem(atPath: blobDirectory + "/" + blob)
            }
        }
        return entry
    }

    /// `00000042.json`: names that sort in sequence order.
    static func entryName(_ sequence: Int) -> String {
        let digits = String(sequence)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".json"
    }

    /// Rewrites an existing entry (to update its confirmation).
    public func save(_ entry: HistoryEntry) throws {
        try TrustedFiles.writeAtomically(Self.json(entry), to: historyDirectory + "/" + Self.entryName(entry.sequence))
    }

    /// The pending confirmation, if any.
    public func pending() -> PendingConfirmation? {
        FileManager.default.contents(atPath: pendingPath).flatMap { try? JSONDecoder().decode(PendingConfirmation.self, from: $0) }
    }

    /// Records or clears the pending confirmation.
    public func setPending(_ pending: PendingConfirmation?) throws {
        if let pending {
            try TrustedFiles.writeAtomically(Self.json(pending), to: pendingPath)
        } else {
            unlink(pendingPath)
        }
    }

    static func json(_ value: some Encodable) -> String {
        JSONText.pretty(value)
    }

    /// Who is running this, for the trail: login name (or uid) and the SSH client.
    public static func actor(environment: [String: String]) -> (user: String, sshClient: String?) {
        var user = "uid \(getuid())"
        if let entry = getpwuid(getuid()), let name = entry.pointee.pw_name { user = String(cString: name) }
        if let sudoUser = environment["SUDO_USER"], !sudoUser.isEmpty { user += " (sudo by \(sudoUser))" }
        let ssh = environment["SSH_CONNECTION"]?.split(separator: " ").prefix(2).joined(separator: " ")
        return (user, ssh.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Now, in ISO 8601 UTC.
    public static func now() -> String {
        Timestamp.format(Date())
    }
}
