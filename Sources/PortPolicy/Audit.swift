public import Foundation

/// A socket waiting for connections (TCP) or datagrams (UDP) on this host.
public struct Listener: Sendable, Hashable, Codable {
    /// `tcp` or `udp`.
    public var proto: TransportProtocol
    /// The local address it is bound to (`0.0.0.0` or `::` for all addresses).
    public var address: String
    /// The local port.
    public var port: UInt16
    /// The owning process, `name[pid]`, when it could be read.
    public var process: String?

    /// Makes a listener.
    public init(proto: TransportProtocol, address: String, port: UInt16, process: String? = nil) {
        self.proto = proto
        self.address = address
        self.port = port
        self.process = process
    }

    /// Whether it listens on every address of its family.
    public var isOnAllAddresses: Bool { address == "0.0.0.0" || address == "::" }

    /// Whether only this host can reach it (bound to a loopback address).
    public var isLoopbackOnly: Bool {
        guard let ip = IPAddress(address) else { return false }
        return ip.family == .ipv4 ? ip.bits >> 24 == 127 : ip.bits == 1
    }

    /// Parses the text of `/proc/net/tcp`, `tcp6`, `udp` or `udp6`: TCP sockets in LISTEN state,
    /// and UDP sockets bound with no peer.
    public static func parseProcNet(_ text: String, proto: TransportProtocol, family: IPFamily) -> [(listener: Listener, inode: String)] {
        var result: [(Listener, String)] = []
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 10 else { continue }
            let state = fields[3]
            if proto == .tcp && state != "0A" { continue }
            if proto == .udp && state != "07" { continue }
            guard let local = decode(String(fields[1]), family: family), let remote = decode(String(fields[2]), family: family)
            else { continue }
            if proto == .udp && remote.port != 0 { continue }
            result.append((Listener(proto: proto, address: local.address, port: local.port), String(fields[9])))
        }
        return result
    }

    /// Decodes `HEXADDR:HEXPORT` as the kernel prints it (addresses in host byte order per
    /// 32-bit word, on a little-endian machine).
    static func decode(_ text: String, family: IPFamily) -> (address: String, port: UInt16)? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1], radix: 16) else { return nil }
        let hex = Array(parts[0])
        guard hex.count == (family == .ipv4 ? 8 : 32) else { return nil }
        var bits: UInt128 = 0
        for word in 0..<(hex.count / 8) {
            guard let value = UInt32(String(hex[(word * 8)..<(word * 8 + 8)]), radix: 16) else { return nil }
            bits = bits << 32 | UInt128(value.byteSwapped)
        }
        guard let address = IPAddress(family: family, bits: bits) else { return nil }
        return (address.description, port)
    }
}

/// A port this host publishes through a DNAT of some table's (Docker, Podman, libvirt, anyone's):
/// connections to it are sent on to `target` and never reach the input hook.
public struct PublishedPort: Sendable, Hashable, CustomStringConvertible {
    /// `tcp` or `udp`.
    public var proto: TransportProtocol
    /// The ports on this host.
    public var ports: PortRange
    /// Where connections go (`192.0.2.2:80`), when the listing says.
    public var target: String?
    /// The table holding the DNAT (`ip nat`).
    public var table: String
    /// The port on this host the DNAT redirects to, when its target is one of this host's own
    /// addresses: such connections reach the input hook with that port, and the rules for that
    /// port decide, not those for `ports`.
    public var redirectedTo: UInt16?

    /// The target's address and port, when the listing names them (`192.0.2.2:80`, `[2001:db8::5]:80`).
    public var targetAddress: (address: IPAddress, port: UInt16?)? {
        guard let target else { return nil }
        if let parsed = try? PortForward.parseTarget(target) { return parsed }
        return IPAddress(target).map { ($0, nil) }
    }

    /// The port that decides: the redirect's target port on this host, else the published one.
    public var decidingPort: UInt16 { redirectedTo ?? ports.first }

    /// Makes one.
    public init(proto: TransportProtocol, ports: PortRange, target: String?, table: String) {
        self.proto = proto
        self.ports = ports
        self.target = target
        self.table = table
    }

