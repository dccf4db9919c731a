import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

/// portctl's documented exit codes.
enum ExitStatus: Int32 {
    case success = 0
    case failure = 1
    case changesPending = 2
    case highFinding = 3
    case usage = 64
    case invalidData = 65
    case needsPrivilege = 77
}

/// An error the CLI reports as one line with its own exit code.
struct Failure: Error {
    let message: String
    let code: ExitStatus

    /// Classifies any error from the library into a message and an exit code. Errors in values
    /// typed on the command line are usage errors (64); errors in the policy file are data
    /// errors (65).
    static func from(_ error: any Error, verbose: Bool) -> Failure {
        switch error {
        case let failure as Failure: return failure
        case let error as PolicyError: return Failure(message: error.description, code: .usage)
        case let error as PolicyFileError: return Failure(message: error.description, code: .invalidData)
        case let error as NftablesError:
            let text = verbose ? error.description + "\n" + error.detail : error.description
            return Failure(message: text, code: error.kind == .permissionDenied ? .needsPrivilege : .failure)
        case let error as SystemError: return Failure(message: error.description, code: .failure)
        case let error as StateDamage: return Failure(message: error.description, code: .invalidData)
        // Output paths come from the command line.
        case let error as TrustedFiles.NotARegularFile: return Failure(message: error.description, code: .usage)
        case let error as LiveTable.ReadError: return Failure(message: error.description, code: .invalidData)
        case let error as ChangeError: return from(error)
        case let error as BanStateError:
            let code: ExitStatus = error.needsPrivilege ? .needsPrivilege : { if case .damaged = error.problem { return .invalidData } else { return .failure } }()
            return Failure(message: error.description, code: code)
        default: return Failure(message: String(describing: error), code: .failure)
        }
    }
}

