public import Foundation

/// Whose view of the firewall a judgement takes: the policy file's, or the kernel's.
public enum FirewallView: Sendable, Hashable {
    /// The policy file's: the table it renders to (no kernel read, no root).
    case policyFile
    /// The kernel's: portctl's table as listed (``LiveTable``), nil when it does not exist.
    case kernel(Table?)

    /// `kernel` or `policy file`.
    public var name: String {
        if case .kernel = self { "kernel" } else { "policy file" }
    }
}

extension Listener {
    /// The address families whose sources can reach it: IPv4 for an IPv4 address (or an
    /// IPv4-mapped one), IPv6 for an IPv6 address, both for `::` (a dual-stack socket; /proc does
    /// not show IPV6_V6ONLY, so both are assumed).
    public var families: [IPFamily] {
        guard let ip = IPAddress(address) else { return IPFamily.allCases }
        if ip.family == .ipv4 || ip.bits >> 32 == 0xffff { return [.ipv4] }
        return ip.bits == 0 ? IPFamily.allCases : [.ipv6]
    }
}

/// One listener and who may reach it: a row of `portctl audit --all` (the `ufw show listening`
/// view).
public struct ListenerReach: Sendable, Hashable, Codable {
    /// The local address (`0.0.0.0`, `::`, `127.0.0.1`, ...).
    public var address: String
    /// The port.
    public var port: UInt16
    /// `tcp` or `udp`.
    public var proto: TransportProtocol
    /// The owning process, `name[pid]`, when it could be read.
    public var process: String?
    /// What decides: rule ids, `default drop`, `loopback`, or a kernel line not from the policy.
    public var decidedBy: [String]
    /// Who is admitted, for people: `anyone`, `198.51.100.0/24, @/etc/portctl/relays.txt`,
    /// `only this host (loopback)`, `no one`.
    public var sources: String
    /// `any`, `some`, `none`, `local` (bound to loopback) or `unknown` (a line portctl does not
    /// interpret decides).
    public var admits: String
    /// The admitted source networks (empty for `any`, `none` and `local`).
    public var addresses: [String]
    /// Where it differs by interface (`on eth1: anyone (rule web)`), and what portctl cannot tell.
    public var notes: [String]

    enum CodingKeys: String, CodingKey {
        case address, port, proto = "protocol", process, decidedBy, sources, admits, addresses, notes
    }
}

extension ExposureAudit {
    /// The finding kinds that judge a listener by who can reach it; where the kernel and the
    /// policy disagree, these (the file's view) give way to the disagreement.
    static let listenerKinds: Set<String> = ["sensitive-open-to-any", "open-to-any", "listener-blocked"]

    /// The findings, high first, judged from `view`. From the policy file this is
    /// ``findings(_:listeners:published:at:)``. From the kernel, each listener is also judged
    /// against the table as listed: where the kernel admits sources the policy does not, a high
    /// finding (`kernel-admits`); where the policy admits sources the kernel does not, a warning
    /// (`kernel-refuses`); where a line portctl does not interpret decides, a warning
    /// (`kernel-cannot-tell`); a missing or dormant table is a warning (`table-not-in-force`).
    /// For a listener the two disagree about, the file's own finding is left out: it would
    /// describe what the kernel does not do.
    public static func findings(_ policy: PortPolicy, listeners: [Listener], published: [PublishedPort] = [], view: FirewallView,
                                at now: Date = Date()) -> [Finding] {
        let fromFile = findings(policy, listeners: listeners, published: published, at: now)
        guard case let .kernel(live) = view else { return fromFile }
        var extra: [Finding] = []
        if live == nil {
            extra.append(Finding(port: 0, proto: .tcp, severity: .warning, kind: "table-not-in-force",
                                 message: "table inet \(policy.table) is not in the kernel: the policy is not in force and portctl refuses nothing (portctl apply loads it)"))
        } else if live?.isDormant == true {
            extra.append(Finding(port: 0, proto: .tcp, severity: .warning, kind: "table-not-in-force",
                                 message: "table inet \(policy.table) is dormant (flags dormant, set outside portctl): it filters nothing (portctl apply wakes it)"))
        }
        let judge = Judge(policy: policy, live: live, now: now)
        var disputed: Set<String> = []
        for group in groups(listeners) {
            let found = judge.disagreements(group)
            if !found.isEmpty { disputed.insert("\(group[0].port)/\(group[0].proto.rawValue)") }
            extra += found
        }
        let kept = fromFile.filter { !(listenerKinds.contains($0.kind) && disputed.contains("\($0.port)/\($0.proto.rawValue)")) }
        return (kept + extra).sorted { ($0.severity, $0.port, $0.proto.rawValue) < ($1.severity, $1.port, $1.proto.rawValue) }
    }

