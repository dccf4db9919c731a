import Foundation
public import PortPolicy

/// What ``ChangeControl/applyPolicyFileAtBoot()`` put in the kernel when the policy file could
/// not be applied.
public enum BootFallback: Sendable, Hashable, CustomStringConvertible {
    /// The policy of the newest change the history records as having left a policy in force
    /// (the last one applied; a `disable` is passed over), with the addresses its address files
    /// held then.
    case lastApplied(sequence: Int, time: String)
    /// The first-run policy (inbound drop; SSH allowed from anywhere, as `portctl` writes it when
    /// there is no policy file): the state folder held no applied policy it could use, for the
    /// reason given.
    case firstRun(sshPorts: String, because: String)
    /// The policy file itself, put in force without a history entry: the file could be applied
    /// but the state folder's history could not be read (for the reason given), and no change
    /// awaited confirmation, so the file holds what the admin last meant.
    case policyFileUnrecorded(because: String)

    /// The fallback in one clause: `the policy of change #3 (2026-12-05T03:00:00Z)`.
    public var description: String {
        switch self {
        case let .lastApplied(sequence, time):
            "the policy of change #\(sequence) (\(time)), the last one applied"
        case let .firstRun(ports, reason):
            "the first-run policy (inbound drop, SSH \(ports) allowed from anywhere), since \(reason)"
        case let .policyFileUnrecorded(reason):
            "the policy file's own policy, not recorded, since \(reason)"
        }
    }
}

/// The policy file could not be applied at boot (``failure``); ``fallback`` was put in force
/// instead, so the host is not left without portctl's table, or, when that failed too,
/// ``fallbackFailure`` says why. Its category is the policy file's failure's.
public struct BootApplyError: PortctlError {
    /// Why the policy file was not applied.
    public var failure: any Error
    /// What is in force instead; nil when no fallback could be applied.
    public var fallback: BootFallback?
    /// Why no fallback could be applied (nil when one was).
    public var fallbackFailure: (any Error)?
    /// The policy file.
    public var policyFile: String
    /// Why the bans the state folder keeps were not put back into the new table (nil when they
    /// were, or when there was nothing to put back).
    public var bansNotRestored: String?

    /// The category of the policy file's failure (a broken file: invalid data, exit 65).
    public var category: ErrorCategory { (failure as? any PortctlError)?.category ?? .runtime }

    /// One line: the failure, then what is in force instead.
    public var description: String {
        let why = String(describing: failure)
        if case .policyFileUnrecorded? = fallback {
            let bans = bansNotRestored.map { "; the bans were not put back: \($0)" } ?? ""
            return "\(policyFile) is in force but was not recorded at boot: \(why)\(bans) (mend what is named, then 'portctl apply')"
        }
        if let fallback {
            let bans = bansNotRestored.map { "; the bans were not put back: \($0)" } ?? ""
            return "\(policyFile) was not applied at boot: \(why); in force instead is \(fallback)\(bans) (mend what is named, then 'portctl apply')"
        }
        let fallbackWhy = fallbackFailure.map { String(describing: $0) } ?? "unknown"
        return "\(why); \(policyFile) was not applied, and no fallback could be: \(fallbackWhy)"
    }
}

extension ChangeControl {
    /// Applies the policy file as ``applyPolicyFile(options:)`` does, for the boot unit (`portctl
    /// apply --boot`): when the file cannot be applied (it does not parse or validate, an address
    /// file is missing, the kernel refuses it), the host is not left open. The policy the
    /// history says is in force is put back (with its address files' addresses of then; see
    /// `applyFallbackHoldingLock` for which change that is); with a damaged history, the file's
    /// own policy when it can be applied, unrecorded; else the first-run policy (inbound drop,
    /// SSH allowed); and the call still
    /// fails with ``BootApplyError``, so the unit fails and says why. The fallback is not
    /// recorded as a change and writes no file: the policy file stays as the admin left it.
    /// A missing privilege is thrown as is (no fallback could be applied either).
    /// Needs CAP_NET_ADMIN; blocks on the state folder's lock.
    public func applyPolicyFileAtBoot() throws -> ChangeResult {
        do {
            return try applyPolicyFile()
        } catch let error as ChangeError {
            switch error {
            case .needsPrivilege: throw error
            // A change awaiting confirmation: its table is in force and a watchdog guards it
            // (`systemctl restart portctl` during a --confirm window), nothing to save; unless
            // the table is gone (`nftables.service` flushed the ruleset): then the last change
            // in force goes back in, and the watchdog still rolls back at the deadline.
            case .awaitingConfirmation:
                let tableInForce = (try? policyTable()).map { table in (try? firewall.live(table: table)) != nil } ?? false
                if tableInForce { throw error }
                throw bootFallback(after: error)
            default: throw bootFallback(after: error)
            }
        } catch {
            throw bootFallback(after: error)
        }
    }

