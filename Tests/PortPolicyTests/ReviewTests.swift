import Foundation
@testable import PortPolicy
import Testing

/// The difference between two policies and the review comment made of a proposal's plan.
/// Re-record the golden file on purpose with `PORTCTL_RECORD=1 swift test --filter ReviewTests`
/// (the run then fails, so that a recording never passes unseen), and review the diff.
struct ReviewTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/proposal-review.md")

    static func policies() throws -> (current: PortPolicy, proposed: PortPolicy) {
        var current = PortPolicy.firstRun(sshPort: nil)
        current.rules.append(PortRule(id: "smtp-alt", ports: [try PortRange(26)], sources: [try IPNetwork(parsing: "198.51.100.0/24")],
                                      comment: "mail relays"))
        current.rules.append(PortRule(id: "old-web", ports: [try PortRange(8080)]))
        current.forwards.append(PortForward(id: "fwd-tcp-2525", ports: [try PortRange(2525)], sources: [try IPNetwork(parsing: "198.51.100.0/24")],
                                            to: try #require(IPAddress("203.0.113.2"))))
        var proposed = current
        proposed.rules[1].sources = [try IPNetwork(parsing: "198.51.100.0/25"), try IPNetwork(parsing: "203.0.113.0/24"),
                                     try IPNetwork(parsing: "2001:db8::/32")]
        proposed.rules.removeAll { $0.id == "old-web" }
        proposed.rules.append(PortRule(id: "deny-tcp-23", ports: [try PortRange(23)], action: .deny))
        proposed.forwards[0].sources.append(try IPNetwork(parsing: "192.0.2.0/24"))
        proposed.routes.append(RoutedRule(id: "route-tcp-26", ports: [try PortRange(26)], sources: [try IPNetwork(parsing: "198.51.100.0/24")],
                                          destinations: [try IPNetwork(parsing: "203.0.113.0/24")]))
        proposed.routed = .drop
        proposed.inbound = .reject
        return (current, proposed)
    }

    @Test func theDiffNamesEveryRuleAndEverySource() throws {
        let (current, proposed) = try Self.policies()
        let diff = PolicyDiff.between(current, proposed)
        let byID = Dictionary(uniqueKeysWithValues: diff.entries.map { ($0.id, $0) })
        let relays = try #require(byID["smtp-alt"])
        #expect(relays.kind == .changed)
        #expect(relays.addedSources == ["198.51.100.0/25", "203.0.113.0/24", "2001:db8::/32"])
        #expect(relays.removedSources == ["198.51.100.0/24"])
        #expect(byID["old-web"]?.kind == .removed && byID["deny-tcp-23"]?.kind == .added)
        #expect(byID["fwd-tcp-2525"]?.addedSources == ["192.0.2.0/24"])
        #expect(byID["route-tcp-26"]?.addedDestinations == ["203.0.113.0/24"])
        #expect(byID["default routed"]?.before == "accept" && byID["default routed"]?.after == "drop")
        #expect(byID["default inbound"]?.after == "reject")
        #expect(byID["ssh"] == nil, "an unchanged rule is not listed")
        #expect(PolicyDiff.between(proposed, proposed).isEmpty)
        // No policy yet: everything is new, the defaults included.
        #expect(PolicyDiff.between(nil, current).entries.allSatisfy { $0.kind == .added })
    }

    @Test func theReviewCommentMatchesTheGoldenFile() throws {
        let (current, proposed) = try Self.policies()
        let when = Date(timeIntervalSince1970: 1_796_000_000)
        let plan = Planner.plan(proposed, live: Renderer.model(current, now: when), now: when)
        let document = PlanDocument(plan: plan, proposal: proposed, text: PolicyFile.encode(proposed), source: "hosts/mail1/policy.yaml",
                                    policyFile: "/etc/portctl/policy.yaml", currentBytes: Array(PolicyFile.encode(current).utf8),
                                    liveDigest: PlanDocument.digest(Renderer.model(current, now: when)))
        let review = PlanReview.markdown(document, plan: plan, diff: PolicyDiff.between(current, proposed),
                                         warnings: ["23/tcp | `sneaky` <b>"], planFile: "mail1.plan")
        try expectGolden(review, Self.golden)
        // What a reviewer must be able to rely on, whatever the layout.
        #expect(review.contains(document.digest) && review.contains("--expect-digest \(document.digest)"))
        #expect(review.contains(plan.script.split(separator: "\n").first.map(String.init) ?? "-"))
        #expect(review.contains("23/tcp \\| \\`sneaky\\` \\<b\\>"), "user text cannot break the table or add markup")
    }

    @Test func aKeyGivenTwiceIsRefused() throws {
        let policy = PortPolicy.firstRun(sshPort: nil)
        let document = PlanDocument(plan: Planner.plan(policy, live: nil), policy: policy, policyFile: "/p.yaml",
                                    policyBytes: Array("x".utf8), liveDigest: "none")
        let text = document.encoded()
        #expect(try PlanDocument.decode(Data(text.utf8)).isIntact)
        // jq and Python read the last of two keys, Foundation the first: a plan holds each once.
        let doubled = String(text.dropLast(2)) + ",\n  \"script\" : \"\"\n}\n"
        #expect(throws: PolicyError.self) { _ = try PlanDocument.decode(Data(doubled.utf8)) }
    }

    @Test func onlyNamesTheOtherRulesThatStillAdmitThePort() throws {
        var policy = PortPolicy.firstRun(sshPort: nil)
        var first = PortRequest(spec: PortSpec(ports: [try PortRange(26)], proto: .tcp), sources: [try IPNetwork(parsing: "198.51.100.2")], id: "second")
        _ = try policy.open(first)
        first.id = "relays"
        first.sources = [try IPNetwork(parsing: "203.0.113.7")]
        _ = try policy.open(first)
        var only = first
        only.only = true
        only.sources = [try IPNetwork(parsing: "203.0.113.8")]
        _ = try policy.open(only)
        let notes = policy.othersAdmitting(only)
        #expect(notes.count == 1)
        if case let .unchanged(note)? = notes.first { #expect(note.contains("rule \"second\" also admits 26/tcp from 198.51.100.2")) }
    }

    @Test func versionOnePlansCannotCarryAProposal() throws {
        let policy = PortPolicy.firstRun(sshPort: nil)
        var document = PlanDocument(plan: Planner.plan(policy, live: nil), policy: policy, policyFile: "/p.yaml",
                                    policyBytes: Array("x".utf8), liveDigest: "none")
        document.version = 1
        document.addressFiles = nil
        document.digest = document.contentDigest
        #expect(try PlanDocument.decode(Data(document.encoded().utf8)).isIntact)
        // The version 1 digest does not cover a proposal: one smuggled in is refused.
        document.newPolicy = "version: 1\n"
        #expect(throws: PolicyError.self) { _ = try PlanDocument.decode(Data(document.encoded().utf8)) }
    }
}
