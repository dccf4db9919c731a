/// One run of ``UfwImport/translate(_:options:)``.
struct UfwTranslation {
    let options: UfwImport.Options
    /// Findings about settings and files; rules' findings are kept apart until the end.
    var findings: [UfwImport.Finding] = []
    /// What was found about each ufw rule, by number: kind, the rule's command, the message.
    var ruleFindings: [Int: [RuleFinding]] = [:]
    /// The default of each kind of rule, for what a rule's other protocols meet.
    var defaultAccepts: [UfwKind: Bool] = [:]

    /// A finding about one rule, before it is grouped with its twins'.
    struct RuleFinding: Hashable {
        var kind: UfwImport.Finding.Kind
        var command: String
        var message: String
    }
    /// The application profiles, by name.
    var profiles: [String: UfwImport.Profile] = [:]

    /// Starts a translation.
    init(options: UfwImport.Options) { self.options = options }

    /// Records a finding about a rule, once.
    mutating func report(_ kind: UfwImport.Finding.Kind, _ rule: UfwImport.Rule, _ message: String) {
        let finding = RuleFinding(kind: kind, command: rule.command, message: message)
        if ruleFindings[rule.number]?.contains(finding) == true { return }
        ruleFindings[rule.number, default: []].append(finding)
    }

    /// Settings, then rules: parsed, cut to ufw's order, merged, named.
    mutating func run(_ configuration: UfwImport.Configuration) -> UfwImport.Result {
        var policy = PortPolicy()
        let defaults = UfwImport.settings(configuration.defaults ?? "")
        let conf = configuration.ufwConf.map(UfwImport.settings)
        profiles = UfwImport.profiles(configuration.applications)

        if configuration.defaults == nil {
            findings.append(.init(.note, "ufw's settings (default/ufw)", "not found: assumed ufw's shipped defaults (incoming deny, outgoing allow, routed deny, IPv6 on)"))
        }
        let ipv6 = (defaults["IPV6"] ?? "yes").lowercased() != "no"
        policy.inbound = defaultPolicy(defaults, "DEFAULT_INPUT_POLICY", fallback: "DROP", InboundDefault.self,
                                       ["DROP": .drop, "REJECT": .reject, "ACCEPT": .accept], approximations: [:])
        policy.outbound = defaultPolicy(defaults, "DEFAULT_OUTPUT_POLICY", fallback: "ACCEPT", OutboundDefault.self,
                                        ["DROP": .drop, "ACCEPT": .accept], approximations: ["REJECT": .drop])
        policy.routed = defaultPolicy(defaults, "DEFAULT_FORWARD_POLICY", fallback: "DROP", RoutedDefault.self,
                                      ["DROP": .drop, "ACCEPT": .accept], approximations: ["REJECT": .drop])
        defaultAccepts = [.input: policy.inbound == .accept, .output: policy.outbound == .accept, .routed: policy.routed == .accept]
        var enabled: Bool?
        if let conf {
            if let value = conf["ENABLED"]?.lowercased() { enabled = value == "yes" }
            let level = (conf["LOGLEVEL"] ?? "low").lowercased()
            switch level {
            case "off": policy.logDefault = false
            case "low": policy.logDefault = true
            case "medium", "high", "full":
                policy.logDefault = true
                findings.append(.init(.approximated, "LOGLEVEL=\(level)", "portctl logs what reaches the inbound default and the rules marked log (defaults.log: true); ufw's \(level) level also logged allowed new connections and invalid packets"))
            default:
                policy.logDefault = true
                findings.append(.init(.approximated, "LOGLEVEL=\(UfwImport.printable(level))", "not a ufw log level; logging what reaches the inbound default (defaults.log: true)"))
            }
        } else {
            policy.logDefault = true
            findings.append(.init(.note, "ufw.conf", "not found: assumed ufw's shipped logging level (low: log what the defaults block)"))
        }
        if enabled == false {
            findings.append(.init(.note, "ENABLED=no", "ufw is off (ufw.conf), so these rules were not in force; the imported policy enforces them once you run portctl apply"))
        }
        for file in configuration.editedFiles {
            findings.append(.init(.untranslated, file, "differs from the copy ufw ships: import reads only the rules ufw's commands write (user.rules, user6.rules); carry its changes over by hand"))
        }

        for (file, text) in [("user.rules", configuration.userRules), ("user6.rules", configuration.user6Rules)] {
            if let text, let problem = UfwImport.notRulesFile(text) {
                findings.append(.init(.untranslated, file, "is not a ufw rules file: \(problem); no rule was read from it"))
            }
        }
        let (rules4, malformed4) = UfwImport.rules(configuration.userRules, family: .ipv4)
        var rules6: [UfwImport.Rule] = [], malformed6: [(line: Int, text: String)] = []
        if ipv6 {
            (rules6, malformed6) = UfwImport.rules(configuration.user6Rules ?? "", family: .ipv6, firstNumber: (rules4.last?.number ?? 0) + 1)
        } else {
            let ignored = UfwImport.rules(configuration.user6Rules ?? "", family: .ipv6).rules.count
            findings.append(.init(.untranslated, "IPV6=no", "ufw leaves IPv6 unfiltered, portctl filters it: IPv6 traffic meets the imported default (\(policy.inbound.rawValue))\(ignored > 0 ? " and the \(Counted.text(ignored, "rule")) of user6.rules \(ignored == 1 ? "is" : "are") not read" : ""); allow what IPv6 needs, or set IPV6=yes in ufw first"))
        }
        for (file, list) in [("user.rules", malformed4), ("user6.rules", malformed6)] {
            for item in list {
                findings.append(.init(.untranslated, "\(file) line \(item.line)", "ufw skips this malformed tuple too: \(UfwImport.printable(String(item.text.prefix(160))))"))
            }
        }
        let all = rules4 + rules6
        var boxes4: [UfwBox] = [], boxes6: [UfwBox] = []
        for rule in all {
            let boxes = self.boxes(rule)
            if rule.family == .ipv4 { boxes4 += boxes } else { boxes6 += boxes }
        }
        let resolved = resolveOrder(boxes4, all) + resolveOrder(boxes6, all)
        let entries = merge(resolved)
        build(entries, into: &policy, rules: all)

        if policy.outbound == .drop && !policy.hasOutboundRules {
            findings.append(.init(.untranslated, "DEFAULT_OUTPUT_POLICY=\(defaults["DEFAULT_OUTPUT_POLICY"] ?? "")",
                                  "portctl filters outbound traffic only when the policy has outbound rules, and this one has none: outbound traffic will pass"))
        }
        // Docker's iptables rules accept its containers' traffic ahead of ufw's; portctl's drop is final.
        let routedDrop = policy.routed == .drop
        findings.append(.init(.note, "Docker hosts",
                              "ufw never filtered what Docker's own iptables rules accept ahead of it: containers' published ports"
                                + (routedDrop ? " and their outbound traffic" : "") + " now meet the imported policy (defaults.published: filter"
                                + (routedDrop ? ", and defaults.routed: drop from DEFAULT_FORWARD_POLICY=DROP" : "")
                                + "); on a host running containers, allow what they need, or run portctl default published accept"
                                + (routedDrop ? " and portctl default routed accept" : "")))
        // One finding for the same words about the same command: ufw's IPv4 and IPv6 twins.
        var grouped: [(finding: RuleFinding, numbers: [Int])] = []
        var groupIndex: [RuleFinding: Int] = [:]
        var seen: Set<Int> = []
        for rule in all where seen.insert(rule.number).inserted {
            for finding in ruleFindings[rule.number] ?? [] {
                if let index = groupIndex[finding] {
                    grouped[index].numbers.append(rule.number)
                } else {
                    groupIndex[finding] = grouped.count
                    grouped.append((finding, [rule.number]))
                }
            }
        }
        // And one for the same words about many commands (a ban list after an allow), so a long
        // list does not bury the rest; what was not translated keeps a line per ufw rule.
        var byMessage: [(kind: UfwImport.Finding.Kind, message: String, items: [(command: String, numbers: [Int])])] = []
        var messageIndex: [RuleFinding: Int] = [:]
        for item in grouped {
            let key = RuleFinding(kind: item.finding.kind, command: item.finding.kind == .untranslated ? item.finding.command : "",
                                  message: item.finding.message)
            if let index = messageIndex[key] {
                byMessage[index].items.append((item.finding.command, item.numbers))
            } else {
                messageIndex[key] = byMessage.count
                byMessage.append((item.finding.kind, item.finding.message, [(item.finding.command, item.numbers)]))
            }
        }
        findings += byMessage.map { group in
            let first = group.items[0]
            var subject = first.numbers.map { "[\($0)]" }.joined(separator: ", ") + " " + first.command
            let others = group.items.dropFirst().flatMap(\.numbers)
            if !others.isEmpty {
                let shown = others.prefix(5).map { "[\($0)]" }.joined(separator: ", ") + (others.count > 5 ? ", ..." : "")
                subject += " and \(group.items.count - 1) more \(group.items.count == 2 ? "rule" : "rules") (\(shown))"
            }
            return UfwImport.Finding(group.kind, subject, group.message, rules: group.items.flatMap(\.numbers))
        }
        return UfwImport.Result(policy: policy, findings: findings, rules: all, enabled: enabled)
    }