    private func bootFallback(after failure: any Error) -> BootApplyError {
        var result = BootApplyError(failure: failure, fallback: nil, fallbackFailure: nil, policyFile: paths.policyFile)
        var bans: String?
        do {
            result.fallback = try withLock(privileged: "applying the policy") { try applyFallbackHoldingLock(bans: &bans) }
            result.bansNotRestored = bans
        } catch {
            // The lock needs a trusted state folder: the first-run policy needs none of it.
            do {
                result.fallback = try applyFirstRun(bans: &bans, because: "the state folder could not be used (\(error))", restoringBans: false)
                result.bansNotRestored = "the state folder is not trusted"
            } catch {
                result.fallbackFailure = error
            }
        }
        return result
    }

    /// The last applied policy from the history, else the first-run policy. The caller holds the lock.
    ///
    /// The newest change that is in force decides: not one that never held, awaits
    /// confirmation or was rolled back at its deadline (the change before it, or the rollback
    /// after it, says what the kernel held). A `disable` (by hand, or `systemctl stop portctl`,
    /// whose `ExecStop` runs it) is passed over: with a policy file that can be applied, the
    /// unit applies it after a `disable` all the same, so the table that `disable` removed is
    /// the one to restore. A change that left no policy (the rollback of the first one) leaves
    /// the first-run policy, never an older one.
    private func applyFallbackHoldingLock(bans: inout String?) throws -> BootFallback {
        let applied: HistoryEntry?
        do {
            applied = try state.history().reversed().first { entry in
                guard entry.policyFile == paths.policyFile, !entry.neverHeld, entry.command != "disable",
                      entry.writesFileOnly != true else { return false }
                switch entry.confirmation {
                case .pending?, .rolledBack?: return false
                default: return true
                }
            }
        } catch {
            let reason = "the history could not be read (\(error))"
            // The file itself, when it can be applied and no change awaited confirmation (its
            // text would then be the unconfirmed change's).
            if !FileManager.default.fileExists(atPath: state.pendingPath), let loaded = try? store.loadWithBytes() {
                var policy = loaded.policy
                _ = policy.removeExpired(at: Date())
                do {
                    try policy.validate()
                    bans = try put(policy)
                    return .policyFileUnrecorded(because: reason)
                } catch {
                    // Not even the file: the first-run policy, below.
                }
            }
            return try applyFirstRun(bans: &bans, because: reason)
        }
        guard let applied else {
            return try applyFirstRun(bans: &bans, because: "the state folder records no policy applied")
        }
        // What the change left in the kernel: the file's text, unless it wrote only the file
        // (`import ufw`), when the table stayed what it was.
        let source = applied.kernelAfter ?? HistoryEntry.TableSource(policy: applied.after, files: applied.afterFiles)
        guard let digest = source.policy else {
            return try applyFirstRun(bans: &bans, because: "change #\(applied.sequence), the last in force, left no policy")
        }
        do {
            guard let text = try state.text(digest) else {
                return try applyFirstRun(bans: &bans, because: "the policy of change #\(applied.sequence) is not kept in the state folder")
            }
            var policy = try PolicyFile.decode(text, readSourceFile: snapshotReader(source.files))
            _ = policy.removeExpired(at: Date())
            bans = try put(policy)
            return .lastApplied(sequence: applied.sequence, time: applied.time)
        } catch {
            return try applyFirstRun(bans: &bans, because: "the policy of change #\(applied.sequence) could not be applied (\(error))")
        }
    }

    private func applyFirstRun(bans: inout String?, because reason: String, restoringBans: Bool = true) throws -> BootFallback {
        let policy = PortPolicy.firstRun(sshPort: sshServerPort)
        bans = try put(policy, restoringBans: restoringBans)
        let ports = policy.rules.first.map(\.portsDescription) ?? "22/tcp"
        return .firstRun(sshPorts: ports, because: reason)
    }

    /// Makes portctl's table `policy` (planned against the live table, one batch; nothing
    /// cached, nothing recorded), and puts the state folder's bans back when the table is new
    /// (unless `restoringBans` is false: the folder is not to be trusted). Returns why the bans
    /// were not put back, if they were due and were not: the table goes in all the same, since
    /// a closed host matters more than its bans.
    private func put(_ policy: PortPolicy, restoringBans: Bool = true) throws -> String? {
        let plan = Planner.plan(policy, live: try firewall.live(table: policy.table))
        var bans: [Ban] = [], problem: String?
        if restoringBans && plan.recreatesBanSets {
            do {
                bans = try BanStore(directory: paths.stateDirectory).load()
            } catch {
                problem = String(describing: error)
            }
        }
        try firewall.apply(plan)
        if plan.recreatesBanSets {
            let restored = firewall.restoreBans(bans, table: policy.table)
            if problem == nil, !restored.isEmpty { problem = "\(restored.count) of \(bans.count) refused by the kernel" }
        }
        return problem
    }
}
