import Foundation
import Testing

/// The package's life on a Debian 12 system: install, reinstall, upgrade, remove and purge with
/// dpkg and the maintainer scripts, in a minimal Debian tree (debootstrap, cached under
/// .build/debian-tree) entered with chroot inside a test network namespace. The tree's own
/// /etc/portctl and /var/lib/portctl are used (the package's default paths, inside the tree);
/// the host's are never touched.
@Suite(.serialized, .enabled(if: KernelLab.available && PackageLab.found && DebianRelease.bookworm.ready, Comment(rawValue: DebianRelease.bookworm.reason)))
struct PackageLifeTests {
    @Test func removeKeepsTheTableUpgradeLeavesItAloneAndPurgeCleansUp() throws {
        let hostFolders = ["/etc/portctl", "/var/lib/portctl"].map { FileManager.default.fileExists(atPath: $0) }
        let deb = try #require(PackageLab.deb)
        let tree = try DebianTree(.bookworm)
        defer { tree.cleanup() }
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        let root = tree.root.path
        let link = "\(root)/etc/systemd/system/multi-user.target.wants/portctl.service"
        func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: "\(root)\(path)") }
        func linkExists() -> Bool { (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) != nil }
        func ruleset() throws -> String { try run(["ip", "netns", "exec", lab.server, "nft", "list", "ruleset"]).stdout }

        try tree.add(deb, as: "/tmp/portctl.deb")
        let installed = try tree.runInside(["dpkg", "-i", "/tmp/portctl.deb"], in: lab)
        #expect(installed.status == 0, "\(installed)")
        #expect(!linkExists(), "installing does not enable the unit")
        #expect(try ruleset().isEmpty, "installing applies nothing")

        let opened = try tree.runInside(["/usr/sbin/portctl", "open", "26", "--from", "198.51.100.0/24"], in: lab)
        #expect(opened.status == 0, "\(opened)")
        #expect(exists("/etc/portctl/policy.yaml") && exists("/var/lib/portctl"))
        // The admin enables the unit as systemctl would (no systemd in the tree).
        try FileManager.default.createDirectory(atPath: (link as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/lib/systemd/system/portctl.service")
        let before = try ruleset()
        #expect(before.contains("table inet portctl") && before.contains("198.51.100.0/24"), "\(before)")

        // Same version again, then a newer one: the table is untouched, the enable state kept.
        let again = try tree.runInside(["dpkg", "-i", "/tmp/portctl.deb"], in: lab)
        #expect(again.status == 0, "\(again)")
        #expect(try ruleset() == before)
        try tree.add(try tree.newerVersion(of: deb), as: "/tmp/portctl-newer.deb")
        let upgraded = try tree.runInside(["dpkg", "-i", "/tmp/portctl-newer.deb"], in: lab)
        #expect(upgraded.status == 0 && upgraded.stdout.contains("Unpacking portctl (0.1.0-99)"), "\(upgraded)")
        #expect(try ruleset() == before)
        #expect(linkExists(), "an upgrade keeps the admin's enable state")

        // remove: the table stays in the kernel, and the admin is told how to take it out.
        let removed = try tree.runInside(["dpkg", "-r", "portctl"], in: lab)
        #expect(removed.status == 0, "\(removed)")
        #expect(removed.stdout.contains("table inet portctl stays in the kernel") && removed.stdout.contains("nft delete table inet portctl"), "\(removed)")
        #expect(try ruleset() == before)
        #expect(!exists("/usr/sbin/portctl") && exists("/etc/portctl/policy.yaml") && exists("/var/lib/portctl"))

        // purge: portctl's files and the enable state go; the table stays, and it says why.
        let purged = try tree.runInside(["dpkg", "-P", "portctl"], in: lab)
        #expect(purged.status == 0, "\(purged)")
        #expect(purged.stdout.contains("purging does not remove it, since that would open the host"), "\(purged)")
        #expect(!exists("/etc/portctl") && !exists("/var/lib/portctl"), "\(purged)")
        #expect(!linkExists() && !exists("/var/lib/systemd/deb-systemd-helper-enabled/portctl.service.dsh-also"))
        #expect(try ruleset() == before)

        // A reinstall after purge is a first install: not enabled.
        let reinstalled = try tree.runInside(["dpkg", "-i", "/tmp/portctl.deb"], in: lab)
        #expect(reinstalled.status == 0, "\(reinstalled)")
        #expect(!linkExists(), "a reinstall after purge does not re-enable the unit")
        let rest = try run(["find", "\(root)/etc/systemd/system", "-name", "portctl*"])
        #expect(rest.stdout.isEmpty, "\(rest)")

        #expect(["/etc/portctl", "/var/lib/portctl"].map { FileManager.default.fileExists(atPath: $0) } == hostFolders,
                "the host's own folders are untouched")
    }
}

/// Without a Debian tree a machine meant to run every test fails here, rather than skipping.
@Test(arguments: DebianRelease.allCases)
func theDebianTreeIsHereWhenRequired(_ release: DebianRelease) {
    if KernelLab.required && KernelLab.available {
        #expect(release.ready, Comment(rawValue: release.reason))
    }
}