    /// A `DEFAULT_*_POLICY` setting as a portctl default: exact, approximated (with a finding),
    /// or ufw's own default when the value is not a policy (with a finding).
    mutating func defaultPolicy<T>(_ settings: [String: String], _ key: String, fallback: String, _: T.Type,
                                   _ exact: [String: T], approximations: [String: T]) -> T {
        let value = (settings[key] ?? fallback).uppercased()
        if let mapped = exact[value] { return mapped }
        if let mapped = approximations[value] {
            findings.append(.init(.approximated, "\(key)=\(value)", "portctl has no reject default here: imported as drop (the sender sees a timeout, not a refusal)"))
            return mapped
        }
        let mapped = exact[fallback]!
        findings.append(.init(.untranslated, "\(key)=\(UfwImport.printable(String(value.prefix(40))))", "not a ufw policy (DROP, REJECT or ACCEPT): imported as ufw's default \(fallback)"))
        return mapped
    }

    /// One ufw rule as boxes; none (and a finding) when portctl cannot say it.
    mutating func boxes(_ rule: UfwImport.Rule) -> [UfwBox] {
        let any = AddressBlocks.any(rule.family)
        let kind: UfwKind = rule.isRoute ? .routed : rule.direction == "out" ? .output : .input
        if rule.sourcePort != "any" || rule.sourceApp != nil {
            report(.untranslated, rule, "not imported: portctl cannot match source ports")
            return []
        }
        var protocols: Set<TransportProtocol>
        switch rule.proto {
        case "tcp": protocols = [.tcp]
        case "udp": protocols = [.udp]
        case "any": protocols = [.tcp, .udp]
        default:
            report(.untranslated, rule, "not imported: portctl matches TCP and UDP ports, not protocol \(UfwImport.printable(rule.proto))")
            return []
        }
        // The ports: ufw writes numbers (app rules too); a profile name is resolved through applications.d.
        var groups: [(ports: [PortRange], protocols: Set<TransportProtocol>)]
        if rule.destinationPort == "any" {
            groups = [([try! PortRange(1, 65535)], protocols)]
            // Other protocols meet the default: only a difference for an allow, or a block where the default accepts.
            if rule.proto == "any" && (rule.action == "allow" || rule.action == "limit" || defaultAccepts[kind] == true) {
                report(.approximated, rule, "ufw matches every IP protocol here; the imported rule covers TCP and UDP ports 1-65535 (other protocols meet the default)")
            }
        } else if let ports = UfwImport.portList(rule.destinationPort) {
            groups = [(ports, protocols)]
        } else if let app = rule.destinationApp {
            guard let profile = profiles[app] else {
                report(.untranslated, rule, "not imported: application profile \(quoted(app)) is not in applications.d")
                return []
            }
            groups = profile.entries.compactMap { entry in
                let both = Set(entry.proto.members).intersection(protocols)
                return both.isEmpty ? nil : (entry.ports, both)
            }
            if groups.isEmpty {
                report(.untranslated, rule, "not imported: application profile \(quoted(app)) names no \(rule.proto) ports")
                return []
            }
        } else if let ports = UfwImport.portList(rule.destinationPort, services: options.services,
                                                 proto: protocols.count == 1 ? protocols.first! : .both) {
            groups = [(ports, protocols)]
        } else {
            report(.untranslated, rule, "not imported: ports \(quoted(rule.destinationPort)) do not read as ports 1-65535")
            return []
        }
        guard let source = address(rule.source, rule), let destination = address(rule.destination, rule) else { return [] }
        var remote: IPNetwork, other = any
        switch kind {
        case .input:
            if destination != any {
                report(.untranslated, rule, "not imported: portctl's inbound rules cannot name this host's destination address (\(destination))")
                return []
            }
            remote = source
        case .output:
            if source != any {
                report(.untranslated, rule, "not imported: portctl's outbound rules cannot name this host's source address (\(source))")
                return []
            }
            remote = destination
        case .routed:
            remote = source
            other = destination
        }
        var action: RuleAction = switch rule.action {
        case "deny": .deny
        case "reject": .reject
        default: .allow
        }
        var limited = false
        if rule.action == "limit" {
            guard kind == .input else {
                report(.untranslated, rule, "not imported: portctl rate-limits inbound allows only")
                return []
            }
            limited = true
            action = .allow
            report(.approximated, rule, "imported as an allow limited to \(options.limit) new connections per source: ufw refuses a source's 6th new connection within 30 s; portctl admits a burst of \(options.limit.count), then \(options.limit), and drops (not refuses) the rest")
        }
        var log = !rule.logType.isEmpty
        if log && kind == .routed {
            report(.approximated, rule, "imported without logging: portctl does not log routed rules")
            log = false
        } else if rule.logType == "log-all" {
            report(.approximated, rule, "logs new connections (rate-limited), not every packet as ufw's log-all did")
        }
        var interfaces: [String?] = []
        for name in [rule.inInterface, rule.outInterface] {
            guard var name else { interfaces.append(nil); continue }
            if name.hasSuffix("+") { name = String(name.dropLast()) + "*" }
            if (try? PortRule.validateInterface(name)) == nil {
                report(.untranslated, rule, "not imported: portctl cannot take the interface name \(quoted(name))")
                return []
            }
            interfaces.append(name)
        }
        var comment: String?
        if let text = rule.comment {
            comment = UfwImport.portctlComment(text)
            if comment != text {
                report(.approximated, rule, comment == nil ? "its comment is left out: nothing printable in it"
                    : "its comment is kept as \(quoted(comment!)) (portctl comments hold at most 90 bytes, no double quotes or backslashes)")
            }
        } else if let app = rule.destinationApp {
            comment = UfwImport.portctlComment("ufw app " + app)
        }
        return groups.map { group in
            UfwBox(kind: kind, family: rule.family, action: action, limited: limited, log: log, protocols: group.protocols,
                   ports: group.ports, remote: [remote], other: [other],
                   inInterface: kind == .output ? nil : interfaces[0], outInterface: kind == .input ? nil : interfaces[1],
                   comment: comment, origins: [rule.number])
        }
    }

