import Foundation
public import PortPolicy
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Why a trace could not run, or stopped.
public enum TraceError: Error, Sendable, CustomStringConvertible {
    /// The process may not read trace events or add the trace table (CAP_NET_ADMIN).
    case needsPrivilege
    /// A system call on the netlink socket failed.
    case socket(doing: String, errno: Int32)
    /// Someone removed the trace table while the trace ran (`portctl disable`, `nft flush ruleset`).
    case tableRemoved(String)

    /// One line.
    public var description: String {
        switch self {
        case .needsPrivilege:
            "tracing packets needs root or CAP_NET_ADMIN in this network namespace"
        case let .socket(doing, code):
            "cannot \(doing) on the kernel's trace socket: \(String(cString: strerror(code)))"
        case let .tableRemoved(table):
            "the trace table inet \(table) was removed while the trace ran (portctl disable, or by hand); the trace stopped"
        }
    }
}

extension TraceError: PortctlError {
    /// Missing privilege, or a runtime failure.
    public var category: ErrorCategory {
        if case .needsPrivilege = self { return .needsPrivilege }
        return .runtime
    }
}

/// What a running trace reports, as it happens.
public enum TraceNotice: Sendable {
    /// The trace table is in place: packets are being marked from now on.
    case started
    /// A second passed (for a display that refreshes).
    case tick
    /// A packet's path, complete.
    case packet(TracedPacket)
    /// The kernel dropped trace events because the reader fell behind (the socket's queue was
    /// full): at least this many marked packets so far were not seen whole.
    case eventsLost(Int)
}

/// How a trace ended.
public struct TraceSummary: Sendable, Hashable {
    /// Packets the trace table marked (its counter), when it could be read.
    public var marked: Int?
    /// Packets whose path was reported.
    public var reported: Int
    /// Marked packets whose events the kernel dropped (0 unless the socket's queue overflowed).
    public var lost: Int
    /// How often the socket's queue overflowed.
    public var overflows: Int
}

/// Reads the kernel's trace events for packets that a temporary table marks, and reports each
/// packet's path through every table and chain with its rules named.
///
/// ``run(marking:seconds:report:)`` adds table `inet portctl-trace-PID-START` (one batch), reads
/// `NFT_MSG_TRACE` messages from a netfilter netlink socket joined to `NFNLGRP_NFTRACE`, and
/// removes the table (one batch) however it ends: a stop, a deadline, an error. A process killed
/// before that leaves the table; the next portctl change, `plan` or `status` removes it
/// (``Firewall/removeAbandonedTraceTables(isAlive:)``). Needs CAP_NET_ADMIN. Blocks while it runs;
/// ``stop()`` may be called from any thread, and a signal handler may write a byte to
/// ``stopDescriptor``. Changes no process-wide state (signals are the caller's to route).
public final class PacketTracer: Sendable {
    /// The kernel.
    public let firewall: Firewall
    /// portctl's table (family `inet`), whose rules are named by id.
    public let portctlTable: String
    /// The trace table this tracer adds.
    public let traceTable: String
    /// How long a packet's path waits for more events before it is reported, in seconds.
    public let idle: Double
    private let socketDescriptor: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let stopped = Atomic<Bool>(false)