extension Failure {
    /// The pipeline's refusals in the CLI's words: its commands, its flags, its exit codes.
    static func from(_ error: ChangeError) -> Failure {
        switch error {
        case let .needsPrivilege(doing):
            return Failure(message: "\(doing) needs root or CAP_NET_ADMIN (try: sudo portctl ...)", code: .needsPrivilege)
        case let .noPolicyFile(path):
            return Failure(message: "no policy file at \(path); run 'portctl open PORT' to create one, or pass --policy", code: .failure)
        case let .awaitingConfirmation(sequence, secondsLeft):
            return Failure(message: "change #\(sequence) awaits confirmation (rolls back in \(secondsLeft)s): run 'portctl confirm' to keep it or 'portctl rollback' to undo it, then try again", code: .failure)
        case let .wouldLockOut(decision, connection, expiring):
            return Failure(message: LockoutGuard.refusal(decision, connection: connection, expiring: expiring), code: .failure)
        case let .unreadableSSHConnection(value):
            return Failure(message: "cannot check this change against locking out your SSH session: SSH_CONNECTION \(quoted(value)) is not \"CLIENT PORT SERVER PORT\"; fix the variable, or add --force to change without the check", code: .failure)
        case let .untrustedStateFolder(path):
            return Failure(message: "refusing the state folder \(path): users other than root could have written it (it, a folder above it, or a link on the way is theirs); fix: make it root's, mode 700, reached through root's folders", code: .failure)
        case let .nothingToRollBack(directory):
            return Failure(message: "nothing to roll back: no change has been applied with this state directory (\(directory))", code: .failure)
        case let .otherPolicyFile(sequence, entryFile, policyFile):
            return Failure(message: "refusing to roll back change #\(sequence): it was made through the policy file \(entryFile), not \(policyFile); roll it back with --policy \(entryFile)", code: .failure)
        case let .noSuchChange(sequence, kept):
            return Failure(message: "no history entry #\(sequence) (kept: \(kept.first.map { "#\($0)" } ?? "none")\(kept.count > 1 ? "...#\(kept.last!)" : ""))", code: .usage)
        case let .neverInForce(sequence, state):
            return Failure(message: "change #\(sequence) never took hold (\(state.split(separator: ":").first ?? "")): there is nothing of it to go back to; pick another from 'portctl history'", code: .failure)
        case let .policyFileNotAsLeft(sequence, policyFile):
            return Failure(message: "refusing to roll back: the policy file \(policyFile) is not what change #\(sequence) left (edited by hand, or the records of later changes were moved aside), and a rollback would discard that; 'portctl plan' shows how it differs from the kernel; add --force to roll back anyway", code: .failure)
        case let .missingHistory(sequence, directory):
            return Failure(message: "cannot roll back change #\(sequence): the policy it replaced is missing from \(directory)/history", code: .failure)
        case let .confirmedTooLate(sequence, time):
            return Failure(message: "too late: the change was rolled back at \(time) (history #\(sequence))", code: .failure)
        case .noWatchdog:
            return Failure(message: "a confirmation deadline needs a watchdog to enforce it, and none was given; nothing was changed", code: .failure)
        case let .watchdogFailed(command, reason):
            return Failure(message: "the --confirm watchdog (\(command.joined(separator: " "))) did not start: \(reason); the change was rolled back at once", code: .failure)
        case let .wouldBanOwnClient(network, client):
            return Failure(message: "refusing: banning \(network) would ban your own SSH client \(client); add --force to ban it anyway", code: .failure)
        case let .banCoversBan(network, banned):
            return Failure(message: "\(network) covers the banned network \(banned): unban it first", code: .usage)
        case let .wouldBanThisHost(network, address, interface):
            return Failure(message: "refusing: banning \(network) would drop this host's own traffic (it holds \(address), \(interface == "lo" ? "loopback" : "an address of \(interface)"), and bans are checked before loopback is accepted); add --force to ban it anyway", code: .failure)
        case let .unbanInsideBan(network, banned):
            let why = banned.prefixLength <= network.prefixLength
                ? "it is inside the banned network \(banned), which stays banned; unban \(banned) as banned (then ban again what should stay banned)"
                : "it overlaps the ban \(banned), which stays banned; unban bans as they were banned ('portctl bans' lists them)"
            return Failure(message: "refusing to unban \(network): \(why)", code: .usage)
        case let .stateFolderUnreadable(path):
            return Failure(message: "cannot read the state folder \(path) (bans and history live there): it is root's; run as root (sudo portctl ...)", code: .needsPrivilege)
        case let .noBanSets(table):
            return Failure(message: "table inet \(table) has no ban sets in the kernel: run 'portctl apply' first", code: .failure)
        case let .savedPlan(path, problem):
            switch problem {
            case .missing:
                return Failure(message: "cannot read plan file \(path): no such file", code: .failure)
            case let .unreadable(reason):
                return Failure(message: "\(path): \(reason)", code: .invalidData)
            case .edited:
                return Failure(message: "plan \(path) was edited after it was saved (its digest does not match its contents); nothing was applied (run 'portctl plan -o' again)", code: .invalidData)
            case let .policyChanged(policyFile):
                return Failure(message: "plan \(path) is stale: the policy file \(policyFile) changed since the plan was made; nothing was applied (run 'portctl plan' again)", code: .failure)
            case let .otherTable(planned, policy):
                return Failure(message: "plan \(path) names table inet \(planned), but the policy file renders table inet \(policy); nothing was applied", code: .failure)
            case let .tableChanged(table):
                return Failure(message: "plan \(path) is stale: table inet \(table) changed since the plan was made; nothing was applied (run 'portctl plan' again)", code: .failure)
            case let .notPortctls(readsAddressFiles):
                let cause = readsAddressFiles ? "an address file the policy reads changed since the plan was made, or the plan was edited" : "was it edited?"
                return Failure(message: "plan \(path) holds a batch that portctl would not make for its policy and table now (\(cause)); nothing was applied (run 'portctl plan -o' again)", code: .invalidData)
            case let .notApproved(approved, found):
                return Failure(message: "plan \(path) is not the plan that was approved: its digest is \(found), the approved one \(approved); nothing was applied", code: .invalidData)
            case let .madeForOtherPolicyFile(planned, policyFile):
                return Failure(message: "plan \(path) was made for the policy file \(planned), not \(policyFile); nothing was applied (to make that file the policy here: 'portctl plan --new \(planned) -o \(path)', review, then 'portctl apply \(path)'; to apply it to that file: 'portctl apply \(path) --policy \(planned)')", code: .failure)
            case let .addressFileChanged(file):
                return Failure(message: "plan \(path) is stale: the address file \(file) gives other addresses than when the plan was made; nothing was applied (run 'portctl plan' again)", code: .failure)
            case .expiredSince:
                return Failure(message: "plan \(path) is stale: a time-boxed rule expired since the plan was made, so the batch would differ; nothing was applied (run 'portctl plan' again)", code: .failure)
            }
        }
    }
}