    /// An address field as a network of the rule's family (host bits cleared, as iptables does).
    mutating func address(_ text: String, _ rule: UfwImport.Rule) -> IPNetwork? {
        if text == "any" { return AddressBlocks.any(rule.family) }
        let pieces = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(pieces[0]), address.family == rule.family,
              let length = pieces.count == 2 ? Int(pieces[1]) : Optional(address.family.bitWidth),
              (0...address.family.bitWidth).contains(length),
              let network = try? IPNetwork(address: IPNetwork.mask(address, length), prefixLength: length) else {
            report(.untranslated, rule, "not imported: \(quoted(text)) is not an \(rule.family == .ipv4 ? "IPv4" : "IPv6") address or network")
            return nil
        }
        return network
    }

    /// ufw's first match, as a set: each block loses the traffic of the allows before it. Boxes
    /// of one family, in ufw's order.
    mutating func resolveOrder(_ boxes: [UfwBox], _ rules: [UfwImport.Rule]) -> [UfwBox] {
        let byNumber = Dictionary(rules.map { ($0.number, $0) }, uniquingKeysWith: { first, _ in first })
        var allows: [UfwBox] = []
        var result: [UfwBox] = []
        for box in boxes {
            if box.action == .allow {
                allows.append(box)
                result.append(box)
                continue
            }
            var pieces = [box]
            var before: [Int] = [], unsaid: [Int] = []
            for allow in allows where allow.overlaps(box) {
                var next: [UfwBox] = []
                var touched = false
                for piece in pieces {
                    guard piece.overlaps(allow) else { next.append(piece); continue }
                    touched = true
                    if let cut = piece.subtracting(allow) {
                        next += cut
                    } else {
                        next.append(piece)
                        if !unsaid.contains(allow.origins[0]) { unsaid.append(allow.origins[0]) }
                    }
                }
                if touched && !before.contains(allow.origins[0]) { before.append(allow.origins[0]) }
                pieces = next
                if pieces.count > 64 { break }
            }
            guard let rule = byNumber[box.origins[0]] else { continue }
            if pieces.count > 64 {
                report(.untranslated, rule, "imported whole: ufw lets earlier allows (\(list(before))) take part of its traffic first, and leaving all of it out takes more than 64 portctl rules; the imported block also blocks that traffic")
                result.append(box)
                continue
            }
            let cutBy = before.filter { !unsaid.contains($0) }
            if !unsaid.isEmpty {
                report(.untranslated, rule, "ufw lets \(list(unsaid)) allow some of its traffic first, on one interface only; portctl cannot exempt an interface from a \(box.action.rawValue), so the imported rule also blocks that traffic")
            }
            if pieces.isEmpty {
                report(.note, rule, "not imported: it never decides anything in ufw, since \(list(cutBy)) \(cutBy.count == 1 ? "allows" : "allow") all of its traffic first")
            } else if !cutBy.isEmpty {
                report(.note, rule, "ufw lets \(list(cutBy)) allow part of its traffic first, so it never blocked that part; imported without it, to keep ufw's outcome")
            }
            result += pieces
        }
        return result
    }

