import Foundation
import PortPolicy
#if canImport(Glibc)
import Glibc
#endif

/// The process that owns a trace table, as its name gives it (`TraceTable.name(pid:startTime:)`).
public struct TraceOwner: Sendable, Hashable {
    /// The process id.
    public var pid: Int32
    /// Its start time in clock ticks after boot (field 22 of `/proc/PID/stat`); 0 when unknown.
    public var startTime: UInt64

    /// Makes an owner from its parts.
    public init(pid: Int32, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
    }

    /// This process.
    public static var current: TraceOwner {
        let pid = getpid()
        return TraceOwner(pid: pid, startTime: startTime(of: pid) ?? 0)
    }

    /// Whether the owner still runs: its `/proc/PID/stat` exists with the same start time (a
    /// reused process id is another process). Without `/proc`, whether a process with that id
    /// exists. A process in another PID namespace that shares this network namespace looks dead.
    public var isAlive: Bool {
        // A zombie (killed, not yet reaped by its parent) marks nothing any more.
        if Self.state(of: pid) == "Z" { return false }
        if let start = Self.startTime(of: pid) { return startTime == 0 || start == startTime }
        if FileManager.default.fileExists(atPath: "/proc/self/stat") { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// Field 3 of `/proc/PID/stat`, the process state (`R`, `S`, `Z`, ...), or nil.
    static func state(of pid: Int32) -> Character? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ").first?.first
    }

    /// Field 22 of `/proc/PID/stat` (after the command name, which may hold spaces and parentheses).
    static func startTime(of pid: Int32) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // Fields after the name start at field 3 (state); field 22 is the 20th of them.
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }
}

extension Firewall {
    /// The trace tables in the kernel (`inet portctl-trace-PID-START`), with their owners.
    /// Needs CAP_NET_ADMIN.
    /// Read from `list chains` (every trace table has a chain): nft 1.0.6 fetches every set
    /// element of every table for `list tables` (most of a second with a full drop record), and
    /// prints a dormant table's flags in JSON as garbage.
    public func traceTables() throws -> [(table: String, owner: TraceOwner)] {
        var seen = Set<String>()
        return LiveTable.objects(try backend.listJSON("list chains"), kind: "chain").compactMap { chain in
            guard chain["family"] as? String == "inet", let name = chain["table"] as? String,
                  let owner = TraceTable.owner(of: name), seen.insert(name).inserted else { return nil }
            return (name, TraceOwner(pid: owner.pid, startTime: owner.startTime))
        }
    }

    /// Removes the trace tables whose owner no longer runs (a `trace` or `watch` that was killed
    /// before it could remove its table), and returns their names. Best effort: a failure to list
    /// or delete leaves the table for the next command, and is not an error. Needs CAP_NET_ADMIN.
    @discardableResult
    public func removeAbandonedTraceTables(isAlive: (TraceOwner) -> Bool = { $0.isAlive }) -> [String] {
        guard let tables = try? traceTables() else { return [] }
        var removed: [String] = []
        for entry in tables where !isAlive(entry.owner) {
            if (try? deleteTraceTable(entry.table)) == true { removed.append(entry.table) }
        }
        return removed
    }

    /// Removes every trace table, running traces' too (`disable`: portctl leaves nothing in the
    /// kernel), and returns their names. Needs CAP_NET_ADMIN.
    @discardableResult
    public func removeTraceTables() throws -> [String] {
        var removed: [String] = []
        for entry in try traceTables() where try deleteTraceTable(entry.table) {
            removed.append(entry.table)
        }
        return removed
    }

    /// Deletes trace table `inet NAME` in one batch; false when it was already gone.
    func deleteTraceTable(_ name: String) throws -> Bool {
        guard TraceTable.owner(of: name) != nil else { return false }
        do {
            try backend.run("delete table inet \(name)", check: false)
        } catch {
            if error.kind == .notFound { return false }
            throw error
        }
        return true
    }
}

extension ChangeControl {
    /// Removes the trace tables of `trace` and `watch` processes that no longer run (see
    /// ``Firewall/removeAbandonedTraceTables(isAlive:)``); nothing without the privilege. Every
    /// change, `plan` and `status` call it.
    @discardableResult
    public func removeAbandonedTraces() -> [String] {
        privileged ? firewall.removeAbandonedTraceTables() : []
    }
}
