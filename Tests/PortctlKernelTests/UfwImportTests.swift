import Foundation
import PortPolicy
import Testing

/// `portctl import ufw` against the real ufw (Debian's package): ufw filters the lab's server, the
/// clients' connections are recorded port by port, portctl imports ufw's files, ufw is disabled,
/// portctl applies, and every connection ends the same way again.
@Suite(.serialized, .enabled(if: KernelLab.available && UfwLab.installed, Comment(rawValue: UfwLab.reason)))
struct UfwImportKernelTests {
    static let tcpPorts = [22, 23, 24, 25, 26, 27, 80, 443, 5000, 7999, 8000, 8050, 8100, 8101, 9000]
    static let udpPorts = [5353, 5354]

    /// Every client address against every port, TCP and UDP.
    static func outcomes(_ lab: NetLab) throws -> [String: Connection] {
        var probes: [NetLab.Probe] = []
        var names: [String] = []
        for (client, name, server) in [(lab.clientA, "A", NetLab.serverA4), (lab.clientA, "A", NetLab.serverA6),
                                       (lab.clientB, "B", NetLab.serverB4), (lab.clientB, "B", NetLab.serverB6)] {
            for port in tcpPorts {
                probes.append(NetLab.Probe(from: client, to: server, port: port))
                names.append("\(name) -> \(server) \(port)/tcp")
            }
            for port in udpPorts {
                probes.append(NetLab.Probe(from: client, to: server, port: port, udp: true))
                names.append("\(name) -> \(server) \(port)/udp")
            }
        }
        return Dictionary(uniqueKeysWithValues: zip(names, try lab.connectAll(probes, timeout: 0.6)))
    }

    @Test func connectionsEndAsUnderUfwPortByPort() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(Self.tcpPorts.filter { $0 != 24 && $0 != 7999 }, in: lab.server, udp: false)
        try lab.listenUDP(5353, 5354)
        let ufw = try UfwLab(lab)
        for command in [
            ["--force", "enable"],
            ["limit", "22/tcp"],
            ["allow", "from", "198.51.100.0/24", "to", "any", "port", "26", "proto", "tcp", "comment", "relays"],
            ["allow", "from", "2001:db8:2::/64", "to", "any", "port", "27", "proto", "tcp"],
            ["allow", "80,443/tcp"],
            ["allow", "8000:8100/tcp"],
            ["deny", "23"],
            ["reject", "25/tcp"],
            ["allow", "5353/udp"],
            // Appended after the allows above: ufw still lets 203.0.113.0/24 reach them.
            ["deny", "from", "203.0.113.0/24"],
            ["allow", "5000/tcp"],
            ["allow", "in", "on", lab.interfaceA, "to", "any", "port", "9000", "proto", "tcp"],
            ["allow", "out", "53/udp"],
            ["route", "allow", "in", "on", lab.interfaceA, "out", "on", lab.interfaceB, "to", "203.0.113.0/24", "port", "80", "proto", "tcp"],
            // The import reads ufw's files, which is what ufw enforces after a reload or a boot.
            // (ufw 0.36.2 adding `limit` to a running firewall leaves ip6tables' ufw6-user-limit
            // chains empty, dropping IPv6 on that port, until it reloads: seen here.)
            ["reload"],
        ] {
            let outcome = try ufw.run(command)
            try #require(outcome.status == 0, "ufw \(command.joined(separator: " ")): \(outcome)")
        }
        let underUfw = try Self.outcomes(lab)
        // ufw really filters: the deny after the allows, the interface, the family, the reject.
        #expect(underUfw["B -> \(NetLab.serverB4) 80/tcp"] == .connected && underUfw["B -> \(NetLab.serverB4) 5000/tcp"] == .timedOut)
        #expect(underUfw["A -> \(NetLab.serverA4) 5000/tcp"] == .connected && underUfw["A -> \(NetLab.serverA4) 9000/tcp"] == .connected)
        #expect(underUfw["A -> \(NetLab.serverA6) 26/tcp"] == .timedOut && underUfw["B -> \(NetLab.serverB6) 27/tcp"] == .connected)
        #expect(underUfw["A -> \(NetLab.serverA4) 25/tcp"] == .refused && underUfw["A -> \(NetLab.serverA4) 23/tcp"] == .timedOut)
        #expect(underUfw["A -> \(NetLab.serverA4) 5354/udp"] == .timedOut && underUfw["A -> \(NetLab.serverA4) 5353/udp"] == .connected)

        let imported = try lab.portctl("import", "ufw", "--rules", ufw.etc.path)
        #expect(imported.status == 0, "\(imported)")
        #expect(imported.stdout.contains("into \(lab.policyPath)") && !imported.stderr.contains("untranslated"), "\(imported)")
        #expect(try lab.nft("list", "tables").stdout.contains("portctl") == false, "import is a file operation")

