public import Foundation
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
    /// Where a `--confirm` change stands (pending, confirmed, rolled back), or why a change
    /// never took hold (undone, interrupted); nil for a plain change.
    public var confirmation: ConfirmationState?
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
    /// The digest of the saved plan applied (`portctl apply FILE`), if any.
    public var plan: String?
    /// How far the change got, while it is being made: the entry is written before the kernel
    /// is touched, so a process killed half-way leaves a trail, and the next command settles it
    /// (see ``ChangeControl``). nil once the change is complete.
    public var progress: Progress?
    /// What portctl's table was made from before the change, where that was not the policy
    /// file's text ``before``: the change before this one wrote only the file (`import ufw`).
    /// nil: the table was made from ``before`` (or removed, see ``tableRemovedBefore``).
    public var kernelBefore: TableSource?
    /// The same after the change: set by a change that wrote only the policy file and left the
    /// table as it was (`import ufw`). A rollback puts the file back to its text and the table
    /// back to this.
    public var kernelAfter: TableSource?
    /// Whether the change wrote only the policy file and left the kernel as it was (`import
    /// ufw`, and the rollback of one): undoing it puts back only the file, and what is in force
    /// in the kernel is decided by the changes before it.
    public var writesFileOnly: Bool?

    /// What portctl's table was made from, where the history must say it apart from the policy
    /// file's text.
    public struct TableSource: Codable, Sendable, Hashable {
        /// The digest of the policy text the table was made from (see ``StateStore/text(_:)``);
        /// nil: there was no portctl table.
        public var policy: String?
        /// The address files that policy read, as they were then (as ``HistoryEntry/afterFiles``).
        public var files: [String: String]?

        /// Makes a source.
        public init(policy: String?, files: [String: String]?) {
            self.policy = policy
            self.files = files
        }
    }

    /// Every stored text the entry names by digest: policies, the batch, address-file snapshots.
    var digests: [String?] {
        [before, after, script, kernelBefore?.policy, kernelAfter?.policy]
            + [beforeFiles, afterFiles, kernelBefore?.files, kernelAfter?.files].flatMap { Array(($0 ?? [:]).values).map(Optional.some) }
    }

    /// What the change did, in one line: the command's words and its changes, at most three of
    /// them and how many more (`apply of plan sha256:… : added web: allow 443/tcp from any`).
    public var summary: String {
        let real = changes.filter { $0.kind != "drift" }
        let drift = changes.count - real.count
        var parts = real.prefix(3).map(\.sentence)
        if real.count > 3 { parts.append("and \(real.count - 3) more") }
        if drift > 0 { parts.append("repaired \(drift) drift\(drift == 1 ? "" : "s")") }
        if parts.isEmpty { parts.append(tableRemovedAfter == true ? "removed the table" : "no kernel change") }
        let what = parts.joined(separator: "; ")
        if let plan { return "apply of plan \(plan.prefix(19))…: " + what }
        if tableRemovedAfter == true && command == "disable" { return "disable: removed the table" }
        return command + ": " + what
    }

    /// Whether the change never took hold: the kernel was put back (`undone`), or the process
    /// making it was killed before it was complete (`interrupted`).
    public var neverHeld: Bool {
        switch confirmation {
        case .undone?, .interrupted?: true
        default: false
        }
    }

    /// When the change was made (nil only for a time the history cannot read).
    public var date: Date? { Timestamp.parse(time) }

    /// The command a confirmation deadline's automatic rollback records.
    public static let automaticRollback = "auto-rollback"

    /// Whether the change is the automatic rollback of a `--confirm` change nobody confirmed.
    public var isAutomaticRollback: Bool { command == Self.automaticRollback }

    /// The steps of a change, in order, as recorded while it is being made.
    public enum Progress: String, Codable, Sendable, Hashable {
        /// Recorded; the batch may or may not have reached the kernel.
        case recorded
        /// The kernel took the batch; the policy file may not be written yet.
        case kernelChanged
    }

    /// Makes an entry (`record` numbers it).
    public init(sequence: Int, time: String, user: String, sshClient: String?, command: String, arguments: [String],
                policyFile: String, before: String?, after: String?, changes: [PlanDocument.Change], script: String,
                confirmation: ConfirmationState?) {
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

/// Something in the state folder that portctl cannot read as it wrote it: a truncated or edited
/// history entry, a blob whose contents do not match its digest, a number out of range. portctl
/// stops rather than guess: a guess could renumber, hide or undo the wrong change.
public struct StateDamage: Error, Sendable, CustomStringConvertible {
    /// The damaged file.
    public let path: String
    /// What is wrong with it.
    public let problem: String

    /// `FILE: PROBLEM; ...`.
    public var description: String {
        "\(path): \(problem); nothing was changed (portctl will not write history or roll back past a damaged record: restore the file from a backup, or move it aside if you accept losing it)"
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
    /// The highest sequence number ever given, so numbers only grow even when entries are pruned
    /// or moved aside.
    var counterPath: String { directory + "/history/last-sequence" }
    /// The highest sequence number portctl gives (nine digits): far beyond any real history, and
    /// far from any arithmetic limit.
    public static let maximumSequence = 999_999_999

    /// The entries' file names with their numbers, in sequence order. A name that looks like an
    /// entry but whose number is out of range is damage.
    private func entryFiles() throws -> [(sequence: Int, name: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: historyDirectory)) ?? []
        var files: [(sequence: Int, name: String)] = []
        for name in names where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let digits = name.dropLast(".json".count)
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { continue }
            guard digits.count <= 12, let sequence = Int(digits), (1...Self.maximumSequence).contains(sequence) else {
                throw StateDamage(path: historyDirectory + "/" + name, problem: "the entry number is out of range (1 to \(Self.maximumSequence))")
            }
            files.append((sequence, name))
        }
        return files.sorted { $0.sequence < $1.sequence }
    }

    /// Reads one entry; anything but a whole entry numbered as its file is ``StateDamage``.
    private func entry(_ file: (sequence: Int, name: String)) throws -> HistoryEntry {
        let path = historyDirectory + "/" + file.name
        guard let data = try Self.readRegularFile(path) else {
            throw StateDamage(path: path, problem: "the history entry vanished while it was read")
        }
        let entry: HistoryEntry
        do {
            entry = try JSONDecoder().decode(HistoryEntry.self, from: data)
        } catch {
            throw StateDamage(path: path, problem: "not a whole history entry (truncated or damaged)")
        }
        guard entry.sequence == file.sequence else {
            throw StateDamage(path: path, problem: "it says it is entry #\(entry.sequence), but its name says #\(file.sequence)")
        }
        for digest in entry.digests {
            if let digest, Self.blobName(digest) == nil {
                throw StateDamage(path: path, problem: "it names a stored text by something that is not a sha256 digest")
            }
        }
        return entry
    }

    /// Every kept entry, oldest first (small records: texts live in the blob store). A damaged
    /// entry throws ``StateDamage`` naming it: it is never skipped.
    public func history() throws -> [HistoryEntry] {
        try entryFiles().map(entry)
    }

    /// The newest entry whose change stayed in force: an entry marked `undone` (the kernel was
    /// put back because the policy file could not be written) or `interrupted` never held, so
    /// it is passed over. With `policyFile`, only that file's changes count.
    public func latestInForce(policyFile: String? = nil) throws -> HistoryEntry? {
        for file in try entryFiles().reversed() {
            let entry = try entry(file)
            if let policyFile, entry.policyFile != policyFile { continue }
            if !entry.neverHeld { return entry }
        }
        return nil
    }

    /// The newest entry (reads one file).
    public func latest() throws -> HistoryEntry? {
        try entryFiles().last.map(entry)
    }

    /// The file name of a stored text: the digest's 64 hex digits, or nil for anything else
    /// (a digest read from disk is never used as a path unless it is one).
    static func blobName(_ digest: String) -> String? {
        guard digest.hasPrefix("sha256:") else { return nil }
        let hex = digest.dropFirst("sha256:".count)
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        return String(hex)
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

    /// A stored text by digest, or nil when it is not kept. A digest that is not one, or a text
    /// whose contents do not match its digest, is ``StateDamage``.
    public func text(_ digest: String?) throws -> String? {
        guard let digest else { return nil }
        guard let name = Self.blobName(digest) else {
            throw StateDamage(path: blobDirectory, problem: "\(quoted(digest)) is not a sha256 digest")
        }
        let path = blobDirectory + "/" + name
        guard let data = try Self.readRegularFile(path) else { return nil }
        guard PlanDocument.digest(Array(data)) == digest else {
            throw StateDamage(path: path, problem: "its contents do not match its digest (damaged or edited)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// A file of the state folder, or nil when missing; anything but a regular file is damage.
    static func readRegularFile(_ path: String) throws -> Data? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            if errno == ELOOP { throw StateDamage(path: path, problem: "it is a symbolic link") }
            throw SystemError.errno(errno, "cannot read \(path)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw StateDamage(path: path, problem: "it is not a regular file")
        }
        return try TrustedFiles.readAll(fd, path: path, limit: 4 * PolicyStore.maximumFileSize)
    }

    /// The highest number given so far: the counter's, or a higher entry's.
    func lastSequence() throws -> Int {
        var last = try entryFiles().last?.sequence ?? 0
        if let data = try Self.readRegularFile(counterPath) {
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard text.count <= 12, let counted = Int(text), (0...Self.maximumSequence).contains(counted) else {
                throw StateDamage(path: counterPath, problem: "not a sequence number from 0 to \(Self.maximumSequence)")
            }
            last = max(last, counted)
        }
        return last
    }

    /// Records an entry (numbering it past every number given before) and drops the oldest
    /// beyond the limit, with the texts only they used; returns the entry. Every kept entry is
    /// read first: a damaged one stops the change (``StateDamage``).
    @discardableResult
    public func record(_ entry: HistoryEntry) throws -> HistoryEntry {
        try TrustedFiles.makeDirectory(historyDirectory, mode: 0o700)
        let kept = try history()
        let last = try lastSequence()
        guard last < Self.maximumSequence else {
            throw StateDamage(path: counterPath, problem: "the history has used every sequence number up to \(Self.maximumSequence)")
        }
        var entry = entry
        entry.sequence = last + 1
        try save(entry)
        try TrustedFiles.writeAtomically("\(entry.sequence)\n", to: counterPath, mode: 0o600)
        let all = kept + [entry]
        let dropped = all.dropLast(Self.historyLimit)
        if !dropped.isEmpty {
            for old in dropped { try? FileManager.default.removeItem(atPath: historyDirectory + "/" + Self.entryName(old.sequence)) }
            // Every text an entry names stays: policies, batches, and the address files' snapshots.
            let used = Set(all.suffix(Self.historyLimit).flatMap { entry in
                entry.digests.compactMap { $0.flatMap(Self.blobName) }
            })
            for blob in (try? FileManager.default.contentsOfDirectory(atPath: blobDirectory)) ?? [] where !used.contains(blob) {
                try? FileManager.default.removeItem(atPath: blobDirectory + "/" + blob)
            }
        }
        return entry
    }

    /// Removes an entry whose change never happened (its batch was refused before anything
    /// changed). Its number stays used.
    func discard(_ entry: HistoryEntry) {
        unlink(historyDirectory + "/" + Self.entryName(entry.sequence))
    }

    /// `00000042.json` (more digits past 99,999,999; entries are sorted by number, not name).
    static func entryName(_ sequence: Int) -> String {
        let digits = String(sequence)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".json"
    }

    /// Rewrites an existing entry (to update its confirmation).
    public func save(_ entry: HistoryEntry) throws {
        try TrustedFiles.writeAtomically(Self.json(entry), to: historyDirectory + "/" + Self.entryName(entry.sequence))
    }

    /// The pending confirmation, if any. A damaged file, or one whose numbers are out of range,
    /// is ``StateDamage``: a change may be waiting to be rolled back.
    public func pending() throws -> PendingConfirmation? {
        guard let data = try Self.readRegularFile(pendingPath) else { return nil }
        let pending: PendingConfirmation
        do {
            pending = try JSONDecoder().decode(PendingConfirmation.self, from: data)
        } catch {
            throw StateDamage(path: pendingPath, problem: "not a whole confirmation record (truncated or damaged)")
        }
        // Up to the year 2100, well inside what Date and Int arithmetic hold.
        guard pending.deadline.isFinite, (0...4_102_444_800).contains(pending.deadline) else {
            throw StateDamage(path: pendingPath, problem: "the deadline \(pending.deadline) is not a time between 1970 and 2100")
        }
        guard (1...Self.maximumSequence).contains(pending.sequence) else {
            throw StateDamage(path: pendingPath, problem: "the entry number \(pending.sequence) is out of range (1 to \(Self.maximumSequence))")
        }
        if let pid = pending.watchdog, pid <= 1 {
            throw StateDamage(path: pendingPath, problem: "the watchdog process id \(pid) is not a process portctl started")
        }
        return pending
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

/// Where a history entry's change stands, written in the history files as text (`pending`,
/// `confirmed`, `rolled back`, `undone: WHY`, `interrupted: WHY`).
public enum ConfirmationState: Codable, Sendable, Hashable, CustomStringConvertible {
    /// A `--confirm` window is open.
    case pending
    /// `portctl confirm` kept it.
    case confirmed
    /// The deadline passed, or a rollback ended the window: the change was rolled back.
    case rolledBack
    /// The change was put back at once (the policy file could not be written, the watchdog did
    /// not start), with why.
    case undone(String)
    /// The process making it was killed before it was complete, with what that left.
    case interrupted(String)
    /// Text this portctl does not know (written by another version), kept as it is.
    case other(String)

    /// Reads the history's text.
    public init(text: String) {
        switch text {
        case "pending": self = .pending
        case "confirmed": self = .confirmed
        case "rolled back": self = .rolledBack
        case _ where text.hasPrefix("undone: "): self = .undone(String(text.dropFirst("undone: ".count)))
        case _ where text.hasPrefix("interrupted: "): self = .interrupted(String(text.dropFirst("interrupted: ".count)))
        default: self = .other(text)
        }
    }

    /// The history's text.
    public var description: String {
        switch self {
        case .pending: "pending"
        case .confirmed: "confirmed"
        case .rolledBack: "rolled back"
        case let .undone(why): "undone: " + why
        case let .interrupted(what): "interrupted: " + what
        case let .other(text): text
        }
    }

    /// Reads the text from a history file.
    public init(from decoder: any Decoder) throws {
        self.init(text: try decoder.singleValueContainer().decode(String.self))
    }

    /// Writes the text, as history files always held it.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
