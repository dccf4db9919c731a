import Foundation
import Testing

/// The rendered text is what the kernel gets: prove nftables accepts it and keeps user text
/// exactly as written.
@Suite(.serialized, .enabled(if: KernelLab.available, Comment(rawValue: KernelLab.reason)))
struct RenderedRulesetTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func everyGoldenFileIsAcceptedByTheKernel() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        let golden = Self.packageRoot.appendingPathComponent("Tests/PortPolicyTests/Golden")
        let files = try FileManager.default.contentsOfDirectory(atPath: golden.path).filter { $0.hasSuffix(".nft") }
        #expect(files.count >= 5)
        for file in files {
            // Check mode: the kernel validates the whole batch and commits nothing.
            let checked = try lab.nft("-c", "-f", golden.appendingPathComponent(file).path)
            #expect(checked.status == 0, "\(file): \(checked)")
        }
        #expect(try lab.nft("list", "ruleset").stdout.isEmpty)
    }

    @Test func everyExamplePolicyApplies() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        let examples = Self.packageRoot.appendingPathComponent("Examples/policies")
        let files = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".yaml") }
        #expect(!files.isEmpty)
        for file in files {
            // A copy owned by root: a checkout owned by another user would be refused, rightly.
            let copy = lab.directory.appendingPathComponent(file).path
            try FileManager.default.copyItem(atPath: examples.appendingPathComponent(file).path, toPath: copy)
            let checked = try lab.portctl("check", "--policy", copy)
            #expect(checked.status == 0 && checked.stdout.contains("kernel accepted"), "\(file): \(checked)")
            let applied = try lab.portctl("apply", "--policy", copy)
            #expect(applied.status == 0, "\(file): \(applied)")
        }
    }

    @Test func commentsReachTheKernelVerbatimAndCannotAddStructure() throws {
        let lab = try NetLab()
        defer { lab.cleanup() }
        let comments = ["semi; colon } table inet x { chain y {", "$var @set #hash", "it's ümlaut 🔥", "drop; accept",
                        String(repeating: "é", count: 45)]
        for (index, comment) in comments.enumerated() {
            let opened = try lab.portctl("open", String(100 + index), "--comment", comment)
            #expect(opened.status == 0, "\(comment): \(opened)")
        }
        let listing = try lab.nft("-j", "list", "ruleset").stdout
        let json = try #require(try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [String: Any])
        let items = try #require(json["nftables"] as? [[String: Any]])
        let tables = items.compactMap { $0["table"] as? [String: Any] }.map { $0["name"] as? String }
        #expect(tables == ["portctl"])
        let chains = items.compactMap { $0["chain"] as? [String: Any] }.compactMap { $0["name"] as? String }
        #expect(chains == ["input", "forward"], "the input chain and the published-port chain, nothing else")
        let listed = Set(items.compactMap { ($0["rule"] as? [String: Any])?["comment"] as? String })
        for (index, comment) in comments.enumerated() {
            #expect(listed.contains("allow-tcp-\(100 + index): \(comment)"), "\(comment) not found in \(listed)")
        }
    }
}