    /// `8080/tcp (DNAT to 192.0.2.2:80, table ip nat)`.
    public var description: String {
        "\(ports)/\(proto.rawValue) (\(via))" + (redirectedTo.map { ", redirected to this host's port \($0): the rules for \($0) decide" } ?? "")
    }

    /// `DNAT to 192.0.2.2:80, table ip nat`.
    public var via: String { "DNAT to \(target ?? "an address the listing does not show"), table \(table)" }

    /// Reads the DNAT rules of one table from its text listing (`nft list table ip nat`): nft
    /// 1.0.6 shows iptables-nft's DNAT targets (Docker's) only in text, not in JSON. A rule counts
    /// when it matches a destination port (`tcp dport 8080`, or `meta l4proto tcp th dport 8080`, with
    /// `6` for `tcp` where the host has no /etc/protocols) and ends in `dnat [ip|ip6] to TARGET`;
    /// anything else is left out.
    public static func parse(listing text: String, table: String) -> [PublishedPort] {
        var found: [PublishedPort] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard let dnat = words.firstIndex(of: "dnat") else { continue }
            var rest = words[(dnat + 1)...]
            if rest.first == "ip" || rest.first == "ip6" { rest = rest.dropFirst() }
            guard rest.first == "to" else { continue }
            let target = rest.dropFirst().first
            guard let dport = words[..<dnat].firstIndex(of: "dport"), dport > 0, dport + 1 < dnat else { continue }
            var proto = TransportProtocol(rawValue: words[dport - 1])
            if words[dport - 1] == "th", let l4 = words.firstIndex(of: "l4proto"), l4 + 1 < words.count {
                proto = TransportProtocol(listed: words[l4 + 1])
            }
            // One port, a range, or an anonymous set of them: `{ 9000, 9005-9010 }`.
            var texts = [words[dport + 1]]
            if texts[0] == "{", let close = words[(dport + 1)...].firstIndex(of: "}") {
                texts = words[(dport + 2)..<close].map { $0.trimmingCharacters(in: CharacterSet(charactersIn: ",")) }.filter { !$0.isEmpty }
            }
            guard let proto, proto != .both else { continue }
            for text in texts {
                let portWords = text.split(separator: "-")
                guard let low = portWords.first.flatMap({ Int($0) }),
                      let ports = try? PortRange(low, portWords.count == 2 ? Int(portWords[1]) ?? -1 : low) else { continue }
                found.append(PublishedPort(proto: proto, ports: ports, target: target, table: table))
            }
        }
        return found
    }
}

/// Ports that should rarely face the whole Internet: a listener on all addresses that the
/// policy opens to any source on one of these is a high-severity finding. This is the one place
/// the list lives; docs/audit.md shows it.
public enum SensitivePorts {
    /// One entry: ports, protocol, what usually listens there, and why it is sensitive.
    public struct Entry: Sendable, Hashable {
        /// The ports.
        public var ports: ClosedRange<UInt16>
        /// `tcp`, `udp` or `both`.
        public var proto: TransportProtocol
        /// What usually listens there.
        public var service: String
        /// Remote shell, mail relay, database, cache, admin panel, ...
        public var category: String
    }

