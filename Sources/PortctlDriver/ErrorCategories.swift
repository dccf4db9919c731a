public import PortPolicy

extension PolicyFileError: PortctlError {
    /// The policy file (or a file read as one) does not parse or validate.
    public var category: ErrorCategory { .invalidData }
}

extension NftablesError: PortctlError {
    /// Missing privilege when the kernel said so; otherwise a runtime failure.
    public var category: ErrorCategory { kind == .permissionDenied ? .needsPrivilege : .runtime }
}

extension SystemError: PortctlError {
    /// The machine failed: a file, a lock, a process.
    public var category: ErrorCategory { .runtime }
}

extension StateDamage: PortctlError {
    /// The state folder holds what portctl cannot read as it wrote it.
    public var category: ErrorCategory { .invalidData }
}

extension BanStateError: PortctlError {
    /// Unreadable for want of privilege, damaged (invalid data), or otherwise unreadable.
    public var category: ErrorCategory {
        if needsPrivilege { return .needsPrivilege }
        if case .damaged = problem { return .invalidData }
        return .runtime
    }
}

extension ForeignTableError: PortctlError {
    /// The table belongs to someone else: a refusal.
    public var category: ErrorCategory { .runtime }
}

extension TrustedFiles.NotARegularFile: PortctlError {
    /// Output paths come from the caller.
    public var category: ErrorCategory { .usage }
}

extension TrustedFiles.FileTooLarge: PortctlError {
    /// A file larger than portctl reads.
    public var category: ErrorCategory { .invalidData }
}

extension UfwFolder.NotFound: PortctlError {
    /// A folder or file named by the caller that holds no ufw configuration.
    public var category: ErrorCategory { .usage }
}
