/// What kind of failure an error is, whatever its type: what the caller did wrong, or what the
/// machine did. The `portctl` command exits with ``exitCode``.
public enum ErrorCategory: Sendable, Hashable {
    /// A value the caller gave is not allowed (a port, an address, an option): exit 64.
    case usage
    /// A file portctl read (the policy, a saved plan, a listing, the state folder) is not what it
    /// must be: exit 65.
    case invalidData
    /// The process lacks root or CAP_NET_ADMIN (in this network namespace): exit 77.
    case needsPrivilege
    /// The kernel, the file system or a refusal stopped it (a stale plan, a lockout): exit 1.
    case runtime

    /// The exit code the `portctl` command uses for it (sysexits.h: EX_USAGE, EX_DATAERR, EX_NOPERM).
    public var exitCode: Int32 {
        switch self {
        case .usage: 64
        case .invalidData: 65
        case .needsPrivilege: 77
        case .runtime: 1
        }
    }
}

/// Every error portctl's libraries throw: one line in the admin's words (its `description`), and
/// its ``category``. An embedder catches `any PortctlError` and needs to know no other type.
public protocol PortctlError: Error, CustomStringConvertible {
    /// What kind of failure it is.
    var category: ErrorCategory { get }
}

extension PolicyError: PortctlError {
    /// A value that breaks the policy's rules: the caller's (a file's errors come wrapped, as
    /// invalid data, by whoever read the file).
    public var category: ErrorCategory { .usage }
}

extension LiveTable.ReadError: PortctlError {
    /// A listing that is not one: invalid data.
    public var category: ErrorCategory { .invalidData }
}
