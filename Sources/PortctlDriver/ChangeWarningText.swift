import PortPolicy

extension ChangeWarning: CustomStringConvertible {
    /// The warning as one sentence, in the admin's words.
    public var description: String {
        switch self {
        case let .openToAnySource(rule):
            // "any ..." in capitals; a rule that spells its sources out says which cover everything.
            "\(rule.portsDescription) is open to \((rule.anySourceDescription ?? "any source address").replacingOccurrences(of: "any ", with: "ANY ", options: .anchored))"
                + "\(rule.isFromAnywhere ? "" : " (from \(rule.addressesDescription))"); use --from to restrict it"
        case let .publishedPortDropped(port):
            "published port \(port.description) is not allowed by the policy: it will be dropped (open it with --from, or 'portctl default published accept' to leave published ports to their publisher)"
        case let .tightLimit(text), let .outbound(text):
            text
        case let .lockoutUnchecked(value):
            "SSH_CONNECTION \(quoted(value)) cannot be read, so this change was not checked against locking out an SSH session (--force)"
        case let .lockoutRisk(refusal):
            "apply will refuse this unless forced: " + refusal.replacingOccurrences(of: "refusing: ", with: "")
        case let .orphanRolledBack(rollback):
            "the --confirm watchdog of change #\(rollback.undone.sequence) is gone, so nothing would roll it back; rolling it back now, as the watchdog would have"
        case let .banNotRestored(unrestored):
            unrestored.description
        }
    }
}

extension UnrestoredBan: CustomStringConvertible {
    /// One line for a ban the kernel would not take back into a rewritten table.
    public var description: String {
        "ban \(ban.network) was NOT put back into the rewritten table (\(reason)); it stays in the state folder: fix it with 'portctl unban \(ban.network)' and ban again"
    }
}
