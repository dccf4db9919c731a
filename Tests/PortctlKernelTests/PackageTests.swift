import Foundation
import Testing

/// The Debian package scripts/package builds (scripts/test builds it before the tests): its
/// contents, and its binary at work on a host without Swift, which this machine pretends to be
/// by hiding the toolchain in a private mount namespace.
@Suite(.serialized, .enabled(if: KernelLab.available && PackageLab.found, Comment(rawValue: PackageLab.reason)))
struct PackageTests {
    @Test func theBinaryRunsWithoutTheToolchainAndOpensAPortForOneNetwork() throws {
        let package = try PackageLab()
        defer { package.cleanup() }
        let lab = try NetLab()
        defer { lab.cleanup() }

        // The hiding works: the dynamically linked build cannot even start there.
        let dynamic = try package.runWithoutSwift(NetLab.portctlPath, ["--version"], in: lab)
        #expect(dynamic.status == 127 && dynamic.stderr.contains("error while loading shared libraries: libswift"), "\(dynamic)")

        let version = try package.portctl(["--version"], in: lab)
        let expected = try run([NetLab.portctlPath, "--version"]).stdout
        #expect(version.status == 0 && version.stdout == expected, "\(version)")
        // Where /proc is not mounted (a chroot), the packaged binary still reads its arguments.
        let withoutProc = try VersionTests.versionWithoutProc(package.binary)
        #expect(withoutProc.status == 0 && withoutProc.stdout == expected, "\(withoutProc)")

        let policy = lab.directory.appendingPathComponent("render.yaml")
        try Data("version: 1\nrules:\n  - id: smtp-alt\n    ports: 26\n    from: 198.51.100.0/24\n".utf8).write(to: policy)
        let rendered = try package.portctl(["render", "--policy", policy.path], in: lab)
        #expect(rendered.status == 0, "\(rendered)")
        #expect(rendered.stdout.hasPrefix("table inet portctl {") && rendered.stdout.contains("elements = { 198.51.100.0/24 }"),
                "\(rendered)")