    /// Every listener with who may reach it, judged from `view`, sorted by port, protocol and
    /// address. Listeners bound to loopback are reachable only from this host and say so.
    public static func reach(_ policy: PortPolicy, listeners: [Listener], view: FirewallView, at now: Date = Date()) -> [ListenerReach] {
        let judge: Judge
        switch view {
        case .policyFile: judge = Judge(policy: policy, live: nil, fromFile: true, now: now)
        case let .kernel(live): judge = Judge(policy: policy, live: live, now: now)
        }
        // One row per socket address: processes sharing it (SO_REUSEPORT, forks) are joined.
        var rows: [String: ListenerReach] = [:]
        var order: [String] = []
        for listener in listeners {
            let key = "\(listener.proto.rawValue) \(listener.address) \(listener.port)"
            if var row = rows[key] {
                if let process = listener.process, !(row.process ?? "").split(separator: " ").contains(Substring(process)) {
                    row.process = row.process.map { $0 + " " + process } ?? process
                }
                rows[key] = row
                continue
            }
            order.append(key)
            rows[key] = judge.reach(listener)
        }
        return order.compactMap { rows[$0] }.sorted {
            ($0.port, $0.proto.rawValue, $0.address) < ($1.port, $1.proto.rawValue, $1.address)
        }
    }

    /// Reachable listeners grouped by port and protocol (the sockets one finding speaks of).
    static func groups(_ listeners: [Listener]) -> [[Listener]] {
        let reachable = listeners.filter { !$0.isLoopbackOnly }
        var groups: [String: [Listener]] = [:]
        for listener in reachable { groups["\(listener.port)/\(listener.proto.rawValue)", default: []].append(listener) }
        return groups.values.sorted { ($0[0].port, $0[0].proto.rawValue) < ($1[0].port, $1[0].proto.rawValue) }
    }

    /// Judges ports by walking the table the policy renders to and, from the kernel, the table
    /// as listed, with one evaluator (``TableEvaluation``): what they disagree about is exactly
    /// what differs between the kernel and the file.
    struct Judge {
        let policy: PortPolicy
        let model: Table
        let live: Table?
        let fromFile: Bool
        let interfaces: [String]
        let ids: Set<String>

        init(policy: PortPolicy, live: Table?, fromFile: Bool = false, now: Date) {
            self.policy = policy.effective(at: now)
            model = Renderer.model(policy, now: now)
            self.live = live
            self.fromFile = fromFile
            interfaces = Array(Set(TableEvaluation.interfaceNames(model) + (fromFile ? [] : TableEvaluation.interfaceNames(live)))).sorted()
            ids = Set(policy.rules.map(\.id))
        }

        func admissions(_ port: UInt16, _ proto: TransportProtocol, _ families: [IPFamily], _ interface: String?)
            -> (kernel: TableEvaluation.Admission, policy: TableEvaluation.Admission) {
            let policy = TableEvaluation.admission(model, port: port, proto: proto, families: families, interface: interface)
            let kernel = fromFile ? policy : TableEvaluation.admission(live, port: port, proto: proto, families: families, interface: interface)
            return (kernel, policy)
        }

        /// What differs for one port, from the kernel's side: sources only the kernel admits,
        /// sources only the policy admits, sources the kernel's lines leave undecidable.
        struct Difference: Equatable {
            var extra: SourceSet
            var missing: SourceSet
            var unknown: SourceSet
            var isEmpty: Bool { extra.isEmpty && missing.isEmpty && unknown.isEmpty }
        }

