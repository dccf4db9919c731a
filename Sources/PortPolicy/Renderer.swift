/// Turns a ``PortPolicy`` into nftables text: one `inet` table that portctl owns alone.
///
/// The table holds, in order:
/// - one named counter per rule (named by the rule id) and one for each default, so every
///   rule's packets and bytes can be read back by id;
/// - one interval set per rule and address family with the rule's merged sources;
/// - an `input` chain: the baseline every server needs (established/related accept, invalid
///   drop, loopback accept, the ICMP and ICMPv6 types that keep networking working, echo
///   rate-limited), then deny and reject rules, then allow rules, then the default;
/// - an `output` chain, only when the policy has outbound rules.
///
/// Deny and reject rules come before allow rules, so a block always wins over an allow for the
/// same traffic whatever the order in the file. Every rule line carries its id as its comment.
/// All user text has been validated to be unable to leave its quotes (see ``PortRule/validate()``).
public enum Renderer {
    /// The counter that counts inbound packets reaching the default.
    public static let inboundDefaultCounter = "portctl-default-in"
    /// The counter that counts outbound packets reaching the default.
    public static let outboundDefaultCounter = "portctl-default-out"

    /// The full table definition (`table inet NAME { ... }`), as `nft -f` accepts it.
    public static func table(_ policy: PortPolicy) -> String {
        var out = "table inet \(policy.table) {\n"
        var counters = policy.rules.map(\.id) + [inboundDefaultCounter]
        if policy.hasOutboundRules { counters.append(outboundDefaultCounter) }
        for name in counters {
            out += "\tcounter \(name) {\n\t}\n\n"
        }
        for rule in policy.rules {
            for family in IPFamily.allCases {
                let elements = rule.mergedSources(family)
                if elements.isEmpty { continue }
                out += "\tset \(setName(rule.id, family)) {\n"
                out += "\t\ttype \(family == .ipv4 ? "ipv4_addr" : "ipv6_addr")\n"
                out += "\t\tflags interval\n"
                out += "\t\telements = { "
                out += elements.map(\.description).joined(separator: ",\n\t\t\t     ")
                out += " }\n\t}\n\n"
            }
        }
        out += "\tchain input {\n"
        out += "\t\ttype filter hook input priority filter; policy \(policy.inbound == .accept ? "accept" : "drop");\n"
        for line in baseline { out += "\t\t\(line)\n" }
        for line in ruleLines(policy, .in) { out += "\t\t\(line)\n" }
        for line in defaultLines(policy.inbound.rawValue, counter: inboundDefaultCounter) { out += "\t\t\(line)\n" }
        out += "\t}\n"
        if policy.hasOutboundRules {
            out += "\n\tchain output {\n"
            out += "\t\ttype filter hook output priority filter; policy \(policy.outbound.rawValue);\n"
            out += "\t\tct state established,related accept\n"
            out += "\t\toifname \"lo\" accept\n"
            for line in ruleLines(policy, .out) { out += "\t\t\(line)\n" }
            for line in defaultLines(policy.outbound.rawValue, counter: outboundDefaultCounter) { out += "\t\t\(line)\n" }
            out += "\t}\n"
        }
        out += "}\n"
        return out
    }

    /// One batch that atomically replaces portctl's table with the policy's: creating the table
    /// if missing, deleting it, and defining it anew. Nothing outside the table is touched.
    public static func replaceBatch(_ policy: PortPolicy) -> String {
        "table inet \(policy.table) {}\ndelete table inet \(policy.table)\n" + table(policy)
    }

    /// One batch that removes portctl's table, and succeeds when there is none.
    public static func deleteBatch(table: String) -> String {
        "table inet \(table) {}\ndelete table inet \(table)\n"
    }

    /// The name of a rule's interval set for one family: `ID-v4` or `ID-v6`.
    public static func setName(_ id: String, _ family: IPFamily) -> String {
        "\(id)-\(family == .ipv4 ? "v4" : "v6")"
    }

    /// The nftables comment of a rule: its id, then its comment.
    public static func comment(_ rule: PortRule) -> String {
        rule.comment.map { "\(rule.id): \($0)" } ?? rule.id
    }

    /// The baseline lines at the top of the input chain.
    public static let baseline = [
        "ct state established,related accept",
        "ct state invalid drop",
        "iifname \"lo\" accept",
        "icmp type { destination-unreachable, time-exceeded, parameter-problem } accept",
        "icmp type echo-request limit rate 10/second burst 20 packets accept",
        "icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept",
        "icmpv6 type echo-request limit rate 10/second burst 20 packets accept",
    ]

    /// The chain lines for one direction's rules: blocks first, then allows, each in file order.
    static func ruleLines(_ policy: PortPolicy, _ direction: Direction) -> [String] {
        let rules = policy.rules.filter { $0.direction == direction }
        let ordered = rules.filter { $0.action != .allow } + rules.filter { $0.action == .allow }
        return ordered.flatMap { lines(for: $0) }
    }

    /// The chain lines of one rule: one per protocol and, when it has sources, per family.
    public static func lines(for rule: PortRule) -> [String] {
        let address = rule.direction == .in ? "saddr" : "daddr"
        var matches: [String] = []
        if rule.sources.isEmpty {
            matches = [""]
        } else {
            for family in IPFamily.allCases where !rule.mergedSources(family).isEmpty {
                matches.append("\(family == .ipv4 ? "ip" : "ip6") \(address) @\(setName(rule.id, family)) ")
            }
        }
        let interface = rule.interface.map { "\(rule.direction == .in ? "iifname" : "oifname") \"\($0)\" " } ?? ""
        let ports = portMatch(rule.ports)
        var result: [String] = []
        for proto in rule.proto.members {
            let verdict = switch rule.action {
            case .allow: "accept"
            case .deny: "drop"
            case .reject: proto == .tcp ? "reject with tcp reset" : "reject with icmpx port-unreachable"
            }
            for match in matches {
                result.append("\(interface)\(match)\(proto.rawValue) dport \(ports) counter name \"\(rule.id)\" \(verdict) comment \"\(comment(rule))\"")
            }
        }
        return result
    }

    static func portMatch(_ ports: [PortRange]) -> String {
        let merged = PortRange.merged(ports)
        if merged.count == 1 { return merged[0].description }
        return "{ " + merged.map(\.description).joined(separator: ", ") + " }"
    }

    static func defaultLines(_ verdict: String, counter: String) -> [String] {
        switch verdict {
        case "reject":
            return [
                "meta l4proto tcp counter name \"\(counter)\" reject with tcp reset comment \"portctl: default\"",
                "counter name \"\(counter)\" reject with icmpx port-unreachable comment \"portctl: default\"",
            ]
        default:
            return ["counter name \"\(counter)\" comment \"portctl: default\""]
        }
    }
}
