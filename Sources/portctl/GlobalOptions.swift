import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The policy file (else $PORTCTL_POLICY, else /etc/portctl/policy.yaml).", valueName: "file"))
    var policy: String?

    @Flag(name: .long, help: "Print libnftables' full error text on failure.")
    var verbose = false

    var paths: PortctlPaths {
        PortctlPaths.resolve(policyOption: policy, environment: ProcessInfo.processInfo.environment)
    }

    var store: PolicyStore { PolicyStore(paths: paths) }

    /// The library's change pipeline, on these paths, with this program's hidden `watchdog`
    /// command as the confirmation watchdog.
    var control: ChangeControl {
        ChangeControl(paths: paths, watchdogCommand: [DetachedProcess.currentExecutable, "watchdog", "--token"])
    }

    /// Loads the policy file, failing when there is none.
    func loadExisting() throws -> PortPolicy {
        try control.requirePolicy().policy
    }

    /// Loads the policy file and keeps its bytes, failing when there is none.
    func loadExistingWithBytes() throws -> LoadedPolicy {
        try control.requirePolicy()
    }

    /// Runs `body` holding the state folder's lock, after checking the privilege that `doing`
    /// needs (exit 77 before any file is touched); see ``ChangeControl/withLock(privileged:dryRun:_:)``.
    func withLock<T>(privileged doing: String, dryRun: Bool = false, _ body: () throws -> T) throws -> T {
        try control.withLock(privileged: doing, dryRun: dryRun, body)
    }

    /// For commands that read the state folder without the lock (`history`, `status`): one that
    /// others could have written (it, a folder above it, or a link on the way) is not read.
    func refuseUntrustedStateFolder() throws {
        try control.refuseUntrustedStateFolder()
    }

    /// Runs `body`, turning every library error into a one-line ``Failure``.
    func reporting<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw Failure.from(error, verbose: verbose)
        }
    }
}

/// Fails with exit 77 unless the process may change nftables.
func requireNetAdmin(_ doing: String) throws {
    do {
        try ChangeControl().requirePrivilege(doing)
    } catch {
        throw Failure.from(error, verbose: false)
    }
}