        #expect(try ufw.run(["disable"]).status == 0)
        let open = try Self.outcomes(lab)
        #expect(open["A -> \(NetLab.serverA4) 23/tcp"] == .connected, "ufw is off: nothing filters")

        let applied = try lab.portctl("apply")
        #expect(applied.status == 0, "\(applied)")
        let underPortctl = try Self.outcomes(lab)
        for (probe, expected) in underUfw.sorted(by: { $0.key < $1.key }) {
            #expect(underPortctl[probe] == expected, "\(probe): ufw \(expected), portctl \(String(describing: underPortctl[probe]))")
        }
        #expect(try lab.kernelMatchesPolicy())
    }
}

/// The import's refusals and its dry run, from files written here (no ufw needed).
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct UfwImportCommandTests {
    /// On CI the ufw test must run, not skip.
    @Test func ufwIsHereWhenRequired() {
        if KernelLab.required {
            #expect(UfwLab.installed, Comment(rawValue: UfwLab.reason))
        }
    }

    /// A ufw folder and settings file in the lab's folder, as a copy of /etc would hold them.
    static func folder(_ lab: NetLab, tuples: [String]) throws -> String {
        let etc = lab.directory.appendingPathComponent("etc")
        try FileManager.default.createDirectory(at: etc.appendingPathComponent("ufw"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: etc.appendingPathComponent("default"), withIntermediateDirectories: true)
        let rules = "*filter\n### RULES ###\n" + tuples.map { "\n### tuple ### \($0)\n" }.joined() + "\n### END RULES ###\nCOMMIT\n"
        try Data(rules.utf8).write(to: etc.appendingPathComponent("ufw/user.rules"))
        try Data("ENABLED=yes\nLOGLEVEL=low\n".utf8).write(to: etc.appendingPathComponent("ufw/ufw.conf"))
        try Data("IPV6=yes\nDEFAULT_INPUT_POLICY=\"DROP\"\nDEFAULT_OUTPUT_POLICY=\"ACCEPT\"\nDEFAULT_FORWARD_POLICY=\"ACCEPT\"\n".utf8)
            .write(to: etc.appendingPathComponent("default/ufw"))
        return etc.appendingPathComponent("ufw").path
    }

    @Test func somethingUntranslatedWritesNothingUnlessPartial() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        let folder = try Self.folder(lab, tuples: ["allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", "allow udp 30 0.0.0.0/0 1234 203.0.113.0/24 in"])
        let refused = try lab.portctl("import", "ufw", "--rules", folder)
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr.contains("untranslated: [2] ufw allow from 203.0.113.0/24 port 1234 to any port 30 proto udp: not imported: portctl cannot match source ports"))
        #expect(refused.stderr.split(separator: "\n").last?.hasPrefix("portctl: 1 ufw rule or setting could not be translated") == true, "\(refused)")
        #expect(lab.policyBytes().isEmpty)
        let partial = try lab.portctl("import", "ufw", "--rules", folder, "--partial")
        #expect(partial.status == 0, "\(partial)")
        let policy = try PolicyFile.decode(lab.policyBytes())
        #expect(policy.rules.map(\.id) == ["allow-tcp-22"] && policy.routed == .accept)
    }

    @Test func aRulesFileThatIsNotUfwsIsRefusedNamingIt() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        let folder = try Self.folder(lab, tuples: [])
        var generator = SeededGenerator(state: 22)
        let noise = Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) })
        try noise.write(to: URL(fileURLWithPath: folder + "/user.rules"))
        for arguments in [["import", "ufw", "--rules", folder], ["import", "ufw", "--rules", folder, "--dry-run"]] {
            let refused = try lab.portctl(arguments)
            #expect(refused.status == 65 && refused.stderr.contains(folder + "/user.rules is not a ufw rules file")
                    && refused.stderr.split(separator: "\n").last?.hasPrefix("portctl: ") == true && refused.stdout.isEmpty, "\(refused)")
        }
        #expect(lab.policyBytes().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: lab.policyPath))
    }

    @Test func anExistingPolicyIsReplacedOnlyWithReplace() throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        let folder = try Self.folder(lab, tuples: ["allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", "deny any 23 0.0.0.0/0 any 0.0.0.0/0 in"])
        #expect(try lab.portctl("open", "26").status == 0)
        let before = lab.policyBytes()
        let kernel = try lab.ruleset()
        let refused = try lab.portctl("import", "ufw", "--rules", folder)
        #expect(refused.status == 1 && refused.stderr.contains("--replace"), "\(refused)")
        #expect(lab.policyBytes() == before)
        let dryRun = try lab.portctl("import", "ufw", "--rules", folder, "--dry-run")
        #expect(dryRun.status == 2 && dryRun.stdout.contains("id: \"deny-both-23\""), "\(dryRun)")
        #expect(lab.policyBytes() == before)
        let replaced = try lab.portctl("import", "ufw", "--rules", folder, "--replace")
        #expect(replaced.status == 0, "\(replaced)")
        #expect(FileManager.default.contents(atPath: lab.policyPath + ".before-import") == before)
        #expect(try PolicyFile.decode(lab.policyBytes()).rules.map(\.id) == ["allow-tcp-22", "deny-both-23"])
        #expect(try lab.ruleset() == kernel, "import leaves the kernel to portctl apply")
        let again = try lab.portctl("import", "ufw", "--rules", folder, "--replace")
        #expect(again.status == 0 && again.stdout.contains("unchanged"), "\(again)")
        #expect(try lab.portctl("import", "ufw", "--rules", folder, "--dry-run").status == 0)
    }

    @Test(arguments: [["--rules", "/nonexistent/ufw"], ["--defaults", "/nonexistent/default-ufw"], ["--limit", "6/fortnight"], ["--bogus"]])
    func badInputExits64AndWritesNothing(_ arguments: [String]) throws {
        let lab = try NetLab(withClients: false)
        defer { lab.cleanup() }
        let folder = try Self.folder(lab, tuples: ["allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in"])
        let outcome = try lab.portctl(["import", "ufw"] + (arguments.first == "--rules" ? arguments : ["--rules", folder] + arguments))
        #expect(outcome.status == 64, "\(outcome)")
        let lines = outcome.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("portctl: "), "\(outcome.stderr)")
        #expect(lab.policyBytes().isEmpty)
    }
}

