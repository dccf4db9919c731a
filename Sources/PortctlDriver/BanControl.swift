public import Foundation
public import PortPolicy

/// What a ban did, or with ``ChangeOptions/dryRun``, would do.
public struct BanResult: Sendable {
    /// The bans added (or that would be).
    public var banned: [Ban]
    /// Sources left alone because a ban in force, or a wider source of the same request, covers
    /// them, with the covering network.
    public var alreadyBanned: [(network: IPNetwork, by: String)]
    /// The batch that adds them.
    public var batch: Batch
    /// What the caller should say besides the bans (an unchecked SSH session, with `force`).
    public var warnings: [ChangeWarning] = []
}

extension ChangeControl {
    /// Bans sources on every port, before any allow, until `expires` (or until unbanned). Bans
    /// are state, kept in the state folder and put back whenever the table is rewritten; each is
    /// kept as given (adjacent bans are not merged), so each can be lifted as it was banned.
    /// Unless `options.force`, refuses to ban the SSH client the process runs for (and to ban
    /// anything when `SSH_CONNECTION` cannot be read), and to ban loopback or an address of this
    /// host: the ban sets are checked before loopback traffic is accepted.
    public func ban(_ networks: [IPNetwork], expires: Date?, comment: String?, options: ChangeOptions = ChangeOptions()) throws -> BanResult {
        try withLock(privileged: "banning", dryRun: options.dryRun) {
            let table = try policyTable()
            var warnings: [ChangeWarning] = []
            if let value = environment["SSH_CONNECTION"] {
                if let client = SSHConnection(environmentValue: value)?.client {
                    if !options.force, let own = networks.first(where: { $0.contains(client) }) {
                        throw ChangeError.wouldBanOwnClient(network: own, client: client)
                    }
                } else if options.force {
                    warnings.append(.lockoutUnchecked(sshConnection: value))
                } else {
                    throw ChangeError.unreadableSSHConnection(value: value)
                }
            }
            if !options.force {
                let local = LocalInterfaces.addresses()
                for network in networks {
                    if let loopback = Self.loopbackNetworks.first(where: { $0.overlaps(network) }) {
                        // Name the loopback address the ban would hit, not the network's first.
                        let hit = loopback.contains(network.address) ? network.address : loopback.address
                        throw ChangeError.wouldBanThisHost(network: network, address: hit, interface: "lo")
                    }
                    if let own = local.first(where: { network.contains($0.address) }) {
                        throw ChangeError.wouldBanThisHost(network: network, address: own.address, interface: own.name)
                    }
                }
            }
            if privileged { try firewall.requireOwnTable(table) }
            let store = BanStore(directory: paths.stateDirectory)
            // Single addresses go into a plain set: banning one again only renews it, so the
            // list is read only when networks are banned (their sets must not overlap).
            var asked: [IPNetwork] = []
            for network in networks where !asked.contains(network) { asked.append(network) }
            let anyNetwork = asked.contains { $0.prefixLength < $0.family.bitWidth }
            let stored = privileged && anyNetwork ? try store.load().compactMap(\.parsed) : []
            var result = BanResult(banned: [], alreadyBanned: [], batch: Batch(), warnings: warnings)
            for network in asked {
                // A source inside a wider one of the same request, or of a ban in force, is covered
                // by it (the interval set takes no overlap); the wider one is banned as given.
                let wider = asked.filter { $0.prefixLength < network.prefixLength && $0.contains(network.address) }
                    .min { $0.prefixLength < $1.prefixLength }
                if let covering = wider ?? stored.first(where: { $0.contains(network.address) && $0.prefixLength <= network.prefixLength }) {
                    result.alreadyBanned.append((network, covering.description))
                    continue
                }
                if network.prefixLength < network.family.bitWidth,
                   let overlap = stored.first(where: { $0.prefixLength < $0.family.bitWidth && network.contains($0.address) }) {
                    throw ChangeError.banCoversBan(network: network, banned: overlap.description)
                }
                result.banned.append(Ban(network: network, expires: expires, comment: comment))
            }
            result.batch = Firewall.banBatch(result.banned, table: table)
            if options.dryRun || result.banned.isEmpty { return result }
            do {
                try firewall.addBans(result.banned, table: table)
            } catch let error as NftablesError where error.kind == .notFound {
                throw ChangeError.noBanSets(table: table)
            }
            try store.append(result.banned)
            return result
        }
    }

    /// Loopback, in both families: never banned without force.
    static let loopbackNetworks: [IPNetwork] = ["127.0.0.0/8", "::1/128"].compactMap { try? IPNetwork(parsing: $0) }

    /// The bans in force, from the state folder, each with the packets it dropped when portctl's
    /// own table can be read (never another table's counters). A damaged ban file is a
    /// ``BanStateError``; a state folder this user may not read is
    /// ``ChangeError/stateFolderUnreadable(path:)``: never "no bans".
    public func bans() throws -> [Ban] {
        try refuseUntrustedStateFolder()
        try refuseUnreadableStateFolder()
        var bans = try BanStore(directory: paths.stateDirectory).load()
        guard privileged, !bans.isEmpty else { return bans }
        // Counters are read only from portctl's own table: another's sets are not its bans.
        let table = (try? policyTable()) ?? PortPolicy.defaultTable
        guard (try? firewall.requireOwnTable(table)) != nil else { return bans }
        let hits = firewall.banHits(table: table)
        for index in bans.indices {
            bans[index].hits = bans[index].parsed.flatMap { hits[$0] }
            bans[index].inKernel = bans[index].hits != nil
        }
        return bans
    }

    /// Refuses with ``ChangeError/stateFolderUnreadable(path:)`` a state folder that exists but
    /// that this user may not read (it is root's, mode 700): what it holds cannot be known.
    public func refuseUnreadableStateFolder() throws {
        var info = stat()
        guard stat(paths.stateDirectory, &info) == 0 || errno != ENOENT else { return }
        if access(paths.stateDirectory, R_OK | X_OK) != 0 && (errno == EACCES || errno == EPERM) {
            throw ChangeError.stateFolderUnreadable(path: paths.stateDirectory)
        }
    }

    /// Lifts bans, each as it was banned. Returns the sources unbanned and those that were not
    /// banned (the kernel may have let them go already: that is no error). A source inside a
    /// banned network, or a network holding bans but not banned itself, is refused
    /// (``ChangeError/unbanInsideBan(network:banned:)``) before anything changes.
    public func unban(_ networks: [IPNetwork]) throws -> Unbanned {
        try withLock(privileged: "lifting bans") {
            let table = try policyTable()
            try firewall.requireOwnTable(table)
            let store = BanStore(directory: paths.stateDirectory)
            var bans = try store.load()
            let listed = Set(bans.compactMap(\.parsed))
            for network in networks where !listed.contains(network) {
                if let covering = listed.sorted().first(where: { $0.overlaps(network) }) {
                    throw ChangeError.unbanInsideBan(network: network, banned: covering)
                }
            }
            let lifted = networks.filter(listed.contains)
            try firewall.removeBans(lifted, table: table)
            bans.removeAll { ban in ban.parsed.map { lifted.contains($0) } ?? false }
            try store.save(bans)
            return Unbanned(lifted: lifted, notBanned: networks.filter { !listed.contains($0) })
        }
    }
}