    /// `rule [10]`, `rules [2], [3]`.
    func list(_ numbers: [Int]) -> String {
        (numbers.count == 1 ? "rule " : "rules ") + numbers.map { "[\($0)]" }.joined(separator: ", ")
    }

    /// One portctl rule in the making: boxes of one shape, with their addresses by family.
    struct Entry {
        /// The first box: the entry's shape, and the origins of all.
        var box: UfwBox
        /// Addresses by family: remote (sources, or outbound destinations) and routed destinations.
        var parts: [IPFamily: (remote: [IPNetwork], other: [IPNetwork])]

        /// An entry of one box.
        init(_ box: UfwBox) {
            self.box = box
            parts = [box.family: (box.remote, box.other)]
        }

        /// Whether `box` can join: a family this entry lacks, or the same destinations (sources).
        func canAbsorb(_ box: UfwBox) -> Bool {
            guard let part = parts[box.family] else { return true }
            return part.other == box.other || (box.kind == .routed && part.remote == box.remote)
        }

        /// Adds the box's addresses (see ``canAbsorb(_:)``).
        mutating func absorb(_ box: UfwBox) {
            if parts[box.family] == nil {
                parts[box.family] = (box.remote, box.other)
            } else if parts[box.family]!.other == box.other {
                parts[box.family]!.remote += box.remote
            } else {
                parts[box.family]!.other += box.other
            }
            self.box.origins += box.origins
        }

