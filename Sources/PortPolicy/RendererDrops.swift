/// The drop record and rate limits' chains in the rendered table (docs/ruleset.md, docs/drops.md).
extension Renderer {
    /// The drop record's sets, one per family: `portctl-drops4` and `portctl-drops6`.
    public static func dropSetName(_ family: IPFamily) -> String {
        family == .ipv4 ? "portctl-drops4" : "portctl-drops6"
    }

    /// How many refused connections each drop-record set holds at most: a scan from random
    /// sources fills it within a second, and then records nothing new until elements expire.
    public static let dropSetSize = 65_536

    /// The counter of refused new connections that reached a recording line (recorded or not).
    public static let dropsSeenCounter = "portctl-drops-seen"
    /// The counter of refused new connections that were recorded; the difference from
    /// ``dropsSeenCounter`` is what a full set could not record.
    public static let dropsRecordedCounter = "portctl-drops-recorded"

    /// The name of a rate-limited rule's counter of refused packets, and of the chain that counts,
    /// records and drops them: `portctl-limited-ID` (ids never start with `portctl`).
    public static func limitedName(_ id: String) -> String { "portctl-limited-\(id)" }

    /// Whether a chain is a rule's limited chain.
    public static func isLimitedChain(_ name: String) -> Bool { name.hasPrefix("portctl-limited-") }

    /// A rate-limited rule's chain: the packets over the limit are recorded (with `recording`),
    /// counted and dropped. Its own chain, because the limit's state must be updated once per
    /// packet, and a recording line must never hold the verdict.
    static func limitedChain(_ rule: PortRule, recording: Bool) -> Chain {
        let comment = comment(rule)
        return Chain(name: limitedName(rule.id), hook: nil, type: nil, policy: nil,
                     rules: recordRules([], families: IPFamily.allCases, reason: recording ? DropReason(.limit, ruleID: rule.id) : nil, comment: comment)
                        + [Rule([.counter(limitedName(rule.id)), .verdict(.drop)], comment: comment)])
    }

    /// The lines that record a refused new TCP or UDP connection matching `match` in the drop
    /// record, one per family in `families`; none when `reason` is nil (recording off).
    ///
    /// Each line only records: when the set is full the update fails and the rest of that line
    /// does not run, so the verdict always lives in the line that follows. The counter before
    /// the update counts every refused connection that reached it, the one after counts those
    /// recorded.
    static func recordRules(_ match: [Statement], families: [IPFamily], reason: DropReason?, comment: String?) -> [Rule] {
        guard let reason else { return [] }
        let namesFamily = match.contains {
            if case let .match(.payload(proto, _), _, _) = $0 { proto == "ip" || proto == "ip6" } else { false }
        }
        let namesProtocol = match.contains {
            switch $0 {
            case .match(.payload("tcp", "dport"), _, _), .match(.payload("udp", "dport"), _, _), .match(.meta("l4proto"), _, _): true
            default: false
            }
        }
        return families.map { family in
            let nfproto: [Statement] = namesFamily ? [] : [.match(.meta("nfproto"), op: "==", .string(family == .ipv4 ? "ipv4" : "ipv6"))]
            let proto: [Statement] = namesProtocol ? [] : [.match(.meta("l4proto"), op: "==", .set([.string("tcp"), .string("udp")]))]
            return Rule(nfproto + match + proto + [
                .match(.ct("state"), op: "in", .string("new")),
                .counter(dropsSeenCounter),
                .record(set: dropSetName(family), family: family, reason: reason.code),
                .counter(dropsRecordedCounter),
            ], comment: comment)
        }
    }
}