        try lab.listen(26)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        let opened = try package.portctl(["open", "26", "--from", "198.51.100.0/24"], in: lab)
        #expect(opened.status == 0, "\(opened)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut)
        #expect(try lab.kernelMatchesPolicy())
    }

    @Test func lddFindsEveryLibraryInDebianPackagesAndNoneInTheToolchain() throws {
        let package = try PackageLab()
        defer { package.cleanup() }
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        let ldd = try package.runWithoutSwift("ldd", [package.binary], in: lab)
        #expect(ldd.status == 0 && !ldd.stdout.contains("not found"), "\(ldd)")
        let libraries = ldd.stdout.split(separator: "\n").compactMap { line -> String? in
            let path = line.split(separator: " ").first { $0.hasPrefix("/") }
            return path.map(String.init)
        }
        #expect(libraries.contains { $0.hasSuffix("/libnftables.so.1") }, "\(ldd)")
        for library in libraries {
            #expect(!library.hasPrefix(PackageLab.toolchain) && !library.contains("swift"), "\(library)")
            #expect(try PackageLab.debianPackage(owning: library) != nil, "no Debian package holds \(library)")
        }
    }

    @Test func thePackageHoldsWhatAnAdminExpects() throws {
        let package = try PackageLab()
        defer { package.cleanup() }
        let control = try run(["dpkg-deb", "--field", package.deb.path])
        #expect(control.stdout.contains("Package: portctl\n"), "\(control)")
        let depends = try run(["dpkg-deb", "--field", package.deb.path, "Depends"]).stdout
        #expect(depends.contains("libnftables1 (>= 1.0.6)") && depends.contains("libc6"), "\(depends)")
        #expect(!depends.contains("swift"), "\(depends)")

        let root = package.root.path
        for file in ["usr/sbin/portctl", "usr/share/man/man8/portctl.8.gz", "usr/share/bash-completion/completions/portctl",
                     "usr/share/zsh/vendor-completions/_portctl", "usr/share/fish/vendor_completions.d/portctl.fish",
                     "lib/systemd/system/portctl.service", "usr/share/doc/portctl/copyright",
                     "usr/share/doc/portctl/changelog.Debian.gz", "usr/share/lintian/overrides/portctl",
                     "usr/share/doc/portctl/examples/fail2ban/action.d/portctl.conf",
                     "usr/share/doc/portctl/examples/monitoring/portctl-metrics.service"] {
            #expect(FileManager.default.fileExists(atPath: "\(root)/\(file)"), "\(file)")
        }
        // /etc/portctl is there, empty: the first change writes the policy (with SSH allowed).
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/etc/portctl") == [])
        let state = try FileManager.default.attributesOfItem(atPath: "\(root)/var/lib/portctl")
        #expect((state[.posixPermissions] as? Int) == 0o700)

        let unit = try String(contentsOfFile: "\(root)/lib/systemd/system/portctl.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/sbin/portctl apply") && !unit.contains("/usr/local"), "\(unit)")
        // The examples call portctl by name (found in /usr/sbin), never the hand-install path.
        let action = try String(contentsOfFile: "\(root)/usr/share/doc/portctl/examples/fail2ban/action.d/portctl.conf", encoding: .utf8)
        #expect(action.contains("\nportctl = portctl\n") && !action.contains("/usr/local/sbin/portctl"), "\(action)")
        let copyright = try String(contentsOfFile: "\(root)/usr/share/doc/portctl/copyright", encoding: .utf8)
        #expect(copyright.hasPrefix("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"))
        #expect(copyright.contains("Kirill Simonov"), "libyaml, which the binary embeds, is credited")
        #expect(copyright.contains("Files: *\nCopyright: 2026 portctl maintainers\nLicense: Apache-2.0\n")
                && copyright.contains("/usr/share/common-licenses/Apache-2.0") && !copyright.contains("not published a license"), "\(copyright)")

        // The maintainer scripts never stop, start or restart the unit: its ExecStop is
        // `portctl disable`, and removing or upgrading must not take the table out of the kernel.
        for script in ["postinst", "prerm", "postrm"] {
            let path = package.control.appendingPathComponent(script).path
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(mode == 0o755, "\(script)")
            let code = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
                .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") && !$0.contains("echo ") }
            for line in code {
                #expect(!line.contains("deb-systemd-invoke") && !line.contains("stop") && !line.contains("start")
                        && !(line.contains("systemctl") && !line.contains("daemon-reload")), "\(script): \(line)")
            }
        }

        // Every file is in md5sums and matches it.
        let sums = try run(["sh", "-c", "cd \"$1\" && md5sum --check --quiet \"$2\"", "sh", root,
                            package.control.appendingPathComponent("md5sums").path])
        #expect(sums.status == 0, "\(sums)")
        let listed = try String(contentsOf: package.control.appendingPathComponent("md5sums"), encoding: .utf8)
            .split(separator: "\n").count
        let files = try run(["find", root, "-type", "f"]).stdout.split(separator: "\n").count
        #expect(listed == files)
    }
}

/// Without the package a machine meant to run every test fails here, rather than skipping.
@Test func thePackageIsHereWhenRequired() {
    if KernelLab.required {
        #expect(PackageLab.found, Comment(rawValue: PackageLab.reason))
    }
}

/// The package extracted into a temporary root, and a way to run commands as on a host without
/// Swift: in a private mount namespace (`unshare -m`) with an empty tmpfs over the toolchain,
/// with `PATH` holding only the system's folders and no `LD_LIBRARY_PATH`.
final class PackageLab {
    /// This checkout, whose `.build/package` scripts/package writes to.
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    /// Why the suite is skipped, and how to make it run.
    static let reason = "the package tests need .build/package/portctl_VERSION_ARCH.deb (./scripts/package; scripts/test builds it), unshare and dpkg-deb, and root"
    /// `PATH` on a host without Swift.
    static let systemPath = "/usr/sbin:/usr/bin:/sbin:/bin"