        /// Whether a packet of `box` could match this entry.
        func overlaps(_ box: UfwBox) -> Bool {
            guard let part = parts[box.family] else { return false }
            return self.box.with { $0.family = box.family; $0.remote = part.remote; $0.other = part.other }.overlaps(box)
        }

        /// Whether moving `box` ahead of this entry changes what happens to some packet.
        func ordersBefore(_ box: UfwBox) -> Bool {
            guard overlaps(box), self.box.action == .allow ? box.action == .allow : box.action != .allow else { return false }
            return self.box.action == .allow ? (self.box.limited != box.limited || self.box.log != box.log) : self.box.action != box.action
        }
    }

    /// Joins boxes of one shape into one rule wherever no box between them cares about the order.
    func merge(_ boxes: [UfwBox]) -> [Entry] {
        var entries: [Entry] = []
        var byShape: [UfwBox.Shape: [Int]] = [:]
        for box in boxes {
            let shape = box.shape
            var joined = false
            for index in byShape[shape] ?? [] where entries[index].canAbsorb(box) {
                if entries[(index + 1)...].contains(where: { $0.ordersBefore(box) }) { continue }
                entries[index].absorb(box)
                joined = true
                break
            }
            if !joined {
                byShape[shape, default: []].append(entries.count)
                entries.append(Entry(box))
            }
        }
        return entries
    }