    /// The list.
    public static let all: [Entry] = [
        Entry(ports: 22...22, proto: .tcp, service: "SSH", category: "remote shell"),
        Entry(ports: 23...23, proto: .tcp, service: "telnet", category: "remote shell"),
        Entry(ports: 512...514, proto: .tcp, service: "rexec/rlogin/rsh", category: "remote shell"),
        Entry(ports: 3389...3389, proto: .both, service: "RDP", category: "remote shell"),
        Entry(ports: 5900...5909, proto: .tcp, service: "VNC", category: "remote shell"),
        Entry(ports: 25...26, proto: .tcp, service: "SMTP relay", category: "mail relay"),
        Entry(ports: 2525...2525, proto: .tcp, service: "SMTP relay", category: "mail relay"),
        Entry(ports: 111...111, proto: .both, service: "rpcbind", category: "RPC"),
        Entry(ports: 135...135, proto: .tcp, service: "MS RPC", category: "RPC"),
        Entry(ports: 139...139, proto: .tcp, service: "NetBIOS", category: "file sharing"),
        Entry(ports: 445...445, proto: .tcp, service: "SMB", category: "file sharing"),
        Entry(ports: 2049...2049, proto: .both, service: "NFS", category: "file sharing"),
        Entry(ports: 161...161, proto: .udp, service: "SNMP", category: "management"),
        Entry(ports: 1433...1433, proto: .tcp, service: "SQL Server", category: "database"),
        Entry(ports: 1521...1521, proto: .tcp, service: "Oracle", category: "database"),
        Entry(ports: 3306...3306, proto: .tcp, service: "MySQL/MariaDB", category: "database"),
        Entry(ports: 5432...5432, proto: .tcp, service: "PostgreSQL", category: "database"),
        Entry(ports: 5984...5984, proto: .tcp, service: "CouchDB", category: "database"),
        Entry(ports: 7474...7474, proto: .tcp, service: "Neo4j", category: "database"),
        Entry(ports: 8086...8086, proto: .tcp, service: "InfluxDB", category: "database"),
        Entry(ports: 9042...9042, proto: .tcp, service: "Cassandra", category: "database"),
        Entry(ports: 9200...9300, proto: .tcp, service: "Elasticsearch", category: "database"),
        Entry(ports: 27017...27019, proto: .tcp, service: "MongoDB", category: "database"),
        Entry(ports: 6379...6379, proto: .tcp, service: "Redis", category: "cache"),
        Entry(ports: 11211...11211, proto: .both, service: "memcached", category: "cache"),
        Entry(ports: 2375...2376, proto: .tcp, service: "Docker API", category: "admin interface"),
        Entry(ports: 2379...2380, proto: .tcp, service: "etcd", category: "admin interface"),
        Entry(ports: 6443...6443, proto: .tcp, service: "Kubernetes API", category: "admin interface"),
        Entry(ports: 10250...10250, proto: .tcp, service: "kubelet", category: "admin interface"),
        Entry(ports: 8500...8500, proto: .tcp, service: "Consul", category: "admin interface"),
        Entry(ports: 9090...9090, proto: .tcp, service: "Cockpit/Prometheus", category: "admin panel"),
        Entry(ports: 10000...10000, proto: .tcp, service: "Webmin", category: "admin panel"),
        Entry(ports: 2082...2087, proto: .tcp, service: "cPanel/WHM", category: "admin panel"),
        Entry(ports: 5601...5601, proto: .tcp, service: "Kibana", category: "admin panel"),
        Entry(ports: 15672...15672, proto: .tcp, service: "RabbitMQ management", category: "admin panel"),
    ]

    /// The entry covering a port, if any.
    public static func entry(port: UInt16, proto: TransportProtocol) -> Entry? {
        all.first { $0.ports.contains(port) && $0.proto.members.contains(proto) }
    }
}

/// Who can reach a port, according to the policy.
public enum Exposure: Sendable, Hashable {
    /// Any source address: by this allow rule, or by the default (nil) when it is accept.
    case anySource(PortRule?)
    /// Only some sources, by these allow rules.
    case someSources([PortRule])
    /// Nobody: a block for any source, or no allow and a drop/reject default.
    case blocked(PortRule?)
}

/// One finding of the exposure audit.
public struct Finding: Sendable, Hashable, Codable {
    /// How much it matters.
    public enum Severity: String, Sendable, Hashable, Codable, Comparable {
        /// Something to act on now.
        case high
        /// Worth a look.
        case warning
        /// For the record.
        case info

        var rank: Int { self == .high ? 0 : (self == .warning ? 1 : 2) }

        /// High first.
        public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
    }

    /// The port (the first port of a range).
    public var port: UInt16
    /// `tcp` or `udp`.
    public var proto: TransportProtocol
    /// How much it matters.
    public var severity: Severity
    /// `sensitive-open-to-any`, `open-to-any`, `stale-opening`, `listener-blocked`,
    /// `published` (a port some table DNATs elsewhere), `forwarding-off`, and from the kernel's
    /// view `kernel-admits`, `kernel-refuses`, `kernel-cannot-tell`, `table-not-in-force`.
    public var kind: String
    /// One line for people.
    public var message: String
    /// For `published`: where connections go (`192.0.2.2:80`), when known.
    public var target: String?
    /// For `published`: the table holding the DNAT.
    public var table: String?
    /// For `published`: whether the policy admits `any`, `some` or `no` sources (`any` too when
    /// `defaults.published` is accept: the publisher's rules decide then).
    public var admits: String?
    /// For `kernel-admits`: the source networks the kernel admits and the policy does not.
    public var kernelAdmits: [String]?
    /// For `kernel-refuses`: the source networks the policy admits and the kernel does not.
    public var policyAdmits: [String]?

