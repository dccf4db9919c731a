public import PortPolicy

/// Why the change pipeline (``ChangeControl``) refused or stopped. Each case carries the data a
/// caller needs to say it in its own words; nothing was changed unless the case says otherwise.
public enum ChangeError: Error, Sendable {
    /// The process lacks root or CAP_NET_ADMIN, which `doing` needs.
    case needsPrivilege(doing: String)
    /// There is no policy file at this path.
    case noPolicyFile(path: String)
    /// An earlier change waits for confirmation (``ChangeControl/confirm()``) and rolls back in
    /// `secondsLeft` seconds unless confirmed.
    case awaitingConfirmation(sequence: Int, secondsLeft: Int)
    /// The policy would block a new SSH login over the connection the process runs in.
    case wouldLockOut(decision: Decision, connection: SSHConnection, expiring: PortRule?)
    /// `SSH_CONNECTION` is set but cannot be read, so the lockout check cannot run.
    case unreadableSSHConnection(value: String)
    /// The state folder could have been written by users other than root.
    case untrustedStateFolder(path: String)
    /// No change was ever recorded in this state folder.
    case nothingToRollBack(stateDirectory: String)
    /// The newest change was made through another policy file (`entryFile`) than this one: it
    /// is undone only through its own.
    case otherPolicyFile(sequence: Int, entryFile: String, policyFile: String)
    /// `rollback --to N`: no kept history entry has that number.
    case noSuchChange(sequence: Int, kept: [Int])
    /// `rollback --to N`: change N never took hold (undone or interrupted).
    case neverInForce(sequence: Int, state: String)
    /// The policy file is not what the newest change (`sequence`) left: edited by hand, or later
    /// changes' records were moved aside. A rollback would discard that; it is refused unless forced.
    case policyFileNotAsLeft(sequence: Int, policyFile: String)
    /// The policy a change replaced is missing from the state folder's history.
    case missingHistory(sequence: Int, stateDirectory: String)
    /// Confirmation came after the watchdog had rolled the change back.
    case confirmedTooLate(sequence: Int, rolledBackAt: String)
    /// A confirmation deadline was asked for, but no watchdog command was given to enforce it
    /// (``ChangeControl/watchdogCommand``); nothing was changed.
    case noWatchdog
    /// The watchdog that enforces a confirmation deadline did not start (or is not a portctl
    /// watchdog); the change was rolled back at once (`rolledBack`), or that failed too and
    /// it waits for confirmation with no watchdog (`portctl rollback` undoes it).
    case watchdogFailed(command: [String], reason: String, rolledBack: Bool)
    /// The ban would ban the SSH client the process runs for.
    case wouldBanOwnClient(network: IPNetwork, client: IPAddress)
    /// A network to ban covers a network banned already (interval sets must not overlap).
    case banCoversBan(network: IPNetwork, banned: String)
    /// The ban would drop this host's own traffic: `network` holds `address`, loopback or an
    /// address of interface `interface` (the ban sets are checked before loopback is accepted).
    case wouldBanThisHost(network: IPNetwork, address: IPAddress, interface: String)
    /// `network` is not banned as such, but overlaps the banned network `banned`: lifting it would
    /// leave the address banned, so it is refused.
    case unbanInsideBan(network: IPNetwork, banned: IPNetwork)
    /// The state folder exists but this user may not read it: what it holds (bans, history)
    /// cannot be known without root.
    case stateFolderUnreadable(path: String)
    /// portctl's table in the kernel has no ban sets (it predates them, or is missing).
    case noBanSets(table: String)
    /// A saved plan cannot be applied; nothing was sent.
    case savedPlan(path: String, problem: SavedPlanProblem)
    /// An import would replace the policy file at `path`, which holds a policy already, and
    /// replacing it was not asked for (``ChangeControl/importPolicy(_:command:replace:options:)``).
    case policyFileExists(path: String)
}

/// Why a saved plan was not applied.
public enum SavedPlanProblem: Sendable, Hashable {
    /// No such file.
    case missing
    /// Not a plan document (the decoder's message).
    case unreadable(String)
    /// Its digest does not match its contents: edited after it was saved.
    case edited
    /// The policy file changed since the plan was made.
    case policyChanged(policyFile: String)
    /// The plan names another table than the policy renders.
    case otherTable(planned: String, policy: String)
    /// portctl's table changed since the plan was made.
    case tableChanged(table: String)
    /// The batch is not what portctl plans for that policy and table: it was edited, or (when
    /// the policy reads address files) a file changed since the plan was made.
    case notPortctls(readsAddressFiles: Bool)
    /// A time-boxed rule expired since the plan was made, so the batch would differ.
    case expiredSince
    /// Its digest is not the one the reviewer approved (`--expect-digest`).
    case notApproved(approved: String, found: String)
    /// A plan of another policy file (made with `--policy OTHER`, not `--new`) applied to this one.
    case madeForOtherPolicyFile(planned: String, policyFile: String)
    /// An address file the planned policy reads gives other addresses than when it was made.
    case addressFileChanged(path: String)
}
