import Foundation
import PortPolicy
import PortctlDriver
import Testing

/// The embedding guide's snippet (PortctlDriver.docc/PortctlDriver.md), compiled: its first Swift
/// block, imports aside, is ``EmbeddingGuideSnippet/body()`` line for line, and the test fails
/// when the two part. The body is compiled here, never run (it would change the kernel).
enum EmbeddingGuideSnippet {
    static func body() throws {
        // snippet:start
        // A confirmation deadline needs a watchdog the program names: this program, run again with a
        // flag it hands to the library (first thing in main).
        if try ChangeControl.runWatchdogIfAsked(flag: "--portctl-watchdog") { exit(0) }
        let control = ChangeControl(author: ChangeAuthor.current(environment: ProcessInfo.processInfo.environment,
                                                         arguments: ["relay-provisioner"]),
                                    watchdogCommand: ChangeControl.watchdog(runningThisProgramWith: "--portctl-watchdog"))
        let result = try control.change("open", options: ChangeOptions(confirmSeconds: 120)) { policy in
            [try policy.open(PortRequest(spec: PortSpec(ports: [try PortRange(26)], proto: .tcp),
                                         sources: [try IPNetwork(parsing: "198.51.100.0/24")], id: "mail-relays"))]
        }
        print(result.plan?.changes ?? [], result.entry?.sequence ?? 0)
        // Later, from a new connection: keep it (or let the deadline roll it back).
        _ = try control.confirm()
        // snippet:end
    }
}

@Test func theEmbeddingGuidesSnippetIsTheCompiledOne() throws {
    let here = URL(fileURLWithPath: #filePath)
    let guide = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/PortctlDriver/PortctlDriver.docc/PortctlDriver.md")
    let page = try String(contentsOf: guide, encoding: .utf8)
    let block = try #require(page.components(separatedBy: "```swift\n").dropFirst().first?.components(separatedBy: "```").first)
    let snippet = block.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        .filter { !$0.hasPrefix("import ") }.drop { $0.isEmpty }.map { $0.trimmingCharacters(in: .whitespaces) }
    let source = try String(contentsOf: here, encoding: .utf8)
    let compiled = try #require(source.components(separatedBy: "// snippet:start\n").dropFirst().first?.components(separatedBy: "        // snippet:end").first)
        .split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    #expect(Array(snippet) == compiled, "the guide's snippet and the compiled copy differ: copy the guide's block into EmbeddingGuideSnippet.body()")
    #expect(block.contains("import Foundation"), "the snippet uses exit and ProcessInfo")
}