    /// Makes a finding.
    public init(port: UInt16, proto: TransportProtocol, severity: Severity, kind: String, message: String,
                target: String? = nil, table: String? = nil, admits: String? = nil) {
        self.port = port
        self.proto = proto
        self.severity = severity
        self.kind = kind
        self.message = message
        self.target = target
        self.table = table
        self.admits = admits
    }

    enum CodingKeys: String, CodingKey {
        case port, proto = "protocol", severity, kind, message, target, table, admits, kernelAdmits, policyAdmits
    }
}

/// Compares what listens on the host with what the policy lets in.
public enum ExposureAudit {
    /// Who can reach `port`/`proto` from outside, by the rules in force at `now`.
    public static func exposure(_ policy: PortPolicy, port: UInt16, proto: TransportProtocol, at now: Date = Date()) -> Exposure {
        let rules = policy.effective(at: now).rules.filter {
            $0.direction == .in && $0.proto.members.contains(proto) && $0.ports.contains { $0.contains(port) }
        }
        // Coverage is computed: a block or an allow for 0.0.0.0/0 and ::/0 (or networks that add
        // up to them) is one for any source; an allow covering one family opens it to that family.
        if let block = rules.first(where: { $0.action != .allow && $0.admitsEveryAddress && $0.interface == nil }) {
            return .blocked(block)
        }
        let allows = rules.filter { $0.action == .allow }
        if let open = allows.first(where: { $0.isFromAnywhere }) ?? allows.first(where: \.admitsAnySource) { return .anySource(open) }
        if !allows.isEmpty { return .someSources(allows) }
        return policy.inbound == .accept ? .anySource(nil) : .blocked(nil)
    }

    /// Who an "any source" exposure admits: `any source`, or `any IPv4 source (0.0.0.0/0)` for an
    /// allow whose addresses cover one family only.
    static func anyone(_ rule: PortRule?) -> String {
        guard let rule, !rule.admitsEveryAddress else { return "any source" }
        let family = rule.wholeFamilies.first ?? .ipv4
        let listed = rule.mergedSources(family).map(\.description).joined(separator: ", ")
        return "any \(family == .ipv4 ? "IPv4" : "IPv6") source (\(listed))"
    }

    /// The published ports the policy lets no source reach: their connections will be dropped.
    public static func dropped(_ policy: PortPolicy, published: [PublishedPort], at now: Date = Date()) -> [PublishedPort] {
        guard policy.published == .filter else { return [] }
        return published.filter {
            if case .blocked = exposure(policy, port: $0.decidingPort, proto: $0.proto, at: now) { true } else { false }
        }
    }

