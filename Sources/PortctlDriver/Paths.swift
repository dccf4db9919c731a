/// Where portctl keeps its files: the policy file and the state directory (locks, snapshots).
public struct PortctlPaths: Sendable, Hashable {
    /// The policy file.
    public var policyFile: String
    /// The state directory.
    public var stateDirectory: String

    /// The policy file used when neither `--policy` nor `PORTCTL_POLICY` names one.
    public static let defaultPolicyFile = "/etc/portctl/policy.yaml"
    /// The state directory used when `PORTCTL_STATE_DIR` names none.
    public static let defaultStateDirectory = "/var/lib/portctl"

    /// Makes paths from parts.
    public init(policyFile: String, stateDirectory: String) {
        self.policyFile = policyFile
        self.stateDirectory = stateDirectory
    }

    /// Resolves the paths: `--policy`, else `PORTCTL_POLICY`, else the default; `PORTCTL_STATE_DIR`,
    /// else the default.
    public static func resolve(policyOption: String?, environment: [String: String]) -> PortctlPaths {
        let policy = policyOption ?? environment["PORTCTL_POLICY"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultPolicyFile
        let state = environment["PORTCTL_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultStateDirectory
        return PortctlPaths(policyFile: policy, stateDirectory: state)
    }
}
