import Foundation
import PortPolicy
import Testing

/// A rule whose sources live in an address file (`--from @FILE`): apply re-reads the file and
/// sends only the element differences; a missing file changes nothing.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct SourceFileKernelTests {
    @Test func applyFollowsTheFileByElementsAndAMissingFileChangesNothing() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        try lab.listen(26)
        let file = lab.directory.appendingPathComponent("relays.txt").path
        try "# mail relays\n\(NetLab.clientA4)/32\n".write(toFile: file, atomically: true, encoding: .utf8)
        let opened = try lab.portctl("open", "26", "--from", "@" + file, "--id", "relays")
        #expect(opened.status == 0, "\(opened)")
        #expect(try String(contentsOfFile: lab.policyPath, encoding: .utf8).contains("\"@\(file)\""), "the policy keeps the path")
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26, timeout: 0.5) == .timedOut)
        #expect(try lab.kernelMatchesPolicy())
        let handles = try lab.nft("-a", "list", "chain", "inet", "portctl", "input").stdout

        // The file grows: plan names it, apply adds one element and rewrites no rule.
        try "# mail relays\n\(NetLab.clientA4)/32\n203.0.113.0/24\n".write(toFile: file, atomically: true, encoding: .utf8)
        let plan = try lab.portctl("plan")
        #expect(plan.status == 2 && plan.stdout.contains("+203.0.113.0/24") && plan.stdout.contains("@\(file)"), "\(plan)")
        let batch = try lab.portctl("plan", "--format", "nft")
        #expect(batch.stdout.contains("add element inet portctl relays-v4 { 203.0.113.0/24 }") && !batch.stdout.contains("delete set"), "\(batch)")
        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26) == .connected)
        #expect(try lab.nft("-a", "list", "chain", "inet", "portctl", "input").stdout == handles)
        #expect(try lab.kernelMatchesPolicy())

        // An empty file lets no one in (never anyone).
        try "# nobody for now\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try lab.portctl("apply").status == 0)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26, timeout: 0.5) == .timedOut)
        #expect(try lab.connect(from: lab.clientB, to: NetLab.serverB4, port: 26, timeout: 0.5) == .timedOut)

        // The file goes: apply fails naming it, and the kernel keeps the last good set.
        try "\(NetLab.clientA4)\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try lab.portctl("apply").status == 0)
        let before = try lab.listing("-s", "list", "table", "inet", "portctl")
        try FileManager.default.removeItem(atPath: file)
        let failed = try lab.portctl("apply")
        #expect(failed.status == 65 && failed.stderr.contains(file) && failed.stderr.split(separator: "\n").count == 1, "\(failed)")
        #expect(try lab.listing("-s", "list", "table", "inet", "portctl") == before)
        #expect(try lab.connect(from: lab.clientA, to: NetLab.serverA4, port: 26) == .connected)

        // A file others could write is refused like a policy file would be.
        try "203.0.113.0/24\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o666)
        let untrusted = try lab.portctl("apply")
        #expect(untrusted.status != 0 && untrusted.stderr.contains(file), "\(untrusted)")
        #expect(try lab.listing("-s", "list", "table", "inet", "portctl") == before)
    }
}
