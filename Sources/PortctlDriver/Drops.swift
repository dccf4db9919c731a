public import Foundation
public import PortPolicy
#if canImport(Glibc)
import Glibc
#endif

extension Firewall {
    /// Reads the drop record of portctl's table `table`: every refused connection still kept
    /// (`DropReport`), its rules named from `ruleIDs` (the policy's rule and route ids), and
    /// how many refused connections a full set could not record. A table without a drop record
    /// (recording off, or made by an older portctl) gives an empty report with `keptSeconds` nil.
    /// Needs CAP_NET_ADMIN; changes nothing.
    ///
    /// The set's shape and the counters come from a listing without set elements; the elements
    /// are dumped from the kernel over netlink (`DropRecordMessages`), which takes milliseconds
    /// where libnftables 1.0.6 takes seconds for a full record.
    public func drops(table: String, ruleIDs: [String], now: Date = Date()) throws -> DropReport {
        // One listing without set elements says whose table it is, the record's shape and the
        // counters (``requireOwnTable(_:)`` would fetch every element: nft lists a counter so).
        let none = DropReport(connections: [], keptSeconds: nil, capacity: Renderer.dropSetSize, unrecorded: 0)
        guard let listing = try listing(table: table, terse: true), let live = try LiveTable.read(json: listing.json, table: table)
        else { return none }
        guard live.isPortctls else { throw ForeignTableError(table: table) }
        guard case let .drops(timeout, size)? = live.set(Renderer.dropSetName(.ipv4))?.kind
        else { return none }
        var connections: [DroppedConnection] = []
        for family in IPFamily.allCases where live.set(Renderer.dropSetName(family)) != nil {
            if backend is Nftables {
                connections += try Self.dumpDropRecord(table: table, family: family, keptMilliseconds: UInt64(timeout) * 1000,
                                                       ruleIDs: ruleIDs, now: now)
            } else if let json = try listIfPresent("list set inet \(table) \(Renderer.dropSetName(family))") {
                // Another backend (a fake kernel) is read through its listing.
                connections += DropReport.connections(json: json, keptSeconds: timeout, ruleIDs: ruleIDs, now: now)
            }
        }
        let counters = LiveTable.counterValues(json: listing.json, table: table)
        let unrecorded = max(0, (counters[Renderer.dropsSeenCounter]?.packets ?? 0) - (counters[Renderer.dropsRecordedCounter]?.packets ?? 0))
        return DropReport(connections: DropReport.sorted(connections), keptSeconds: timeout, capacity: size, unrecorded: unrecorded)
    }

    /// Dumps one family's drop record over a netlink socket of this network namespace.
    static func dumpDropRecord(table: String, family: IPFamily, keptMilliseconds: UInt64, ruleIDs: [String], now: Date) throws(SystemError) -> [DroppedConnection] {
        let socketDescriptor = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 12 /* NETLINK_NETFILTER */)
        guard socketDescriptor >= 0 else { throw .errno(errno, "cannot open a netlink socket to read the drop record") }
        defer { close(socketDescriptor) }
        let request = DropRecordMessages.dumpRequest(table: table, set: Renderer.dropSetName(family), sequence: 1)
        let sent = request.withUnsafeBytes { send(socketDescriptor, $0.baseAddress, $0.count, 0) }
        guard sent == request.count else { throw .errno(errno, "cannot ask the kernel for the drop record") }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var connections: [DroppedConnection] = []
        // Bounded: a dump of 65,536 elements arrives in a few hundred buffers.
        for _ in 0..<100_000 {
            let received = buffer.withUnsafeMutableBytes { recv(socketDescriptor, $0.baseAddress, $0.count, 0) }
            if received < 0 {
                if errno == EINTR { continue }
                throw .errno(errno, "cannot read the drop record from the kernel")
            }
            let chunk = DropRecordMessages.decode(Array(buffer[0..<received]), family: family, keptMilliseconds: keptMilliseconds,
                                                  ruleIDs: ruleIDs, now: now)
            connections += chunk.connections
            if let code = chunk.errno { throw .errno(code, "the kernel refused to list the drop record") }
            if chunk.finished { return connections }
        }
        throw SystemError("the kernel's drop record did not end (more than 100,000 netlink buffers)")
    }
}

extension ChangeControl {
    /// The connections portctl's table refused and recorded (``Firewall/drops(table:ruleIDs:now:)``),
    /// their rules named from `policy`, or the policy file when none is given. Needs
    /// CAP_NET_ADMIN; takes no lock and changes nothing.
    public func drops(policy given: PortPolicy? = nil, now: Date = Date()) throws -> DropReport {
        try requirePrivilege("reading the drop record")
        let policy = try given ?? requirePolicy().policy
        return try firewall.drops(table: policy.table, ruleIDs: policy.rules.map(\.id) + policy.routes.map(\.id), now: now)
    }
}