    /// The policy's rules from the entries, with readable ids.
    mutating func build(_ entries: [Entry], into policy: inout PortPolicy, rules: [UfwImport.Rule]) {
        var taken: Set<String> = []
        func uniqueID(_ base: String) -> String {
            var base = base
            if base.utf8.count > PortRule.maximumIDLength - 3 { base = String(base.prefix(PortRule.maximumIDLength - 3)) }
            while base.hasSuffix("-") || base.hasSuffix(".") { base.removeLast() }
            var id = base, number = 2
            while taken.contains(id) {
                id = "\(base)-\(number)"
                number += 1
            }
            taken.insert(id)
            return id
        }
        for entry in entries {
            let box = entry.box
            let families = IPFamily.allCases.filter { entry.parts[$0] != nil }
            var remote = Self.anyToEmpty(AddressBlocks.normalized(families.flatMap { entry.parts[$0]!.remote }))
            var other = Self.anyToEmpty(AddressBlocks.normalized(families.flatMap { entry.parts[$0]!.other }))
            // A routed rule of one family needs that family's /0 on one side only.
            if box.kind == .routed, families.count == 1 {
                if other == [AddressBlocks.any(families[0])] {
                    other = []
                } else if remote == [AddressBlocks.any(families[0])] {
                    remote = []
                }
            }
            let verb = box.limited ? "limit" : box.action.rawValue
            var ports = box.ports == [try! PortRange(1, 65535)] ? "all" : box.ports.map(\.description).joined(separator: ".")
            let prefix = box.kind == .output ? "out-" : box.kind == .routed ? "route-" : ""
            // Too long for an id: named after the ufw rule instead (`deny-tcp-ufw12`).
            if "\(prefix)\(verb)-\(box.proto.rawValue)-\(ports)".utf8.count > PortRule.maximumIDLength - 3 { ports = "ufw\(box.origins[0])" }
            switch box.kind {
            case .input, .output:
                var rule = PortRule(id: uniqueID("\(prefix)\(verb)-\(box.proto.rawValue)-\(ports)"),
                                    ports: box.ports, proto: box.proto, direction: box.kind == .output ? .out : .in,
                                    action: box.action, sources: remote, interface: box.inInterface ?? box.outInterface,
                                    comment: box.comment)
                rule.log = box.log
                if box.limited { rule.limit = options.limit }
                policy.rules.append(rule)
            case .routed:
                let id = uniqueID("\(box.action == .allow ? "route" : "route-" + verb)-\(box.proto.rawValue)-\(ports)")
                policy.routes.append(RoutedRule(id: id, ports: box.ports, proto: box.proto, action: box.action, sources: remote,
                                                destinations: other, inInterface: box.inInterface, outInterface: box.outInterface,
                                                comment: box.comment))
            }
        }
    }

    /// `[]` (any address) when the list holds both families' /0.
    static func anyToEmpty(_ list: [IPNetwork]) -> [IPNetwork] {
        list.contains(AddressBlocks.any(.ipv4)) && list.contains(AddressBlocks.any(.ipv6)) ? [] : list
    }
}