    /// The findings, high first. Published ports are judged like listeners on all addresses:
    /// the policy's inbound rules govern them too (unless `defaults.published` is accept).
    public static func findings(_ policy: PortPolicy, listeners: [Listener], published: [PublishedPort] = [],
                                at now: Date = Date()) -> [Finding] {
        var findings: [Finding] = []
        for port in published {
            let first = port.ports.first
            let sensitive = SensitivePorts.entry(port: first, proto: port.proto)
            let what = "published port \(port.description)"
            func finding(_ severity: Finding.Severity, _ admits: String, _ message: String) -> Finding {
                Finding(port: first, proto: port.proto, severity: severity, kind: "published", message: message,
                        target: port.target, table: port.table, admits: admits)
            }
            if policy.published == .accept && port.redirectedTo == nil {
                findings.append(finding(sensitive == nil ? .warning : .high, "any",
                                        "\(what) is left to its publisher (defaults.published: accept), which usually lets any source reach it"
                                        + (sensitive.map { "; \($0.service) is a \($0.category) that should rarely face the world" } ?? "")))
                continue
            }
            switch exposure(policy, port: port.decidingPort, proto: port.proto, at: now) {
            case let .anySource(rule):
                let by = rule.map { "rule \(quoted($0.id))" } ?? "the inbound default accept"
                findings.append(finding(sensitive == nil ? .warning : .high, "any",
                                        "\(what): \(by) lets \(anyone(rule)) reach it"
                                        + (sensitive.map { "; \($0.service) is a \($0.category) that should rarely face the world: restrict it with --from" } ?? "")))
            case let .someSources(rules):
                findings.append(finding(.info, "some", "\(what): only the sources of \(rules.map { "rule \(quoted($0.id))" }.joined(separator: ", ")) reach it"))
            case let .blocked(rule):
                findings.append(finding(.info, "no", "\(what) is not allowed by the policy\(rule.map { " (rule \(quoted($0.id)) blocks it)" } ?? ""): it is dropped"))
            }
        }
        let reachable = listeners.filter { !$0.isLoopbackOnly }
        var seen: Set<String> = []
        for listener in reachable.sorted(by: { ($0.port, $0.proto.rawValue) < ($1.port, $1.proto.rawValue) }) {
            let key = "\(listener.port)/\(listener.proto.rawValue)"
            guard seen.insert(key).inserted else { continue }
            let sameSocket = reachable.filter { $0.port == listener.port && $0.proto == listener.proto }
            let onAll = sameSocket.contains(where: \.isOnAllAddresses)
            let who = sameSocket.compactMap(\.process).first.map { " (\($0))" } ?? ""
            let bound = onAll ? "listens on all addresses" : "listens on \(sameSocket.map(\.address).joined(separator: ", "))"
            switch exposure(policy, port: listener.port, proto: listener.proto, at: now) {
            case let .anySource(rule):
                let by = rule.map { "rule \(quoted($0.id))" } ?? "the inbound default accept"
                if onAll, let sensitive = SensitivePorts.entry(port: listener.port, proto: listener.proto) {
                    findings.append(Finding(port: listener.port, proto: listener.proto, severity: .high, kind: "sensitive-open-to-any",
                                            message: "\(key)\(who) \(bound) and \(by) lets \(anyone(rule)) reach it; \(sensitive.service) is a \(sensitive.category) that should rarely face the world: restrict it with --from"))
                } else {
                    findings.append(Finding(port: listener.port, proto: listener.proto, severity: .warning, kind: "open-to-any",
                                            message: "\(key)\(who) \(bound) and \(by) lets \(anyone(rule)) reach it"))
                }
            case let .blocked(rule):
                if onAll {
                    let by = rule.map { "rule \(quoted($0.id)) blocks it" } ?? "no rule allows it"
                    findings.append(Finding(port: listener.port, proto: listener.proto, severity: .info, kind: "listener-blocked",
                                            message: "\(key)\(who) \(bound) but \(by); only this host can use it"))
                }
            case .someSources:
                break
            }
        }
        // Openings nothing listens on: holes waiting for whatever starts there next.
        var listening = Set(reachable.map { "\($0.port)/\($0.proto.rawValue)" })
        for port in published { for number in port.ports.first...port.ports.last { listening.insert("\(number)/\(port.proto.rawValue)") } }
        for rule in policy.effective(at: now).rules where rule.action == .allow && rule.direction == .in {
            for proto in rule.proto.members {
                for range in rule.ports {
                    let used = (range.first...range.last).contains { listening.contains("\($0)/\(proto.rawValue)") }
                    if used { continue }
                    let what = range.first == range.last ? "\(range.first)/\(proto.rawValue)" : "\(range)/\(proto.rawValue)"
                    // portctl's own first-run SSH rule is there so nobody is locked out: on a host
                    // without sshd on that port it is for the record, not a standing warning.
                    if rule.isFirstRunRule {
                        findings.append(Finding(port: range.first, proto: proto, severity: .info, kind: "stale-opening",
                                                message: "rule \(quoted(rule.id)), written by portctl's first run so the admin keeps access, opens \(what) but nothing listens there: close it if this host is not reached over SSH on \(what)"))
                        continue
                    }
                    findings.append(Finding(port: range.first, proto: proto, severity: .warning, kind: "stale-opening",
                                            message: "rule \(quoted(rule.id)) opens \(what) but nothing listens there: close it if it is no longer needed"))
                }
            }
        }
        return findings.sorted { ($0.severity, $0.port, $0.proto.rawValue) < ($1.severity, $1.port, $1.proto.rawValue) }
    }
}
