public import Foundation
public import PortPolicy

/// What ``ChangeControl/importPolicy(_:command:replace:options:)`` wrote, or in a dry run, would
/// write.
public struct ImportedPolicy: Sendable {
    /// The policy as written: the one given, in the table an existing policy file names.
    public var policy: PortPolicy
    /// The policy file's text (`PolicyFile.encode(_:)` of ``policy``).
    public var text: String
    /// The policy file's bytes before the import; nil when there was none.
    public var previousBytes: Data?
    /// Whether the file's text changes (or would): false when it holds ``text`` already.
    public var policyChanged: Bool
    /// Where the previous policy file was kept; nil when nothing was kept.
    public var previousCopy: String?
    /// Whether the policy file was written (false for a dry run or an unchanged file).
    public var written: Bool
    /// The history entry recorded for the import.
    public var entry: HistoryEntry?
    /// The confirmation deadline armed for it.
    public var confirmation: PendingConfirmation?
    /// What the caller should say besides the import itself (an orphaned change rolled back first).
    public var warnings: [ChangeWarning]
}

extension ChangeControl {
    /// What is appended to the policy file's path to name the copy of the file an import replaced.
    public static let importCopySuffix = ".before-import"

    /// Makes `policy`, translated from another firewall's configuration (`UfwImport`), the policy
    /// file, as one recorded change that leaves the kernel as it is (``applyPolicyFile(options:)``
    /// applies it later): ``history()`` lists it as `command`; ``rollBack(command:force:)`` puts
    /// the previous file back (or removes the file when there was none); with
    /// ``ChangeOptions/confirmSeconds`` the watchdog does that unless ``confirm()`` runs in time.
    ///
    /// The policy keeps the table an existing policy file names (portctl keeps to the table it
    /// owns). A policy file that holds another policy is refused
    /// (``ChangeError/policyFileExists(path:)``) unless `replace`; it is then kept beside the
    /// file, its path followed by ``importCopySuffix``. A file that holds the text already is
    /// left alone and nothing is recorded. ``ChangeOptions/dryRun`` writes nothing and needs no
    /// privilege; ``ChangeOptions/force`` means nothing here (the kernel is not changed, so there
    /// is nothing to guard). Otherwise needs CAP_NET_ADMIN (as every recorded change: a rollback
    /// puts the table back too), and blocks on the policy lock.
    public func importPolicy(_ policy: PortPolicy, command: String = "import", replace: Bool,
                             options: ChangeOptions = ChangeOptions()) throws -> ImportedPolicy {
        try withLock(privileged: "writing the policy file", dryRun: options.dryRun) {
            // Before reading the policy file: an orphaned --confirm change is rolled back first.
            let orphan = options.dryRun ? nil : try refuseWhileConfirmationPending()
            let existing = try store.readData()
            var policy = policy
            if let existing, let table = Self.tableName(String(decoding: existing, as: UTF8.self)) { policy.table = table }
            try policy.validate()
            let text = PolicyFile.encode(policy)
            var result = ImportedPolicy(policy: policy, text: text, previousBytes: existing,
                                        policyChanged: existing.map { Array($0) != Array(text.utf8) } ?? true,
                                        previousCopy: nil, written: false, entry: nil, confirmation: nil,
                                        warnings: orphan.map { [.orphanRolledBack($0)] } ?? [])
            if options.dryRun || !result.policyChanged { return result }
            if existing != nil && !replace { throw ChangeError.policyFileExists(path: paths.policyFile) }
            try requireWatchdog(options)
            let previousText = existing.map { String(decoding: $0, as: UTF8.self) }
            // The address files' snapshot of the policy replaced; a file it cannot read now
            // leaves the rollback reading that file as it then is.
            let previousPolicy = existing != nil ? (try? store.loadWithBytes())??.policy : nil
            var entry = try record(command: command, previousText: previousText, after: text,
                                   plan: Plan(table: policy.table, changes: [], batch: Batch(), replacesTable: false),
                                   pending: options.confirmSeconds != nil, beforePolicy: previousPolicy, afterPolicy: policy,
                                   keepsTable: true)
            let copy = paths.policyFile + Self.importCopySuffix
            // The copy is this change's first step, as the batch is for others: when it cannot be
            // written, the entry goes and nothing changed.
            try sendRecorded(&entry, fileFollows: true) {
                if let previousText { try TrustedFiles.write(previousText, to: copy, what: "the previous policy file") }
            }
            if previousText != nil { result.previousCopy = copy }
            try interruption?(.kernelChanged)
            do {
                try store.save(text: text)
            } catch {
                markUnwritten(&entry)
                throw error
            }
            try completeRecorded(&entry)
            result.written = true
            result.entry = entry
            if let seconds = options.confirmSeconds { result.confirmation = try armConfirmation(entry, seconds: seconds) }
            return result
        }
    }
}
