import Foundation
import Testing
import PortPolicy

@Suite struct ExamplePolicyTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/policies")

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
    }

    @Test func thereAreExamples() {
        #expect(Self.files.count >= 2)
    }

    @Test(arguments: files)
    func decodesRendersAndRoundTrips(_ file: String) throws {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent(file))
        let policy = try PolicyFile.decode(data)
        #expect(!policy.rules.isEmpty)
        #expect(Renderer.table(policy).hasPrefix("table inet \(policy.table) {"))
        #expect(try PolicyFile.decode(PolicyFile.encode(policy)) == policy)
    }
}
