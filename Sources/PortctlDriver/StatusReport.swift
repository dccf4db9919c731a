public import Foundation
public import PortPolicy

/// What `portctl status` shows: whether portctl's table in the kernel matches the policy file,
/// each rule with its live counters, the defaults, bans, a change awaiting confirmation, and
/// the other tables that also filter the input hook. Built by ``ChangeControl/status(now:)``;
/// encoded (`Encodable`) it is `portctl status --json`.
public struct StatusReport: Sendable, Encodable {
    /// One inbound or outbound rule of the policy in force, with its counters.
    public struct Rule: Sendable, Encodable {
        /// The rule's id.
        public var id: String
        /// `allow`, `deny` or `reject`.
        public var action: String
        /// `in` or `out`.
        public var direction: String
        /// The ports, as the policy writes them (`26`, `8000-8100`).
        public var ports: [String]
        /// `tcp`, `udp` or `both` (`protocol` in JSON).
        public var proto: String
        /// The sources (destinations for an outbound rule); with address files, what they held.
        public var sources: [String]
        /// Address files the sources are read from.
        public var sourceFiles: [String]
        /// The interface the rule is limited to.
        public var interface: String?
        /// The per-source rate limit (`10/minute`).
        public var limit: String?
        /// Packets over the rate limit, dropped (nil for a rule without a limit).
        public var limitedPackets: Int?
        /// Whether matches are logged.
        public var log: Bool
        /// When the rule expires (the policy file's timestamp).
        public var expires: String?
        /// Seconds until it expires (0 once it has).
        public var expiresIn: Int?
        /// Packets the rule matched.
        public var packets: Int
        /// Bytes the rule matched.
        public var bytes: Int
        /// Its addresses in one cell, as a table shows them (`PortRule.addressesCell`; not in JSON).
        public var addresses: String

        enum CodingKeys: String, CodingKey {
            case id, action, direction, ports, proto = "protocol", sources, sourceFiles, interface, limit, limitedPackets, log, expires, expiresIn, packets, bytes
        }
    }

    /// The policy's defaults, with the packets that reached them.
    public struct Defaults: Sendable, Encodable {
        /// The inbound default (`drop`, `reject`, `accept`).
        public var inbound: String
        /// The outbound default.
        public var outbound: String
        /// Packets that reached the inbound default.
        public var packets: Int
        /// Bytes that reached the inbound default.
        public var bytes: Int
        /// What happens to ports other tables publish by DNAT (`filter`, `accept`).
        public var published: String
        /// Packets of DNATed connections that reached the default.
        public var publishedPackets: Int
        /// Bytes of DNATed connections that reached the default.
        public var publishedBytes: Int
    }

    /// A forward or a routed rule, with its counters.
    public struct Entry: Sendable, Encodable {
        /// Its id.
        public var id: String
        /// What it does, in one line.
        public var summary: String
        /// Packets it matched.
        public var packets: Int
        /// Bytes it matched.
        public var bytes: Int
    }

    /// The bans: what the kernel holds, and what the state folder lists.
    public struct Bans: Sendable {
        /// Bans the kernel holds (in force).
        public var inForce: Int
        /// Bans the state folder lists (more than ``inForce`` when the kernel refused some back
        /// into a rewritten table).
        public var listed: Int
        /// Packets the bans dropped.
        public var droppedPackets: Int
    }

    /// A change that awaits `portctl confirm`.
    public struct AwaitingConfirmation: Sendable {
        /// The change's history number.
        public var sequence: Int
        /// Whether its watchdog still runs (when not, nothing rolls it back at the deadline:
        /// the next change or `portctl rollback` does).
        public var watchdogRunning: Bool
        /// Seconds until the deadline (0 once it passed).
        public var secondsLeft: Int
    }

    /// portctl's table.
    public var table: String
    /// The policy file.
    public var policyFile: String
    /// Whether the table is in the kernel.
    public var tablePresent: Bool
    /// Whether it was switched off outside portctl (`flags dormant`): it filters nothing.
    public var dormant: Bool
    /// Whether it matches the policy file (an empty plan).
    public var inSync: Bool
    /// The defaults and their counters.
    public var defaults: Defaults
    /// The rules in force now (expired ones left out), in the policy's order.
    public var rules: [Rule]
    /// The forwards.
    public var forwards: [Entry]
    /// The routed rules.
    public var routes: [Entry]
    /// Base chains of other tables on the input hook (their drop wins over portctl's accept).
    public var otherInputChains: [ForeignChain]
    /// The libnftables release in use ("1.0.6"), from its own listing's metainfo; nil when not known.
    public var libnftables: String?