        func difference(_ kernel: TableEvaluation.Admission, _ policy: TableEvaluation.Admission) -> Difference {
            let unknown = kernel.undetermined.subtracting(policy.undetermined)
            return Difference(extra: kernel.admitted.subtracting(policy.admitted),
                              missing: policy.admitted.subtracting(kernel.admitted).subtracting(unknown), unknown: unknown)
        }

        /// The findings for one group of sockets on the same port and protocol.
        func disagreements(_ group: [Listener]) -> [Finding] {
            let port = group[0].port, proto = group[0].proto
            let families = IPFamily.allCases.filter { family in group.contains { $0.families.contains(family) } }
            let key = "\(port)/\(proto.rawValue)"
            let who = group.compactMap(\.process).first.map { " (\($0))" } ?? ""
            let bound = group.contains(where: \.isOnAllAddresses) ? "listens on all addresses" : "listens on \(group.map(\.address).joined(separator: ", "))"
            let (kernel, policy) = admissions(port, proto, families, nil)
            let generic = difference(kernel, policy)
            var findings = findingsFor(generic, kernel: kernel, policy: policy, port: port, proto: proto, families: families,
                                       subject: "\(key)\(who) \(bound)", on: "")
            for interface in interfaces {
                let (kernelHere, policyHere) = admissions(port, proto, families, interface)
                let here = difference(kernelHere, policyHere)
                if here == generic { continue }
                findings += findingsFor(here, kernel: kernelHere, policy: policyHere, port: port, proto: proto, families: families,
                                        subject: "\(key)\(who) \(bound)", on: " arriving on \(interface)")
            }
            return findings
        }

        func findingsFor(_ difference: Difference, kernel: TableEvaluation.Admission, policy: TableEvaluation.Admission,
                         port: UInt16, proto: TransportProtocol, families: [IPFamily], subject: String, on: String) -> [Finding] {
            var findings: [Finding] = []
            let policySays = policy.admitted.isEmpty
                ? "the policy admits no one (" + causes(policy, nil, overlapping: .every(families), kernel: false) + ")"
                : "the policy admits " + ExposureAudit.whom(policy.admitted, families) + " (by " + causes(policy, .accept, overlapping: policy.admitted, kernel: false) + ")"
            let tail = live == nil || live?.isDormant == true
                ? "the policy is not in force (portctl apply puts it in force)"
                : "table inet \(self.policy.table) is not what the policy file says (portctl plan shows the difference, portctl apply restores the policy)"
            if !difference.extra.isEmpty {
                let by = causes(kernel, .accept, overlapping: difference.extra)
                var finding = Finding(port: port, proto: proto, severity: .high, kind: "kernel-admits",
                                      message: "\(subject) and the kernel admits \(ExposureAudit.whom(difference.extra, families))\(on) to it (decided by \(by)), "
                                          + "while \(policySays): \(tail)")
                finding.kernelAdmits = ExposureAudit.addresses(difference.extra, families)
                findings.append(finding)
            }
            if !difference.missing.isEmpty {
                let by = causes(kernel, nil, overlapping: difference.missing)
                var finding = Finding(port: port, proto: proto, severity: .warning, kind: "kernel-refuses",
                                      message: "\(subject) and \(policySays), but the kernel does not admit \(ExposureAudit.whom(difference.missing, families))\(on) (decided by \(by)): \(tail)")
                finding.policyAdmits = ExposureAudit.addresses(difference.missing, families)
                findings.append(finding)
            }
            if !difference.unknown.isEmpty {
                let lines = kernel.outcomes(.cannotTell, overlapping: difference.unknown).compactMap { outcome -> String? in
                    if case let .line(chain, rule) = outcome.cause { return "`\(TableEvaluation.text(rule))` in chain \(chain)" }
                    return nil
                }
                findings.append(Finding(port: port, proto: proto, severity: .warning, kind: "kernel-cannot-tell",
                                        message: "\(subject): portctl cannot tell whether the kernel admits \(ExposureAudit.whom(difference.unknown, families))\(on): "
                                            + "\(Set(lines).sorted().joined(separator: "; ")) holds statements portctl does not interpret; judge it by hand"))
            }
            return findings
        }

