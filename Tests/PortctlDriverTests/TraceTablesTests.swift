import Foundation
import PortPolicy
import PortctlDriver
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A kernel that holds tables by name only (each with two chains): enough for the trace tables'
/// clean-up.
final class TablesOnlyKernel: NftablesBackend {
    let tables: Mutex<[String]>
    let sent = Mutex<[String]>([])

    init(_ tables: [String]) { self.tables = Mutex(tables) }

    func run(_ commands: String, check: Bool) throws(NftablesError) {
        sent.withLock { $0.append(commands) }
        let words = commands.split(separator: " ")
        guard words.count == 4, words[0] == "delete", words[1] == "table" else { return }
        let line = "table \(words[2]) \(words[3])"
        let removed = tables.withLock { tables -> Bool in
            guard let index = tables.firstIndex(of: line) else { return false }
            tables.remove(at: index)
            return true
        }
        if !removed { throw NftablesError(detail: "Error: No such file or directory") }
    }

    /// `list chains`: two chains in each table.
    func listJSON(_ command: String) throws(NftablesError) -> String {
        guard command == "list chains" else { throw NftablesError(detail: "Error: not here") }
        let chains = tables.withLock { $0 }.flatMap { line -> [String] in
            let words = line.split(separator: " ")
            return ["prerouting", "input"].map { #"{"chain": {"family": "\#(words[1])", "table": "\#(words[2])", "name": "\#($0)", "handle": 1}}"# }
        }
        return #"{"nftables": [{"metainfo": {"json_schema_version": 1}}"# + chains.map { ", " + $0 }.joined() + "]}"
    }
    func listTerseJSON(_ command: String) throws(NftablesError) -> String { throw NftablesError(detail: "Error: not here") }
    func listText(_ command: String) throws(NftablesError) -> String { throw NftablesError(detail: "Error: not here") }
    func generation() -> UInt32? { nil }
    func tableFlags(_ table: String) throws(NftablesError) -> UInt32? { nil }
    func namespaceCookie() -> UInt64? { nil }
}

/// A trace's table outlives a killed trace; the next command removes it, and only it.
@Suite struct TraceTablesTests {
    static let me = TraceOwner.current
    static var mine: String { TraceTable.name(pid: me.pid, startTime: me.startTime) }

    static func kernel() -> TablesOnlyKernel {
        TablesOnlyKernel(["table inet portctl", "table inet portctl-trace-1-2", "table inet \(mine)", "table ip portctl-trace-3-4",
                          "table inet portctl-trace-x", "table inet other"])
    }

    @Test func onlyTheTablesOfProcessesThatAreGoneAreRemoved() throws {
        let kernel = Self.kernel()
        let removed = Firewall(backend: kernel).removeAbandonedTraceTables { $0.pid != 1 }
        #expect(removed == ["portctl-trace-1-2"])
        #expect(kernel.sent.withLock { $0 } == ["delete table inet portctl-trace-1-2"])
        #expect(kernel.tables.withLock { $0 }.count == 5)
    }

    @Test func thisProcessIsAliveAndAnotherStartTimeIsNot() {
        #expect(Self.me.isAlive)
        #expect(Self.me.startTime > 0)
        #expect(!TraceOwner(pid: Self.me.pid, startTime: Self.me.startTime + 1).isAlive, "a reused process id is another process")
        // A pid beyond the kernel's limit never runs.
        #expect(!TraceOwner(pid: 4_194_305, startTime: 1).isAlive)
    }

    /// A trace killed but not reaped by its parent (a zombie) is dead: its table goes.
    @Test func aZombieOwnerIsDead() throws {
        let child = fork()
        if child == 0 { _exit(0) }
        defer { var status: Int32 = 0; waitpid(child, &status, 0) }
        // Bounded wait for the child to exit (it stays a zombie until reaped below).
        func state() -> String? {
            guard let text = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else { return nil }
            return text[text.index(after: close)...].split(separator: " ").first.map(String.init)
        }
        for _ in 0..<200 where state() != "Z" { usleep(10_000) }
        #expect(state() == "Z")
        #expect(!TraceOwner(pid: child, startTime: 0).isAlive)
    }

    @Test func disableRemovesEveryTraceTableButTouchesNoOther() throws {
        let kernel = Self.kernel()
        let removed = try Firewall(backend: kernel).removeTraceTables()
        #expect(Set(removed) == ["portctl-trace-1-2", Self.mine])
        #expect(kernel.tables.withLock { $0 } == ["table inet portctl", "table ip portctl-trace-3-4", "table inet portctl-trace-x", "table inet other"])
    }

    @Test func everyChangeCleansUpFirstButADryRunChangesNothing() throws {
        let scratch = try Scratch()
        let kernel = Self.kernel()
        let control = ChangeControl(paths: scratch.paths, firewall: Firewall(backend: kernel), privileged: true)
        try control.withLock(privileged: "testing", dryRun: true) {}
        #expect(kernel.sent.withLock { $0 }.isEmpty)
        try control.withLock(privileged: "testing") {}
        #expect(kernel.sent.withLock { $0 } == ["delete table inet portctl-trace-1-2"])
        // Without the privilege nothing is even listed.
        let blind = TablesOnlyKernel(["table inet portctl-trace-1-2"])
        #expect(ChangeControl(paths: scratch.paths, firewall: Firewall(backend: blind), privileged: false).removeAbandonedTraces().isEmpty)
        #expect(blind.tables.withLock { $0 }.count == 1)
    }
}