    /// The policy file's policy the report was read against (not in JSON).
    public var policy: PortPolicy
    /// Packets that reached the routed default (not in JSON).
    public var routedDefaultPackets: Int
    /// Bytes that reached the routed default (not in JSON).
    public var routedDefaultBytes: Int
    /// The bans (not in JSON).
    public var bans: Bans
    /// The change that awaits confirmation, if any (not in JSON).
    public var awaitingConfirmation: AwaitingConfirmation?

    enum CodingKeys: String, CodingKey {
        case table, policyFile, tablePresent, dormant, inSync, defaults, rules, forwards, routes, otherInputChains, libnftables
    }
}

extension ChangeControl {
    /// The status of portctl's table against the policy file (`portctl status`): the kernel's
    /// snapshot (``Firewall/snapshot(for:stateDirectory:now:)``), the bans the kernel and the
    /// state folder hold, and a change awaiting confirmation. Takes no lock; changes nothing but
    /// the tables of traces whose process was killed, which it removes (as every change does).
    ///
    /// Fails when there is no policy file (``ChangeError/noPolicyFile(path:)``), without
    /// CAP_NET_ADMIN (``ChangeError/needsPrivilege(doing:)``), when the state folder could have
    /// been written by others or its bans or confirmation are damaged, and when a table of that
    /// name is not portctl's (`ForeignTableError`). Blocks while libnftables lists the table
    /// (a second or more at 100,000 addresses unless the generation cache vouches for it).
    public func status(now: Date = Date()) throws -> StatusReport {
        let policy = try requirePolicy().policy
        try requirePrivilege("reading the kernel's table and counters")
        try refuseUntrustedStateFolder()
        removeAbandonedTraces()
        let kernel = try firewall.snapshot(for: policy, stateDirectory: paths.stateDirectory, now: now)
        let counters = kernel.counters
        func count(_ name: String) -> (packets: Int, bytes: Int) { counters[name] ?? (0, 0) }
        let effective = policy.effective(at: now)
        let rules = effective.rules.map { rule in
            StatusReport.Rule(id: rule.id, action: rule.action.rawValue, direction: rule.direction.rawValue,
                              ports: rule.ports.map(\.description), proto: rule.proto.rawValue,
                              sources: rule.sources.map(\.description), sourceFiles: rule.sourceFiles.map(\.path), interface: rule.interface,
                              limit: rule.limit?.description,
                              limitedPackets: rule.limit.map { _ in count(Renderer.limitedName(rule.id)).packets }, log: rule.log,
                              expires: rule.expires.map(PolicyFile.timestamp),
                              expiresIn: rule.expires.map { max(0, Int($0.timeIntervalSince(now))) },
                              packets: count(rule.id).packets, bytes: count(rule.id).bytes, addresses: rule.addressesCell)
        }
        let defaults = StatusReport.Defaults(inbound: policy.inbound.rawValue, outbound: policy.outbound.rawValue,
                                             packets: count(Renderer.inboundDefaultCounter).packets,
                                             bytes: count(Renderer.inboundDefaultCounter).bytes,
                                             published: policy.published.rawValue,
                                             publishedPackets: count(Renderer.publishedDefaultCounter).packets,
                                             publishedBytes: count(Renderer.publishedDefaultCounter).bytes)
        let awaiting = try state.pending().map { pending in
            StatusReport.AwaitingConfirmation(
                sequence: pending.sequence,
                watchdogRunning: pending.watchdog.map { DetachedProcess.isRunning($0, withArgument: pending.token) } ?? false,
                secondsLeft: max(0, Int(pending.deadline - Date().timeIntervalSince1970)))
        }
        // In force is what the kernel holds; the state folder's list may have more (bans the
        // kernel refused to take back into a rewritten table).
        let listed = try BanStore(directory: paths.stateDirectory).load(now: now)
        let bans = StatusReport.Bans(inForce: kernel.tablePresent ? firewall.banHits(table: policy.table).count : 0,
                                     listed: listed.count, droppedPackets: count(Renderer.banCounter).packets)
        return StatusReport(
            table: policy.table, policyFile: paths.policyFile, tablePresent: kernel.tablePresent, dormant: kernel.dormant,
            inSync: kernel.inSync, defaults: defaults, rules: rules,
            forwards: policy.forwards.map { .init(id: $0.id, summary: $0.summary, packets: count($0.id).packets, bytes: count($0.id).bytes) },
            routes: policy.routes.map { .init(id: $0.id, summary: $0.summary, packets: count($0.id).packets, bytes: count($0.id).bytes) },
            otherInputChains: kernel.otherInputChains,
            libnftables: (firewall.backend as? Nftables)?.libraryVersion().release,
            policy: policy, routedDefaultPackets: count(Renderer.routedDefaultCounter).packets,
            routedDefaultBytes: count(Renderer.routedDefaultCounter).bytes, bans: bans, awaitingConfirmation: awaiting)
    }
}