    /// The .deb for this tree's version (the debug build's `--version`) and this machine's architecture.
    static let deb: URL? = {
        guard KernelLab.available,
              let version = try? run([NetLab.portctlPath, "--version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines),
              let arch = try? run(["dpkg", "--print-architecture"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        else { return nil }
        let folder = repositoryRoot.appendingPathComponent(".build/package")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasPrefix("portctl_\(version)-") && $0.hasSuffix("_\(arch).deb") }.sorted().last
            .map { folder.appendingPathComponent($0) }
    }()

    /// Whether the package and the tools to unpack it and hide the toolchain are here.
    static var found: Bool {
        deb != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/dpkg-deb")
    }

    /// The Swift toolchain's folder: where the test process's own `libswiftCore.so` came from
    /// (`/opt/swift` for `/opt/swift/usr/lib/swift/linux/libswiftCore.so`). A toolchain installed
    /// into `/usr` is hidden by its `/usr/lib/swift` alone.
    static let toolchain: String = {
        let maps = (try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)) ?? ""
        let core = maps.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
            .first { $0.hasSuffix("/libswiftCore.so") } ?? "/opt/swift/usr/lib/swift/linux/libswiftCore.so"
        var folder = URL(fileURLWithPath: core).deletingLastPathComponent().deletingLastPathComponent()  // .../lib/swift
        let lib = folder.deletingLastPathComponent()
        if lib.lastPathComponent == "lib" {
            let prefix = lib.deletingLastPathComponent()
            let root = prefix.lastPathComponent == "usr" ? prefix.deletingLastPathComponent() : prefix
            if root.path != "/" { folder = root }
        }
        return folder.path
    }()

    /// The .deb under test.
    let deb: URL
    /// A temporary folder for this test alone, removed by ``cleanup()``.
    let directory: URL
    /// The extracted package (`dpkg-deb -x`).
    let root: URL
    /// Its control files (`dpkg-deb -e`).
    let control: URL
    var binary: String { root.appendingPathComponent("usr/sbin/portctl").path }

    init() throws {
        deb = try #require(Self.deb, Comment(rawValue: Self.reason))
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pctlpkg\(getpid())-\(UUID().uuidString.prefix(8))")
        root = directory.appendingPathComponent("root")
        control = directory.appendingPathComponent("DEBIAN")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (option, folder) in [("-x", root), ("-e", control)] {
            let extracted = try run(["dpkg-deb", option, deb.path, folder.path])
            if extracted.status != 0 { throw LabError(message: "dpkg-deb \(option): \(extracted)") }
        }
    }

    /// Removes the extracted package.
    func cleanup() {
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { cleanup() }

    /// Runs the packaged portctl in the lab's server namespace without the toolchain, with the
    /// lab's policy file and state folder.
    func portctl(_ arguments: [String], in lab: NetLab) throws -> Outcome {
        try runWithoutSwift(binary, arguments, in: lab)
    }

    /// Runs a program in the lab's server namespace, in a private mount namespace where the
    /// toolchain's folder is an empty tmpfs, with an environment of only `PATH` (the system's
    /// folders) and the lab's `PORTCTL_POLICY` and `PORTCTL_STATE_DIR`.
    func runWithoutSwift(_ program: String, _ arguments: [String], in lab: NetLab) throws -> Outcome {
        let environment = ["PATH=\(Self.systemPath)"] + lab.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        #expect(!environment.contains { $0.contains(Self.toolchain) || $0.hasPrefix("LD_LIBRARY_PATH=") })
        let script = #"mount -t tmpfs -o size=64k,mode=0755 portctl-no-swift "$0" && exec "$@""#
        return try run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, Self.toolchain,
             "ip", "netns", "exec", lab.server, "env", "-i"] + environment + [program] + arguments)
    }

    /// The Debian package that installed `path` (`dpkg -S`), trying the other side of the /usr
    /// merge too (`/lib/x` is `/usr/lib/x`), or nil when none did.
    static func debianPackage(owning path: String) throws -> String? {
        let other = path.hasPrefix("/usr/") ? String(path.dropFirst(4)) : "/usr" + path
        for candidate in [path, other] {
            let owner = try run(["dpkg", "-S", candidate])
            if owner.status == 0, let name = owner.stdout.split(separator: ":").first { return String(name) }
        }
        return nil
    }
}
