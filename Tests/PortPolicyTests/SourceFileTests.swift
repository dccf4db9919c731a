import Foundation
import PortPolicy
import Testing

/// Address files named in a rule's `from` (`@PATH`): read through a reader the caller gives,
/// written back as paths, never taken for "any source".
struct SourceFileTests {
    static let files: [String: [IPNetwork]] = [
        "/etc/portctl/relays.txt": [try! IPNetwork(parsing: "198.51.100.0/24"), try! IPNetwork(parsing: "2001:db8:1::/64")],
        "/etc/portctl/empty.txt": [],
    ]
    static func read(_ path: String) throws(PolicyError) -> [IPNetwork] {
        guard let networks = files[path] else { throw .invalidSource("@" + path, reason: "the address file does not exist") }
        return networks
    }

    static let text = """
    version: 1
    rules:
      - id: relays
        ports: [26]
        from: [203.0.113.7, "@/etc/portctl/relays.txt"]
      - id: nobody
        ports: [27]
        from: ["@/etc/portctl/empty.txt"]
    """

    @Test func filesAreReadAndWrittenBackAsPaths() throws {
        let policy = try PolicyFile.decode(Self.text, readSourceFile: Self.read)
        let relays = try #require(policy.rule(id: "relays"))
        #expect(relays.sources.map(\.description) == ["203.0.113.7", "198.51.100.0/24", "2001:db8:1::/64"])
        #expect(relays.sourceFile(of: try IPNetwork(parsing: "198.51.100.0/24")) == "/etc/portctl/relays.txt")
        let written = PolicyFile.encode(policy)
        #expect(written.contains(#"from: ["203.0.113.7", "@/etc/portctl/relays.txt"]"#), "\(written)")
        #expect(!written.contains("198.51.100.0/24"), "the file's addresses stay in the file")
        #expect(try PolicyFile.decode(written, readSourceFile: Self.read) == policy)
    }

    @Test func anEmptyFileMeansNoOneNeverAnyone() throws {
        let policy = try PolicyFile.decode(Self.text, readSourceFile: Self.read)
        let nobody = try #require(policy.rule(id: "nobody"))
        #expect(!nobody.isFromAnywhere)
        #expect(policy.evaluate(Packet(source: IPAddress("198.51.100.9")!, port: 27)).verdict != .accept)
        #expect(policy.evaluate(Packet(source: IPAddress("198.51.100.9")!, port: 26)).verdict == .accept)
        let table = Renderer.model(policy)
        #expect(table.set("nobody-v4")?.elements == [] && table.set("nobody-v6")?.elements == [])
        #expect(Renderer.table(policy).contains("ip saddr @nobody-v4"))
    }

    @Test func withoutAReaderOrWithAMissingFileNothingLoads() throws {
        #expect(throws: PolicyError.self) { try PolicyFile.decode(Self.text) }
        let missing = Self.text.replacingOccurrences(of: "relays.txt", with: "gone.txt")
        #expect(throws: PolicyError.self) { try PolicyFile.decode(missing, readSourceFile: Self.read) }
        let relative = Self.text.replacingOccurrences(of: "@/etc/portctl/relays.txt", with: "@relays.txt")
        #expect(throws: PolicyError.self) { try PolicyFile.decode(relative, readSourceFile: Self.read) }
    }

    @Test func closingAnAddressAFileHoldsPointsAtTheFile() throws {
        var policy = try PolicyFile.decode(Self.text, readSourceFile: Self.read)
        let spec = PortSpec(ports: [try PortRange(26)], proto: .tcp)
        do {
            _ = try policy.close(PortRequest(spec: spec, sources: [try IPNetwork(parsing: "198.51.100.0/24")]))
            Issue.record("closing a file's address must be refused")
        } catch {
            #expect("\(error)".contains("@/etc/portctl/relays.txt"), "\(error)")
        }
        _ = try policy.close(PortRequest(spec: spec, sources: [try IPNetwork(parsing: "203.0.113.7")]))
        let relays = try #require(policy.rule(id: "relays"))
        #expect(relays.sources.count == 2 && relays.inlineSources.isEmpty)
        var request = PortRequest(spec: spec)
        request.sourceFiles = [SourceFile(path: "/etc/portctl/relays.txt", networks: [])]
        _ = try policy.close(request)
        #expect(policy.rule(id: "relays") == nil, "a rule left with no addresses and no files goes")
    }

    @Test func closingAnAddressAlsoInAFileIsRefused() throws {
        var policy = try PolicyFile.decode(Self.text.replacingOccurrences(of: "203.0.113.7", with: "198.51.100.0/24"), readSourceFile: Self.read)
        let spec = PortSpec(ports: [try PortRange(26)], proto: .tcp)
        do {
            _ = try policy.close(PortRequest(spec: spec, sources: [try IPNetwork(parsing: "198.51.100.0/24")]))
            Issue.record("the file would keep the address in: the close must be refused")
        } catch {
            #expect("\(error)".contains("also reads it from @/etc/portctl/relays.txt"), "\(error)")
        }
        let nobody = try #require(policy.rule(id: "nobody"))
        #expect(policy.explain(Packet(source: IPAddress("198.51.100.9")!, port: 27)).message.contains("no one"))
        #expect(nobody.addressesDescription.hasPrefix("no one"))
        #expect(throws: PolicyError.self) { try PortRule.validateSourceFilePath("/etc/portctl/a\u{FFFE}b") }
        #expect(throws: PolicyError.self) { try PortRule.validateSourceFilePath("/etc/portctl/a\u{85}b") }
    }

    @Test func closingAnAddressAWiderNetworkStillAdmitsSaysSo() throws {
        var policy = try PolicyFile.decode(Self.text.replacingOccurrences(of: "203.0.113.7", with: "198.51.100.9"), readSourceFile: Self.read)
        let changes = try policy.close(PortRequest(spec: PortSpec(ports: [try PortRange(26)], proto: .tcp),
                                                   sources: [try IPNetwork(parsing: "198.51.100.9")]))
        #expect(changes.contains(.unchanged("198.51.100.9 is still allowed by rule \"relays\" through 198.51.100.0/24 (from @/etc/portctl/relays.txt)")), "\(changes)")
    }

    @Test func openingWithAFileKeepsTheInlineAddresses() throws {
        var policy = PortPolicy(rules: [PortRule(id: "relays", ports: [try PortRange(26)], sources: [try IPNetwork(parsing: "203.0.113.7")])])
        var request = PortRequest(spec: PortSpec(ports: [try PortRange(26)], proto: .tcp))
        request.sourceFiles = [SourceFile(path: "/etc/portctl/relays.txt", networks: try Self.read("/etc/portctl/relays.txt"))]
        _ = try policy.open(request)
        let relays = try #require(policy.rule(id: "relays"))
        #expect(relays.inlineSources.map(\.description) == ["203.0.113.7"])
        #expect(relays.sources.count == 3)
        #expect(PolicyFile.encode(policy).contains(#"["203.0.113.7", "@/etc/portctl/relays.txt"]"#))
    }
}