        /// What decided the outcomes of `fate` (any fate but accept when nil) holding some of
        /// `sources`, in words.
        func causes(_ admission: TableEvaluation.Admission, _ fate: TableEvaluation.Fate?, overlapping sources: SourceSet, kernel: Bool = true) -> String {
            let outcomes = admission.outcomes.filter { outcome in
                (fate.map { outcome.fate == $0 } ?? (outcome.fate != .accept)) && !outcome.sources.intersection(sources).isEmpty
            }
            let words = outcomes.map { describe($0, long: true, kernel: kernel) }
            var unique: [String] = []
            for word in words where !unique.contains(word) { unique.append(word) }
            return unique.isEmpty ? "no rule" : unique.joined(separator: "; ")
        }

        /// A cause in words: short for a table cell (`allow-tcp-26`, `default drop`), long for a
        /// sentence (`rule "allow-tcp-26"`, `the default drop`).
        func describe(_ outcome: TableEvaluation.Outcome, long: Bool, kernel: Bool = true) -> String {
            let verdict = outcome.fate == .cannotTell ? "" : outcome.fate.rawValue
            switch outcome.cause {
            case let .line(chain, rule):
                if rule.comment == Renderer.defaultComment { return long ? "the default \(verdict)" : "default \(verdict)" }
                if let id = rule.ruleID, ids.contains(id) {
                    guard long, kernel, !fromFile else { return long ? "rule \(quoted(id))" : id }
                    // A policy rule's line as the renderer wrote it may still admit others: a set
                    // it names holds other addresses. A line that differs says how.
                    guard model.chains.contains(where: { $0.rules.contains(rule) }) else {
                        return "rule \(quoted(id)) as changed in the kernel (`\(TableEvaluation.text(rule))`)"
                    }
                    let changed = rule.statements.compactMap { statement -> String? in
                        guard case let .match(_, _, .string(name)) = statement, name.hasPrefix("@"),
                              let kernelSet = live?.set(String(name.dropFirst())), kernelSet.elements != model.set(String(name.dropFirst()))?.elements
                        else { return nil }
                        return kernelSet.name
                    }
                    return "rule \(quoted(id))" + (changed.isEmpty ? "" : ", whose set \(changed.joined(separator: ", ")) in the kernel does not hold what the policy lists")
                }
                let text = TableEvaluation.text(rule)
                if long { return "the line `\(text)` in chain \(chain), which is not from the policy" }
                return text.count <= 40 ? "`\(text)` (not from the policy)" : "a line in chain \(chain) not from the policy"
            case let .chainPolicy(chain, policy):
                if chain == "input" { return long ? "the default \(policy)" : "default \(policy)" }
                return long ? "chain \(chain)'s policy \(policy), which is not from the policy file" : "chain \(chain) policy \(policy) (not from the policy)"
            case .noTable:
                return long ? "the absence of table inet \(self.policy.table) from the kernel" : "no table inet \(self.policy.table) in the kernel"
            case .dormant:
                return long ? "table inet \(self.policy.table) being dormant" : "table inet \(self.policy.table) dormant"
            case .noInputChain:
                return long ? "table inet \(self.policy.table) having no input chain" : "no input chain in table inet \(self.policy.table)"
            }
        }

        /// One row of `audit --all`.
        func reach(_ listener: Listener) -> ListenerReach {
            var row = ListenerReach(address: listener.address, port: listener.port, proto: listener.proto, process: listener.process,
                                    decidedBy: [], sources: "", admits: "", addresses: [], notes: [])
            if listener.isLoopbackOnly {
                row.decidedBy = ["bound to loopback"]
                row.sources = "only this host (loopback)"
                row.admits = "local"
                return row
            }
            let families = listener.families
            let (kernel, policy) = admissions(listener.port, listener.proto, families, nil)
            (row.decidedBy, row.sources, row.admits) = summary(kernel, policy, families)
            row.addresses = row.admits == "some" ? kernel.admitted.networks.map(\.description) : []
            for outcome in kernel.outcomes where outcome.fate == .cannotTell {
                if case let .line(chain, rule) = outcome.cause {
                    row.notes.append("cannot tell for \(ExposureAudit.whom(outcome.sources, families)): `\(TableEvaluation.text(rule))` in chain \(chain) holds statements portctl does not interpret")
                }
            }
            for outcome in kernel.outcomes where outcome.fate != .cannotTell {
                if case let .line(chain, rule) = outcome.cause, rule.comment != Renderer.defaultComment,
                   rule.ruleID.map(ids.contains) != true, TableEvaluation.text(rule).count > 40 {
                    row.notes.append("\(outcome.fate.rawValue) for \(ExposureAudit.whom(outcome.sources, families)) by `\(TableEvaluation.text(rule))` in chain \(chain), not from the policy")
                }
            }
            for interface in interfaces {
                let (kernelHere, policyHere) = admissions(listener.port, listener.proto, families, interface)
                if kernelHere.admitted == kernel.admitted { continue }
                let (deciders, sources, _) = summary(kernelHere, policyHere, families)
                row.notes.append("arriving on \(interface): \(sources) (\(deciders.joined(separator: ", ")))")
            }
            return row
        }

