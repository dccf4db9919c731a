import Foundation
import PortctlDriver

extension Portctl {
    /// Whether the arguments ask for `portctl --version --verbose` (in either order, nothing else):
    /// ArgumentParser's own `--version` would ignore `--verbose`.
    static func asksForVerboseVersion(_ arguments: [String]) -> Bool {
        arguments.contains("--version") && arguments.contains("--verbose")
            && arguments.allSatisfy { $0 == "--version" || $0 == "--verbose" }
    }

    /// `portctl --version --verbose`: portctl's version and the libnftables it runs with.
    static func printVerboseVersion() {
        print("portctl \(configuration.version)")
        print("libnftables \(Nftables.shared.libraryVersion())")
    }
}
