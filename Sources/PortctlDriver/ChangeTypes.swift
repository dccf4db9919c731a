public import Foundation
public import PortPolicy

/// How a change is made: shown only, or applied, with or without the lockout guard and a
/// confirmation deadline.
public struct ChangeOptions: Sendable, Hashable {
    /// Plan only: write neither the policy file nor the kernel.
    public var dryRun: Bool
    /// Roll the change back unless ``ChangeControl/confirm()`` runs within this many seconds.
    public var confirmSeconds: Int?
    /// Skip the check against blocking the SSH connection the process runs in.
    public var force: Bool

    /// Makes options; by default the change is applied, guarded, with no deadline.
    public init(dryRun: Bool = false, confirmSeconds: Int? = nil, force: Bool = false) {
        self.dryRun = dryRun
        self.confirmSeconds = confirmSeconds
        self.force = force
    }
}

/// Who makes changes, for the history: the login, the SSH client, and the command line. (Not
/// `Actor`: that would shadow Swift's `Actor` protocol in every file that imports the library.)
public struct ChangeAuthor: Sendable, Hashable {
    /// The login name (or uid), with the sudo user when run through sudo.
    public var user: String
    /// The SSH client's address and port, when run over SSH.
    public var sshClient: String?
    /// The program and its arguments, as recorded in each history entry.
    public var arguments: [String]

    /// Makes an author from parts.
    public init(user: String, sshClient: String?, arguments: [String]) {
        self.user = user
        self.sshClient = sshClient
        self.arguments = arguments
    }

    /// This process: its user, `SSH_CONNECTION`, and its command line without the program name.
    public static func current(environment: [String: String], arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> ChangeAuthor {
        let found = StateStore.actor(environment: environment)
        return ChangeAuthor(user: found.user, sshClient: found.sshClient, arguments: arguments)
    }
}

/// Something the caller should tell whoever asked for the change; none of it stopped the change.
public enum ChangeWarning: Sendable, Hashable {
    /// An inbound allow now admits any source address.
    case openToAnySource(PortRule)
    /// Another table publishes this port by DNAT, and the policy lets nobody reach it: under
    /// `defaults.published: filter` its connections are dropped.
    case publishedPortDropped(PublishedPort)
    /// The SSH login is admitted, but only under a tight rate limit (the guard's sentence).
    case tightLimit(String)
    /// `SSH_CONNECTION` could not be read and the guard was skipped on request (`force`), or
    /// (in a plan) could not be checked.
    case lockoutUnchecked(sshConnection: String)
    /// In a plan: applying it would block new SSH logins over the connection the process runs in
    /// (the guard's sentence); apply will refuse it unless forced.
    case lockoutRisk(String)
    /// Outbound traffic does not go as the admin may think: an outbound allow under the outbound
    /// default accept changes nothing, or the outbound default drop stops DNS, NTP and updates
    /// (the sentence of `PortPolicy.outboundNotes(after:)`).
    case outbound(String)
    /// The confirmation watchdog of change `sequence` had died, so that change was rolled back
    /// before this one, as the watchdog would have done.
    case orphanRolledBack(RollbackResult)
    /// The table was rewritten and the kernel refused to take this ban back (it stays in the
    /// state folder; the other bans were put back).
    case banNotRestored(UnrestoredBan)
}

/// What a change did, or with ``ChangeOptions/dryRun``, would do.
public struct ChangeResult: Sendable {
    /// The policy after the change.
    public var policy: PortPolicy
    /// The edits made to the policy (openings that had expired first), in order.
    public var policyChanges: [PolicyChange]
    /// Whether the policy file was (or would be) created: there was none.
    public var createdPolicyFile: Bool
    /// Whether the policy file's text changed (or would change).
    public var policyChanged: Bool
    /// The plan against the live table; nil for a dry run without the privilege to read it.
    public var plan: Plan?
    /// `PlanDocument/digest(_:)` of the live table when planned ("unknown" without a plan).
    public var liveDigest: String
    /// The policy file's bytes before the change (empty when there was none).
    public var previousBytes: [UInt8]
    /// Whether the kernel and file were changed (false for a dry run or when nothing differed).
    public var applied: Bool
    /// The history entry recorded for the change.
    public var entry: HistoryEntry?
    /// The confirmation deadline armed for it.
    public var confirmation: PendingConfirmation?
    /// What the caller should say besides the change itself.
    public var warnings: [ChangeWarning]

    /// Whether anything would change (a dry run's answer) or did.
    public var isPending: Bool { policyChanged || !(plan?.isEmpty ?? true) }

    /// A result before anything was applied: no edits, entry, confirmation or warnings yet.
    init(policy: PortPolicy, policyChanged: Bool, plan: Plan?, liveDigest: String, previousBytes: [UInt8]) {
        self.policy = policy
        self.policyChanges = []
        self.createdPolicyFile = false
        self.policyChanged = policyChanged
        self.plan = plan
        self.liveDigest = liveDigest
        self.previousBytes = previousBytes
        self.applied = false
        self.entry = nil
        self.confirmation = nil
        self.warnings = []
    }
}

/// Where a plan reads portctl's table from.
public enum LiveSource: Sendable {
    /// The kernel (needs CAP_NET_ADMIN).
    case kernel
    /// A saved listing (`nft -j list table inet portctl`, or `portctl status --save-listing`),
    /// already read; nil when the table did not exist.
    case listing(Table?)
}

/// A proposal's plan (``ChangeControl/planProposal(_:source:against:)``).
public struct ProposalPlan: Sendable {
    /// The saved-plan document (`plan --new -o FILE`).
    public var document: PlanDocument
    /// The plan against the live table.
    public var plan: Plan
    /// The policy file's policy now, or nil when there is none.
    public var current: PortPolicy?
    /// The proposed policy.
    public var proposal: PortPolicy
    /// What a reviewer should know: lockout risk, ports published by others left filtered.
    public var warnings: [ChangeWarning]

    /// What differs between the policy now and the proposal, rule by rule.
    public var diff: PolicyDiff { PolicyDiff.between(current, proposal) }
}

/// What a rollback did.
public struct RollbackResult: Sendable, Hashable {
    /// The change undone.
    public var undone: HistoryEntry
    /// The table put back or removed.
    public var table: String
    /// Whether the undone change had created the policy (or, with `restoredTo`, there was no
    /// policy right after that change): the table and file were removed.
    public var removedPolicy: Bool
    /// For `rollback --to N`: N, the change whose result was put back (``undone`` is then the
    /// newest change, which the restore replaced).
    public var restoredTo: Int?
    /// Bans the kernel refused to take back into the restored table.
    public var unrestoredBans: [UnrestoredBan] = []

    /// Makes a result.
    public init(undone: HistoryEntry, table: String, removedPolicy: Bool, restoredTo: Int? = nil) {
        self.undone = undone
        self.table = table
        self.removedPolicy = removedPolicy
        self.restoredTo = restoredTo
    }
}

/// The policy file planned against the kernel (``ChangeControl/plan()``).
public struct PolicyPlan: Sendable {
    /// The policy file's policy.
    public var policy: PortPolicy
    /// The policy file's bytes.
    public var bytes: Data
    /// What apply would do.
    public var plan: Plan
    /// The fingerprint of the table the plan was made against (`none` when there was none).
    public var liveDigest: String
}

/// What ``ChangeControl/unban(_:)`` did.
public struct Unbanned: Sendable, Hashable {
    /// The sources unbanned.
    public var lifted: [IPNetwork]
    /// The sources that were not banned (the kernel may have let them go already).
    public var notBanned: [IPNetwork]
}