    /// Opens the trace socket and joins the trace group (before any packet is marked, so none is
    /// missed). Throws ``TraceError/needsPrivilege`` without CAP_NET_ADMIN.
    public init(portctlTable: String, firewall: Firewall = Firewall(), idle: Double = 0.1) throws(TraceError) {
        self.firewall = firewall
        self.portctlTable = portctlTable
        self.idle = idle
        let owner = TraceOwner.current
        traceTable = TraceTable.name(pid: owner.pid, startTime: owner.startTime)
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 12 /* NETLINK_NETFILTER */)
        guard fd >= 0 else { throw .socket(doing: "open a netlink socket", errno: errno) }
        // sockaddr_nl: family, padding, port id 0 (the kernel picks one), no groups yet.
        var address = [UInt8](repeating: 0, count: 12)
        address[0] = UInt8(AF_NETLINK & 0xff)
        let bound = address.withUnsafeBytes { bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), 12) }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw .socket(doing: "bind", errno: code)
        }
        var group = TraceEvent.multicastGroup
        if setsockopt(fd, 270 /* SOL_NETLINK */, 1 /* NETLINK_ADD_MEMBERSHIP */, &group, 4) != 0 {
            let code = errno
            close(fd)
            throw code == EPERM || code == EACCES ? .needsPrivilege : .socket(doing: "join the trace group", errno: code)
        }
        // A large queue: at thousands of connections a second, each packet brings several events.
        var size: Int32 = 64 << 20
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, 4) != 0 {
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, 4)
        }
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else {
            let code = errno
            close(fd)
            throw .socket(doing: "make a wake-up pipe", errno: code)
        }
        for end in pipeEnds {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
        }
        socketDescriptor = fd
        wakeRead = pipeEnds[0]
        wakeWrite = pipeEnds[1]
    }

    deinit {
        close(socketDescriptor)
        close(wakeRead)
        close(wakeWrite)
    }

    /// A descriptor that stops a run when one byte is written to it, like ``stop()``: `write(2)`
    /// is async-signal-safe, so a signal handler the caller installs may use it.
    public var stopDescriptor: Int32 { wakeWrite }

    /// Ends a running ``run(marking:seconds:report:)`` soon (it removes its table first); safe from
    /// any thread, and before the run starts (it then ends at once).
    public func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Adds the trace table marking `marking`, reports each packet's path to `report` until it
    /// returns false, ``stop()`` is called or `seconds` pass, then removes the table. Blocks.
    public func run(marking: TraceMarking, seconds: Double? = nil, report: (TraceNotice) -> Bool) throws -> TraceSummary {
        let clock = MonotonicClock()
        let deadline = seconds.map { clock.now + $0 }
        try firewall.backend.run(TraceTable.text(name: traceTable, marking: marking), check: false)
        defer { _ = try? firewall.deleteTraceTable(traceTable) }
        if !report(.started) { return TraceSummary(marked: markedCount(), reported: 0, lost: 0, overflows: 0) }
        var reader = Reader(tracer: self, clock: clock)
        var summary = TraceSummary(marked: nil, reported: 0, lost: 0, overflows: 0)
        var lastTick = clock.now
        var lostReported = 0
        var generation = firewall.backend.generation()
        loop: while !stopped.load(ordering: .sequentiallyConsistent) {
            var timeout = 50.0
            if let deadline { timeout = min(timeout, max(0, (deadline - clock.now) * 1000)) }
            var descriptors = [pollfd(fd: socketDescriptor, events: Int16(POLLIN), revents: 0),
                               pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&descriptors, 2, Int32(timeout.rounded(.up)))
            if ready < 0 && errno != EINTR { throw TraceError.socket(doing: "wait", errno: errno) }
            if descriptors[1].revents != 0 { stopped.store(true, ordering: .sequentiallyConsistent) }
            var completed = descriptors[0].revents != 0 ? try reader.drain(&summary) : []
            completed += reader.expire()
            for packet in reader.inOrder(completed) {
                summary.reported += 1
                if !report(.packet(packet)) { break loop }
            }
            if let deadline, clock.now >= deadline { break }
            if clock.now - lastTick >= 1 {
                lastTick = clock.now
                if !report(.tick) { break }
                // Someone may have removed the table (disable, a flush): then nothing is traced.
                let now = firewall.backend.generation()
                if now != generation {
                    generation = now
                    if (try? firewall.backend.tableFlags(traceTable)) == .some(nil) { throw TraceError.tableRemoved(traceTable) }
                }
                if summary.overflows > 0, let marked = markedCount() {
                    let lost = max(0, marked - reader.started - reader.pendingMarked)
                    if lost > lostReported {
                        lostReported = lost
                        if !report(.eventsLost(lost)) { break }
                    }
                }
            }
        }
        // What the kernel sent before the end is still reported, unless the caller had enough.
        if stopped.load(ordering: .sequentiallyConsistent) || deadline.map({ clock.now >= $0 }) == true {
            var packets = (try? reader.drain(&summary)) ?? []
            packets += reader.finishAll()
            for packet in reader.inOrder(packets, all: true) {
                summary.reported += 1
                if !report(.packet(packet)) { break }
            }
        }
        summary.marked = markedCount()
        if summary.overflows > 0, let marked = summary.marked {
            summary.lost = max(0, marked - reader.started - reader.pendingMarked)
        }
        return summary
    }

    /// The trace table's counter: how many packets it marked.
    func markedCount() -> Int? {
        guard let json = try? firewall.backend.listJSON("list counter inet \(traceTable) \(TraceTable.markCounter)") else { return nil }
        return LiveTable.counterValues(json: json, table: traceTable)[TraceTable.markCounter]?.packets
    }

    /// The reading side of a run: the socket, the grouping, the rule names.
    private struct Reader {
        let tracer: PacketTracer
        let clock: MonotonicClock
        var assembler: TraceAssembler
        var ruleset = TraceRuleset()
        var listedGeneration: UInt32?
        var listedAt = -Double.infinity
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var interfaces: [UInt32: String] = [:]
        /// Packets that began at the marking rule, reported or not.
        var started = 0
        /// The time of each packet's first event, for its wall-clock time.
        let wallOffset: Double

        init(tracer: PacketTracer, clock: MonotonicClock) {
            self.tracer = tracer
            self.clock = clock
            assembler = TraceAssembler(traceTable: tracer.traceTable)
            wallOffset = Date().timeIntervalSince1970 - clock.now
        }

        var pendingMarked: Int { assembler.pendingMarked }

        /// Reads every message waiting on the socket; returns the packets they completed.
        mutating func drain(_ summary: inout TraceSummary) throws -> [TracedPacket] {
            var finished: [PacketTrace] = []
            while true {
                let received = buffer.withUnsafeMutableBytes { recv(tracer.socketDescriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if received < 0 {
                    let code = errno
                    if code == EAGAIN || code == EWOULDBLOCK { break }
                    if code == EINTR { continue }
                    // The queue overflowed: events are lost (counted through the table's counter).
                    if code == ENOBUFS { summary.overflows += 1; continue }
                    throw TraceError.socket(doing: "read", errno: code)
                }
                if received == 0 { break }
                let now = clock.now
                let events = try TraceEvent.decode(Array(buffer[0..<received]))
                for event in events {
                    for trace in assembler.add(event, at: now) { finished.append(trace) }
                }
                if finished.count >= 256 { break }
            }
            return finished.map { resolve($0) }
        }

        mutating func expire() -> [TracedPacket] {
            assembler.expire(now: clock.now, idle: tracer.idle).map { resolve($0) }
        }

        mutating func finishAll() -> [TracedPacket] {
            assembler.finishAll().map { resolve($0) }
        }

        /// Completed packets held back until every packet that began before them is complete
        /// too (a dropped packet completes at once, an accepted one only when no event came for a
        /// while): reported in the order they arrived.
        var held: [(start: Double, packet: TracedPacket)] = []

        mutating func inOrder(_ completed: [TracedPacket], all: Bool = false) -> [TracedPacket] {
            held += completed.map { ($0.seenAt.map { $0.timeIntervalSince1970 - wallOffset } ?? 0, $0) }
            held.sort { $0.start < $1.start }
            guard !all, let oldest = assembler.oldestPending else {
                defer { held.removeAll() }
                return held.map(\.packet)
            }
            let count = held.prefix { $0.start <= oldest }.count
            defer { held.removeFirst(count) }
            return held.prefix(count).map(\.packet)
        }

        /// Names the trace's rules, listing the ruleset again when it names a rule the last
        /// listing did not hold and the ruleset changed since (or a second passed, when the
        /// generation cannot be read).
        mutating func resolve(_ trace: PacketTrace) -> TracedPacket {
            if trace.markedHere { started += 1 }
            if !ruleset.knowsEvery(trace.events) {
                let generation = tracer.firewall.backend.generation()
                if generation == nil ? clock.now - listedAt >= 1 : generation != listedGeneration,
                   let listing = try? tracer.firewall.backend.listRulesetWithHandles() {
                    ruleset = TraceRuleset(listing: listing)
                    listedGeneration = generation
                    listedAt = clock.now
                }
            }
            var packet = TracedPacket(trace, ruleset: ruleset, portctlTable: tracer.portctlTable, traceTable: tracer.traceTable)
            packet.seenAt = Date(timeIntervalSince1970: wallOffset + trace.firstSeen)
            if let index = packet.inInterface {
                if interfaces[index] == nil {
                    var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
                    interfaces[index] = if_indextoname(index, &name) != nil
                        ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "#\(index)"
                }
                packet.inInterfaceName = interfaces[index]
            }
            return packet
        }
    }
}

/// Seconds on the monotonic clock.
struct MonotonicClock: Sendable {
    var now: Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