/// Real ufw in the lab's server namespace and, for each command, a private mount namespace where
/// /etc/ufw, /lib/ufw and /etc/default/ufw are this lab's copies and /run is empty: the host's ufw
/// files, lock and firewall are never touched, and nothing outlives the command.
final class UfwLab {
    static var installed: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/sbin/ufw") && FileManager.default.fileExists(atPath: "/etc/ufw/ufw.conf")
            && FileManager.default.fileExists(atPath: "/usr/share/ufw/iptables/user.rules")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
    }
    static let reason = "the ufw import test needs ufw (scripts/install-deps), unshare, and root"

    let lab: NetLab
    /// A copy of /etc: `etc/ufw` and `etc/default/ufw`, as `portctl import ufw --rules` finds them.
    let root: URL
    var etc: URL { root.appendingPathComponent("etc/ufw") }
    var settings: URL { root.appendingPathComponent("etc/default/ufw") }
    var lib: URL { root.appendingPathComponent("lib/ufw") }

    init(_ lab: NetLab) throws {
        self.lab = lab
        root = lab.directory.appendingPathComponent("ufw-root")
        let files = FileManager.default
        try files.createDirectory(at: root.appendingPathComponent("etc/default"), withIntermediateDirectories: true)
        try files.createDirectory(at: root.appendingPathComponent("lib"), withIntermediateDirectories: true)
        try files.copyItem(at: URL(fileURLWithPath: "/etc/ufw"), to: etc)
        try files.copyItem(at: URL(fileURLWithPath: "/lib/ufw"), to: lib)
        try files.copyItem(at: URL(fileURLWithPath: "/etc/default/ufw"), to: settings)
        // Leave every sysctl alone, and start from no rules whatever the host's copy holds: the
        // empty rule files the package installs (as its postinst does when there are none).
        try Data().write(to: etc.appendingPathComponent("sysctl.conf"))
        for name in ["user.rules", "user6.rules"] {
            try? files.removeItem(at: etc.appendingPathComponent(name))
            try files.copyItem(at: URL(fileURLWithPath: "/usr/share/ufw/iptables/" + name), to: etc.appendingPathComponent(name))
        }
    }

    /// Runs `ufw ARGS` in the server namespace with this lab's files.
    func run(_ arguments: [String]) throws -> Outcome {
        let script = """
        set -e
        mount --bind "$1" /etc/ufw
        mount --bind "$2" /lib/ufw
        mount --bind "$3" /etc/default/ufw
        mount -t tmpfs tmpfs /run
        shift 3
        exec /usr/sbin/ufw "$@"
        """
        return try PortctlKernelTests.run(["ip", "netns", "exec", lab.server, "unshare", "--mount", "--propagation", "private",
                                           "sh", "-c", script, "ufw-lab", etc.path, lib.path, settings.path] + arguments)
    }
}