/// A Debian release the kernel tests run portctl's package in: a minimal tree
/// (`debootstrap --variant=minbase`, with libnftables1 and nftables), made once and cached under
/// .build/debian-tree/RELEASE.
enum DebianRelease: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// Debian 12, nftables 1.0.6 (the package life tests).
    case bookworm
    /// Debian 13, nftables 1.1.3 (the nftables 1.1 lane, Nft11LaneTests).
    case trixie
    /// Debian 12 with systemd as init, booted under systemd-nspawn (the boot tests, BootTests).
    case bookwormSystemd = "bookworm-systemd"

    var testDescription: String { rawValue }

    /// The Debian suite debootstrap installs.
    var suite: String { self == .bookwormSystemd ? "bookworm" : rawValue }

    /// The packages debootstrap adds to minbase.
    var packages: String {
        switch self {
        case .bookworm: "libnftables1,nftables"
        case .trixie: "nftables,libnftables1,iproute2"
        case .bookwormSystemd: "systemd,systemd-sysv,dbus,nftables,libnftables1,iproute2,netbase"
        }
    }

    /// Where the tree is cached; debootstrap writes it the first time (one to three minutes from the archive).
    var cache: URL { PackageLab.repositoryRoot.appendingPathComponent(".build/debian-tree/\(rawValue)") }

    /// Why a suite that needs this tree is skipped, and how to make it run.
    var reason: String {
        let number = self == .trixie ? "13" : self == .bookwormSystemd ? "12 with systemd" : "12"
        return "the tests in a Debian \(number) tree need the .deb (./scripts/package), root, and the tree: debootstrap (apt-get install debootstrap) and the Debian archive (\(DebianTree.mirror)) for the first run (cached in .build/debian-tree/\(rawValue))"
    }

    /// Whether the cached tree is there, made now if debootstrap can (once per test process).
    var ready: Bool {
        switch self {
        case .bookworm: Self.bookwormReady
        case .trixie: Self.trixieReady
        case .bookwormSystemd: Self.bookwormSystemdReady
        }
    }

    private static let bookwormReady = DebianRelease.bookworm.make()
    private static let trixieReady = DebianRelease.trixie.make()
    private static let bookwormSystemdReady = DebianRelease.bookwormSystemd.make()

    private func make() -> Bool {
        let dpkg = cache.appendingPathComponent("usr/bin/dpkg").path
        if FileManager.default.isExecutableFile(atPath: dpkg) { return true }
        guard KernelLab.isRoot, FileManager.default.isExecutableFile(atPath: "/usr/sbin/debootstrap") else { return false }
        let partial = cache.deletingLastPathComponent().appendingPathComponent("\(rawValue).partial")
        try? FileManager.default.removeItem(at: partial)
        try? FileManager.default.createDirectory(at: cache.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard let made = try? run(["debootstrap", "--variant=minbase", "--include=\(packages)", suite, partial.path, DebianTree.mirror]),
              made.status == 0,
              (try? FileManager.default.moveItem(at: partial, to: cache)) != nil
        else {
            try? FileManager.default.removeItem(at: partial)
            return false
        }
        return FileManager.default.isExecutableFile(atPath: dpkg)
    }
}

/// A throwaway copy of a cached Debian tree (``DebianRelease``), entered with chroot inside a
/// test network namespace.
final class DebianTree {
    /// The archive debootstrap reads (`PORTCTL_DEBIAN_MIRROR` overrides it).
    static let mirror = ProcessInfo.processInfo.environment["PORTCTL_DEBIAN_MIRROR"] ?? "http://deb.debian.org/debian"

    /// The release this is a copy of.
    let release: DebianRelease
    /// A temporary folder for this test alone, removed by ``cleanup()``.
    let directory: URL
    /// The copy of the tree the test changes.
    let root: URL

    init(_ release: DebianRelease) throws {
        self.release = release
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pctltree\(getpid())-\(UUID().uuidString.prefix(8))")
        root = directory.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let copied = try run(["cp", "-a", release.cache.path, root.path])
        if copied.status != 0 {
            cleanup()
            throw LabError(message: "copying the Debian tree: \(copied)")
        }
    }

    /// Removes the copy. Nothing is mounted in it outside a command's own mount namespace.
    func cleanup() {
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { cleanup() }

    /// Copies a file from the host into the tree.
    func add(_ file: URL, as path: String) throws {
        let target = root.appendingPathComponent(String(path.dropFirst()))
        try? FileManager.default.removeItem(at: target)
        try FileManager.default.copyItem(at: file, to: target)
    }

    /// The package rebuilt with version 0.1.0-99: an upgrade to dpkg, the same files.
    func newerVersion(of deb: URL) throws -> URL {
        let unpacked = directory.appendingPathComponent("newer")
        let output = directory.appendingPathComponent("portctl_0.1.0-99.deb")
        for step in [["dpkg-deb", "-R", deb.path, unpacked.path],
                     ["sed", "-i", "s/^Version: .*/Version: 0.1.0-99/", unpacked.appendingPathComponent("DEBIAN/control").path],
                     ["dpkg-deb", "--root-owner-group", "-Zgzip", "-b", unpacked.path, output.path]] {
            let outcome = try run(step)
            if outcome.status != 0 { throw LabError(message: "\(step.joined(separator: " ")): \(outcome)") }
        }
        return output
    }

    /// Runs a command in the tree (chroot) inside the lab's server namespace, with the tree's
    /// /proc mounted in a private mount namespace that ends with the command (and whatever it
    /// left running), and an environment of only `PATH` and `environment` (paths inside the
    /// tree): no PORTCTL_* from the host, so without them portctl uses the tree's default paths.
    func runInside(_ command: [String], in lab: NetLab, environment: [String: String] = [:]) throws -> Outcome {
        let script = #"mount -t proc proc "$0/proc" && namespace=$1 && shift && exec ip netns exec "$namespace" chroot "$0" "$@""#
        let variables = ["PATH=\(PackageLab.systemPath)"] + environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return try run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, root.path, lab.server,
             "env", "-i"] + variables + command)
    }
}
