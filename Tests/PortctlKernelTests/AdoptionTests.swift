import Foundation
import Testing

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The Ansible module, run by ansible-core against localhost inside a network namespace.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct AnsibleModuleTests {
    static let venv = packageRoot.appendingPathComponent(".build/ansible-venv/bin")

    /// The environment ansible runs in: the lab's portctl paths (the modules hand them on to
    /// portctl), the built portctl first on PATH, the example modules and action plugins, and
    /// Ansible's own files inside the lab's folder.
    static func environment(_ lab: NetLab) -> [String: String] {
        var environment = lab.environment
        environment["PATH"] = productsDirectory.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        environment["ANSIBLE_LIBRARY"] = packageRoot.appendingPathComponent("Examples/ansible/library").path
        environment["ANSIBLE_ACTION_PLUGINS"] = packageRoot.appendingPathComponent("Examples/ansible/action_plugins").path
        environment["ANSIBLE_LOCALHOST_WARNING"] = "False"
        environment["ANSIBLE_NOCOLOR"] = "True"
        environment["ANSIBLE_PYTHON_INTERPRETER"] = venv.appendingPathComponent("python3").path
        environment["ANSIBLE_LOCAL_TEMP"] = lab.directory.appendingPathComponent("ansible-local").path
        environment["ANSIBLE_REMOTE_TEMP"] = lab.directory.appendingPathComponent("ansible-remote").path
        environment["HOME"] = lab.directory.path
        // The action plugin is imported by the controller: no __pycache__ in the source tree.
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        return environment
    }

    /// The venv holds exactly the ansible-core pinned in scripts/ansible-requirements.txt.
    static func expectPinnedAnsible() throws {
        let pin = try String(contentsOf: packageRoot.appendingPathComponent("scripts/ansible-requirements.txt"), encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("ansible-core==") }.map { String($0.dropFirst("ansible-core==".count)) }
        let installed = try run([venv.appendingPathComponent("python3").path, "-c", "import ansible.release; print(ansible.release.__version__)"])
        #expect(pin != nil && installed.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == pin,
                "scripts/test installs the ansible-core pinned in scripts/ansible-requirements.txt (\(pin ?? "no pin")) into .build/ansible-venv: \(installed)")
    }

    func ansible(_ lab: NetLab, _ arguments: String, extra: [String] = []) throws -> (changed: Bool, result: [String: Any], outcome: Outcome) {
        let outcome = try run(["ip", "netns", "exec", lab.server, Self.venv.appendingPathComponent("ansible").path,
                               "localhost", "-c", "local", "-i", "localhost,", "-m", "portctl", "-a", arguments] + extra,
                              environment: Self.environment(lab))
        guard let range = outcome.stdout.range(of: "=> ") else { return (false, [:], outcome) }
        let json = try JSONSerialization.jsonObject(with: Data(outcome.stdout[range.upperBound...].utf8)) as? [String: Any] ?? [:]
        return (json["changed"] as? Bool ?? false, json, outcome)
    }

    @Test func checkModeChangesNothingThenARealRunOpensThenNoChange() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.venv.appendingPathComponent("ansible").path),
                "ansible-core is installed by scripts/test into .build/ansible-venv")
        try Self.expectPinnedAnsible()
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        let arguments = "port=26 from=198.51.100.0/24 state=open"

        let check = try ansible(lab, arguments, extra: ["--check", "--diff"])
        #expect(check.outcome.stdout.contains("CHANGED"), "\(check.outcome)")
        #expect(check.changed)
        // Diff mode: ansible prints the module's before/after of the policy.
        #expect(check.outcome.stdout.contains("+++ after") && check.outcome.stdout.contains("\"198.51.100.0/24\""), "\(check.outcome)")
        #expect(!FileManager.default.fileExists(atPath: lab.policyPath), "check mode writes no policy file")
        #expect(try lab.nft("list", "ruleset").stdout.isEmpty, "check mode leaves the kernel alone")
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)

        let real = try ansible(lab, arguments)
        #expect(real.changed, "\(real.outcome)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut)

        let again = try ansible(lab, arguments)
        #expect(!again.changed && again.outcome.stdout.contains("SUCCESS"), "\(again.outcome)")

        let closed = try ansible(lab, "port=26 from=198.51.100.0/24 state=closed")
        #expect(closed.changed, "\(closed.outcome)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .timedOut)
        #expect(!(try ansible(lab, "port=26 from=198.51.100.0/24 state=closed")).changed)
    }
}

/// The man page, completions and the embedding example stay in step with the code.
@Suite struct DocumentationTests {
    static var portctl: String { productsDirectory.appendingPathComponent("portctl").path }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionsAreCurrent(_ shell: String) throws {
        let generated = try run([Self.portctl, "--generate-completion-script", shell])
        let committed = try String(contentsOf: packageRoot.appendingPathComponent("docs/completions/portctl.\(shell)"), encoding: .utf8)
        #expect(generated.stdout == committed, "run ./scripts/generate-docs and commit docs/completions")
    }

    @Test func manPageRendersAndNamesEveryCommand() throws {
        let page = packageRoot.appendingPathComponent("docs/man/portctl.1").path
        let rendered = try run(["man", "-l", page], environment: ["MANPAGER": "cat", "MANWIDTH": "100"])
        #expect(rendered.status == 0, "\(rendered)")
        let help = try run([Self.portctl, "--help"]).stdout
        let commands = help.components(separatedBy: "SUBCOMMANDS:").last?.split(separator: "\n")
            .compactMap { $0.hasPrefix("  ") && !$0.hasPrefix("   ") ? $0.split(separator: " ").first.map(String.init) : nil } ?? []
        #expect(commands.count >= 15, "\(commands)")
        for command in commands where command != "See" {
            #expect(rendered.stdout.contains(command), "the man page lacks '\(command)': run ./scripts/generate-docs")
        }
    }

    /// The mail relay provisioner in Examples/embed changes the kernel through the library (no
    /// portctl process), and what it did shows in portctl's history and is undone by its rollback.
    @Test func embeddingExampleProvisionsRelaysThroughTheLibrary() throws {
        let example = productsDirectory.appendingPathComponent("portctl-embed-example").path
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        func provision(_ arguments: String...) throws -> Outcome {
            try run(["ip", "netns", "exec", lab.server, example] + arguments, environment: lab.environment)
        }
        let bad = try provision("--relays", "198.51.100.0/33")
        #expect(bad.status == 64 && bad.stderr.split(separator: "\n").count == 1, "\(bad)")
        #expect(try lab.nft("list", "ruleset").stdout.isEmpty)

        let first = try provision("--relays", "\(NetLab.clientA4)/32")
        #expect(first.status == 0, "\(first)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut)
        #expect(try lab.kernelMatchesPolicy())
        let again = try provision("--relays", "\(NetLab.clientA4)/32")
        #expect(again.status == 0 && again.stdout.contains("nothing changed"), "\(again)")

        // Exactly the relays given: the second network replaces the first.
        let moved = try provision("--relays", "203.0.113.0/24")
        #expect(moved.status == 0, "\(moved)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .timedOut)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)

        let history = try lab.portctl("history")
        #expect(history.stdout.contains("mail-relays"), "\(history)")
        let entries = try lab.portctl("history", "--json")
        #expect(entries.stdout.contains("portctl-embed-example"), "the history names the tool: \(entries)")
        let rollback = try lab.portctl("rollback")
        #expect(rollback.status == 0, "\(rollback)")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .timedOut)
        #expect(try lab.kernelMatchesPolicy())
    }
}
