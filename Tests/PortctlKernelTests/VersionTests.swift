import Foundation
import Testing

/// `portctl --version` where /proc is not mounted, and `--version --verbose`'s libnftables.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct VersionTests {
    /// Runs `program --version` in a private mount namespace whose /proc is an empty tmpfs (as in
    /// a chroot without /proc): the Swift runtime finds no /proc/self/cmdline there.
    static func versionWithoutProc(_ program: String) throws -> Outcome {
        try run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                 #"mount -t tmpfs -o size=64k portctl-no-proc /proc && exec "$0" --version"#, program])
    }

    /// The libnftables1 package's upstream version (`1.0.6` of `1.0.6-2+deb12u2`).
    static func installedLibnftables() throws -> String {
        let version = try run(["dpkg-query", "-W", "-f", "${Version}", "libnftables1"]).stdout
        let upstream = version.split(separator: ":").last.map(String.init) ?? version
        return String(upstream.split(separator: "-").first ?? "")
    }

    @Test func theVersionIsReadWithoutProc() throws {
        let outcome = try Self.versionWithoutProc(NetLab.portctlPath)
        let expected = try run([NetLab.portctlPath, "--version"]).stdout
        #expect(outcome.status == 0 && outcome.stdout == expected && expected == "0.1.0\n", "\(outcome)")
    }

    @Test func theVerboseVersionNamesTheLibnftablesInUse() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        let release = try Self.installedLibnftables()
        for arguments in [["--version", "--verbose"], ["--verbose", "--version"]] {
            let outcome = try lab.portctl(arguments)
            let lines = outcome.stdout.split(separator: "\n").map(String.init)
            #expect(outcome.status == 0 && outcome.stderr.isEmpty, "\(outcome)")
            #expect(lines.first == "portctl 0.1.0", "\(outcome)")
            #expect(lines.count == 2 && lines[1].hasPrefix("libnftables \(release) (/") && lines[1].contains("/libnftables.so.1"), "\(outcome)")
        }
        // Without CAP_NET_ADMIN the kernel refuses the listing that states the release: the file still says which library.
        let unprivileged = try run(["ip", "netns", "exec", lab.server, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                    "--inh-caps=-all", NetLab.portctlPath, "--version", "--verbose"])
        #expect(unprivileged.status == 0 && unprivileged.stderr.isEmpty, "\(unprivileged)")
        #expect(unprivileged.stdout.contains("\nlibnftables /") && unprivileged.stdout.contains("run as root or with CAP_NET_ADMIN"), "\(unprivileged)")
    }

    @Test func statusNamesTheLibnftablesRelease() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        let release = try Self.installedLibnftables()
        #expect(try lab.portctl("open", "26", "--from", "198.51.100.0/24").status == 0)
        let text = try lab.portctl("status")
        #expect(text.status == 0 && text.stdout.split(separator: "\n").contains("libnftables \(release)"), "\(text)")
        let json = try lab.portctl("status", "--json")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["libnftables"] as? String == release, "\(json)")
    }
}