        /// Deciders, sources in words, and `any`/`some`/`none`/`unknown` for one admission.
        func summary(_ kernel: TableEvaluation.Admission, _ policy: TableEvaluation.Admission, _ families: [IPFamily])
            -> (decidedBy: [String], sources: String, admits: String) {
            let admitted = kernel.admitted
            func unique(_ outcomes: [TableEvaluation.Outcome]) -> [String] {
                var names: [String] = []
                for name in outcomes.map({ describe($0, long: false) }) where !names.contains(name) { names.append(name) }
                return names
            }
            let refusing = unique(kernel.outcomes.filter { $0.fate != .accept && $0.fate != .cannotTell })
            if admitted.isEmpty && !kernel.undetermined.isEmpty {
                return (["cannot tell"] + refusing, "cannot tell for \(ExposureAudit.whom(kernel.undetermined, families))", "unknown")
            }
            if admitted.isEmpty { return (refusing, "no one", "none") }
            let accepting = kernel.outcomes.filter { $0.fate == .accept }
            if families.allSatisfy(admitted.covers) { return (unique(accepting), "anyone", "any") }
            // Where the kernel admits what the policy does, the policy's words name the sources
            // (address files as @PATH); otherwise the kernel's addresses are listed.
            var sources = ExposureAudit.whom(admitted, families)
            if admitted == policy.admitted {
                var parts: [String] = []
                for outcome in policy.outcomes where outcome.fate == .accept {
                    guard case let .line(_, line) = outcome.cause, let id = line.ruleID,
                          let rule = self.policy.rules.first(where: { $0.id == id }), !rule.isFromAnywhere else { parts = []; break }
                    let inline = IPNetwork.merged((rule.readsFiles ? rule.inlineSources : rule.sources).filter { families.contains($0.family) })
                    for part in inline.map(\.description) + rule.sourceFiles.map({ "@" + $0.path }) where !parts.contains(part) {
                        parts.append(part)
                    }
                }
                if !parts.isEmpty { sources = parts.count > 6 ? parts.prefix(5).joined(separator: ", ") + " and \(parts.count - 5) more" : parts.joined(separator: ", ") }
            }
            return (unique(accepting), sources, "some")
        }
    }

    /// Sources in words for listeners of `families`: `any source`, `any IPv4 source`, or the
    /// networks (up to five and how many more).
    static func whom(_ sources: SourceSet, _ families: [IPFamily]) -> String {
        if sources.isEmpty { return "no one" }
        if families.allSatisfy(sources.covers) { return "any source" }
        var parts: [String] = []
        var listed: [IPNetwork] = []
        for family in families where sources.holdsSome(family) {
            let held = sources.restricted(to: [family])
            let left = held.complement(within: [family]).networks
            let any = family == .ipv4 ? "any IPv4 source" : "any IPv6 source"
            if left.isEmpty {
                parts.append(any)
            } else if left.count < held.networks.count {
                // Nearly everyone: said by who is left out.
                parts.append(any + " but " + Planner.addressList(left))
            } else {
                listed += held.networks
            }
        }
        if !listed.isEmpty { parts.insert(Planner.addressList(listed), at: 0) }
        return parts.joined(separator: ", ")
    }

    /// The networks of `sources` in `families`, as text; `0.0.0.0/0` and `::/0` for whole families.
    static func addresses(_ sources: SourceSet, _ families: [IPFamily]) -> [String] {
        sources.restricted(to: families).networks.map(\.description)
    }
}
