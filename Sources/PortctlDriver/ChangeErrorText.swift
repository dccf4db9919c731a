public import PortPolicy

extension ChangeError: PortctlError {
    /// One line in the admin's words: what was refused and what to do about it.
    public var description: String { parts.text }

    /// What kind of failure it is (the exit code the CLI uses).
    public var category: ErrorCategory { parts.category }

    private var parts: (text: String, category: ErrorCategory) {
        switch self {
        case let .needsPrivilege(doing):
            return ("\(doing) needs root or CAP_NET_ADMIN (try: sudo portctl ...)", .needsPrivilege)
        case let .noPolicyFile(path):
            return ("no policy file at \(path); run 'portctl open PORT' to create one, or pass --policy", .runtime)
        case let .awaitingConfirmation(sequence, secondsLeft):
            return ("change #\(sequence) awaits confirmation (rolls back in \(secondsLeft)s): run 'portctl confirm' to keep it or 'portctl rollback' to undo it, then try again", .runtime)
        case let .wouldLockOut(decision, connection, expiring):
            return (LockoutGuard.refusal(decision, connection: connection, expiring: expiring), .runtime)
        case let .unreadableSSHConnection(value):
            return ("cannot check this change against locking out your SSH session: SSH_CONNECTION \(quoted(value)) is not \"CLIENT PORT SERVER PORT\"; fix the variable, or add --force to change without the check", .runtime)
        case let .untrustedStateFolder(path):
            return ("refusing the state folder \(path): users other than root could have written it (it, a folder above it, or a link on the way is theirs); fix: make it root's, mode 700, reached through root's folders", .runtime)
        case let .nothingToRollBack(directory):
            return ("nothing to roll back: no change has been applied with this state directory (\(directory))", .runtime)
        case let .otherPolicyFile(sequence, entryFile, policyFile):
            return ("refusing to roll back change #\(sequence): it was made through the policy file \(entryFile), not \(policyFile); roll it back with --policy \(entryFile)", .runtime)
        case let .noSuchChange(sequence, kept):
            return ("no history entry #\(sequence) (kept: \(kept.first.map { "#\($0)" } ?? "none")\(kept.count > 1 ? "...#\(kept.last!)" : ""))", .usage)
        case let .neverInForce(sequence, state):
            return ("change #\(sequence) never took hold (\(state.split(separator: ":").first ?? "")): there is nothing of it to go back to; pick another from 'portctl history'", .runtime)
        case let .policyFileNotAsLeft(sequence, policyFile):
            return ("refusing to roll back: the policy file \(policyFile) is not what change #\(sequence) left (edited by hand, or the records of later changes were moved aside), and a rollback would discard that; 'portctl plan' shows how it differs from the kernel; add --force to roll back anyway", .runtime)
        case let .missingHistory(sequence, directory):
            return ("cannot roll back change #\(sequence): the policy it replaced is missing from \(directory)/history", .runtime)
        case let .confirmedTooLate(sequence, time):
            return ("too late: the change was rolled back at \(time) (history #\(sequence))", .runtime)
        case let .policyFileExists(path):
            return ("refusing to replace \(path), which holds a policy already: add --replace to replace it (the old file is kept as \(path)\(ChangeControl.importCopySuffix)), or write another file with --policy FILE", .runtime)
        case .noWatchdog:
            return ("a confirmation deadline needs a watchdog to enforce it, and none was given; nothing was changed", .runtime)
        case let .watchdogFailed(command, reason, rolledBack):
            let then = rolledBack ? "the change was rolled back at once"
                : "rolling the change back failed too: it waits for confirmation with no watchdog; run 'portctl rollback'"
            return ("the --confirm watchdog (\(command.joined(separator: " "))) did not start: \(reason); \(then)", .runtime)
        case let .wouldBanOwnClient(network, client):
            return ("refusing: banning \(network) would ban your own SSH client \(client); add --force to ban it anyway", .runtime)
        case let .banCoversBan(network, banned):
            return ("\(network) covers the banned network \(banned): unban it first", .usage)
        case let .wouldBanThisHost(network, address, interface):
            return ("refusing: banning \(network) would drop this host's own traffic (it holds \(address), \(interface == "lo" ? "loopback" : "an address of \(interface)"), and bans are checked before loopback is accepted); add --force to ban it anyway", .runtime)
        case let .unbanInsideBan(network, banned):
            let why = banned.prefixLength <= network.prefixLength
                ? "it is inside the banned network \(banned), which stays banned; unban \(banned) as banned (then ban again what should stay banned)"
                : "it overlaps the ban \(banned), which stays banned; unban bans as they were banned ('portctl bans' lists them)"
            return ("refusing to unban \(network): \(why)", .usage)
        case let .stateFolderUnreadable(path):
            return ("cannot read the state folder \(path) (bans and history live there): it is root's; run as root (sudo portctl ...)", .needsPrivilege)
        case let .noBanSets(table):
            return ("table inet \(table) has no ban sets in the kernel: run 'portctl apply' first", .runtime)
        case let .savedPlan(path, problem):
            switch problem {
            case .missing:
                return ("cannot read plan file \(path): no such file", .runtime)
            case let .unreadable(reason):
                return ("\(path): \(reason)", .invalidData)
            case .edited:
                return ("plan \(path) was edited after it was saved (its digest does not match its contents); nothing was applied (run 'portctl plan -o' again)", .invalidData)
            case let .policyChanged(policyFile):
                return ("plan \(path) is stale: the policy file \(policyFile) changed since the plan was made; nothing was applied (run 'portctl plan' again)", .runtime)
            case let .otherTable(planned, policy):
                return ("plan \(path) names table inet \(planned), but the policy file renders table inet \(policy); nothing was applied", .runtime)
            case let .tableChanged(table):
                return ("plan \(path) is stale: table inet \(table) changed since the plan was made; nothing was applied (run 'portctl plan' again)", .runtime)
            case let .notPortctls(readsAddressFiles):
                let cause = readsAddressFiles ? "an address file the policy reads changed since the plan was made, or the plan was edited" : "was it edited?"
                return ("plan \(path) holds a batch that portctl would not make for its policy and table now (\(cause)); nothing was applied (run 'portctl plan -o' again)", .invalidData)
            case let .notApproved(approved, found):
                return ("plan \(path) is not the plan that was approved: its digest is \(found), the approved one \(approved); nothing was applied", .invalidData)
            case let .madeForOtherPolicyFile(planned, policyFile):
                return ("plan \(path) was made for the policy file \(planned), not \(policyFile); nothing was applied (to make that file the policy here: 'portctl plan --new \(planned) -o \(path)', review, then 'portctl apply \(path)'; to apply it to that file: 'portctl apply \(path) --policy \(planned)')", .runtime)
            case let .addressFileChanged(file):
                return ("plan \(path) is stale: the address file \(file) gives other addresses than when the plan was made; nothing was applied (run 'portctl plan' again)", .runtime)
            case .expiredSince:
                return ("plan \(path) is stale: a time-boxed rule expired since the plan was made, so the batch would differ; nothing was applied (run 'portctl plan' again)", .runtime)
            }
        }
    }
}
