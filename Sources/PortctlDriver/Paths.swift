import Foundation

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

    /// Makes paths from parts. A relative path is taken from the current folder and kept
    /// absolute: the history names each change's policy file, and `rel.yaml` typed in two
    /// folders must not pass for one file.
    public init(policyFile: String, stateDirectory: String) {
        self.policyFile = Self.absolute(policyFile)
        self.stateDirectory = Self.absolute(stateDirectory)
    }

    /// `path` from the current folder when relative, without `.` components or repeated
    /// slashes (`..` stays: through a link it is not the lexical parent).
    public static func absolute(_ path: String) -> String {
        guard !path.isEmpty, path != "-" else { return path }
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let parts = full.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        return "/" + parts.joined(separator: "/")
    }

    /// Resolves the paths: `--policy`, else `PORTCTL_POLICY`, else the default; `PORTCTL_STATE_DIR`,
    /// else the default.
    public static func resolve(policyOption: String?, environment: [String: String]) -> PortctlPaths {
        let policy = policyOption ?? environment["PORTCTL_POLICY"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultPolicyFile
        let state = environment["PORTCTL_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultStateDirectory
        return PortctlPaths(policyFile: policy, stateDirectory: state)
    }
}
