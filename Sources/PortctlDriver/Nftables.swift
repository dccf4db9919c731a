internal import CNftables
public import PortPolicy
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A failure reported by libnftables, classified from its message text.
public struct NftablesError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure it was.
    public enum Kind: Sendable {
        /// The process lacks CAP_NET_ADMIN in this network namespace.
        case permissionDenied
        /// Something named does not exist (a table, a chain, a set).
        case notFound
        /// Anything else: syntax, conflicting elements, kernel refusal.
        case other
    }

    /// The classification.
    public let kind: Kind
    /// libnftables' whole error text, caret lines included (for `--verbose`).
    public let detail: String

    /// Classifies libnftables' error text by its first `Error:` line (the rest quotes the
    /// command, which may hold any words); without one, by the whole text.
    public init(detail: String) {
        self.detail = detail
        let lines = detail.split(whereSeparator: \.isNewline)
        let first = lines.first { $0.hasPrefix("Error:") }.map(String.init) ?? detail
        if first.contains("Operation not permitted") || first.contains("Permission denied") {
            kind = .permissionDenied
        } else if first.contains("No such file or directory") || first.contains("does not exist") {
            kind = .notFound
        } else {
            kind = .other
        }
    }

    /// One line: the first `Error:` line of libnftables' text, or its first line.
    public var description: String {
        if kind == .permissionDenied {
            return "nftables refused: this needs root or CAP_NET_ADMIN in this network namespace"
        }
        let lines = detail.split(whereSeparator: \.isNewline).map(String.init)
        let first = lines.first { $0.hasPrefix("Error:") } ?? lines.first ?? "unknown libnftables failure"
        return "nftables refused the change: " + first
    }
}

/// The one door to the kernel's nftables state. The real one is ``Nftables``; tests may pass
/// a fake with the same all-or-nothing contract.
public protocol NftablesBackend: Sendable {
    /// Runs commands as one batch: all of them take effect or none do. With `check`, the kernel
    /// validates the batch and nothing is committed.
    func run(_ commands: String, check: Bool) throws(NftablesError)
    /// Sends a typed batch, with the same contract (by default, as its nft text).
    func send(_ batch: Batch, check: Bool) throws(NftablesError)
    /// Table `inet NAME` as a value with its flags, or nil when there is none (by default, read
    /// from a JSON listing; a table with flags is listed piece by piece, see
    /// ``Firewall/listing(table:terse:)``).
    func readTable(_ name: String) throws -> Table?
    /// Runs a read-only command (`list ...`) and returns its JSON output.
    func listJSON(_ command: String) throws(NftablesError) -> String
    /// The same without set elements (nft's `--terse`): with 100,000 interval elements, a
    /// listing takes milliseconds this way and a second or more otherwise.
    func listTerseJSON(_ command: String) throws(NftablesError) -> String
    /// Runs a read-only command (`list ...`) and returns nft's text output, without set
    /// elements. (The text listing shows what JSON cannot: iptables-nft's DNAT targets.)
    func listText(_ command: String) throws(NftablesError) -> String
    /// The whole ruleset as nft's text with each object's handle, without set elements and
    /// counter values (`nft -a -s -t list ruleset`): a trace names a rule only by its handle. (By
    /// default the text listing, which names no handle.)
    func listRulesetWithHandles() throws(NftablesError) -> String
    /// The ruleset generation of this network namespace: it changes with every committed
    /// nftables transaction, anyone's. Nil when it cannot be read.
    func generation() -> UInt32?
    /// The flags of table `inet NAME` as the kernel holds them, or nil when there is no such
    /// table. (nft 1.0.6 cannot print table flags in JSON: it prints garbage, or cuts the
    /// listing short.)
    func tableFlags(_ table: String) throws(NftablesError) -> UInt32?
    /// A number that names this network namespace and is never reused while the machine runs
    /// (`SO_NETNS_COOKIE`, Linux 5.14 and later), or nil when the kernel cannot say.
    func namespaceCookie() -> UInt64?
}

extension NftablesBackend {
    /// Sends the batch's nft text.
    public func send(_ batch: Batch, check: Bool) throws(NftablesError) {
        try run(batch.text, check: check)
    }

    /// The text listing without handles: a trace's rules stay unnamed.
    public func listRulesetWithHandles() throws(NftablesError) -> String {
        try listText("list ruleset")
    }

    /// Reads the table from a listing.
    public func readTable(_ name: String) throws -> Table? {
        guard let listing = try Firewall(backend: self).listing(table: name) else { return nil }
        guard var table = try LiveTable.read(json: listing.json, table: name) else { return nil }
        table.flags = listing.flags
        return table
    }
}

/// libnftables, through one context per process. Every call holds one process-wide lock (the
/// library keeps global state) and copies its output and error buffers out before releasing it.
public final class Nftables: NftablesBackend {
    /// The process's one instance.
    public static let shared = Nftables()

    private let context = Mutex<Context?>(nil)

    private init() {}

    /// Runs commands as one batch (see ``NftablesBackend/run(_:check:)``).
    public func run(_ commands: String, check: Bool = false) throws(NftablesError) {
        _ = try call(commands, json: false, dryRun: check)
    }

    /// Lists as JSON, in a call of its own (mixing writes and JSON listing crashes 1.0.6).
    public func listJSON(_ command: String) throws(NftablesError) -> String {
        try call(command, json: true, dryRun: false)
    }

    /// Lists as terse text (see ``NftablesBackend/listText(_:)``).
    public func listText(_ command: String) throws(NftablesError) -> String {
        try call(command, json: false, terse: true, dryRun: false)
    }

    /// Lists as JSON without set elements (see ``NftablesBackend/listTerseJSON(_:)``).
    public func listTerseJSON(_ command: String) throws(NftablesError) -> String {
        try call(command, json: true, terse: true, dryRun: false)
    }

    /// Lists the ruleset with handles (see ``NftablesBackend/listRulesetWithHandles()``).
    public func listRulesetWithHandles() throws(NftablesError) -> String {
        try call("list ruleset", json: false, terse: true, dryRun: false,
                 extraFlags: UInt32(NFT_CTX_OUTPUT_HANDLE) | UInt32(NFT_CTX_OUTPUT_STATELESS))
    }

    private func call(_ commands: String, json: Bool, terse: Bool = false, dryRun: Bool, extraFlags: UInt32 = 0) throws(NftablesError) -> String {
        let result: Result<String, NftablesError> = context.withLock { slot in
            if slot == nil { slot = Context() }
            guard let ctx = slot?.pointer else {
                return .failure(NftablesError(detail: "Error: could not create a libnftables context"))
            }
            nft_ctx_output_set_flags(ctx, (json ? UInt32(NFT_CTX_OUTPUT_JSON) : 0) | (terse ? UInt32(NFT_CTX_OUTPUT_TERSE) : 0) | extraFlags)
            nft_ctx_set_dry_run(ctx, dryRun)
            let code = nft_run_cmd_from_buffer(ctx, commands)
            let output = nft_ctx_get_output_buffer(ctx).map { String(cString: $0) } ?? ""
            let error = nft_ctx_get_error_buffer(ctx).map { String(cString: $0) } ?? ""
            nft_ctx_set_dry_run(ctx, false)
            return code == 0 ? .success(output) : .failure(NftablesError(detail: error))
        }
        return try result.get()
    }
}

extension Nftables {
    /// Asks the kernel for table `inet NAME` (NFT_MSG_GETTABLE) and returns its flags.
    public func tableFlags(_ table: String) throws(NftablesError) -> UInt32? {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 12 /* NETLINK_NETFILTER */)
        guard fd >= 0 else { throw NftablesError(detail: "Error: cannot open a netlink socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Netlink.message(type: Netlink.nftables(1 /* NFT_MSG_GETTABLE */), flags: Netlink.request, sequence: 1,
                                      family: Netlink.inet, attributes: [(1 /* NFTA_TABLE_NAME */, Netlink.string(table))])
        guard Glibc.send(fd, request, request.count, 0) == request.count else {
            throw NftablesError(detail: "Error: cannot ask netlink for table inet \(table): \(String(cString: strerror(errno)))")
        }
        var reply = [UInt8](repeating: 0, count: 4096)
        let received = recv(fd, &reply, reply.count, 0)
        guard received >= 20 else {
            throw NftablesError(detail: "Error: no answer from netlink for table inet \(table): \(String(cString: strerror(errno)))")
        }
        var answer: Result<UInt32?, NftablesError>?
        Netlink.forEachMessage(reply, count: received) { type, start, end in
            guard answer == nil else { return }
            switch type {
            case Netlink.error:
                let code = -Int32(bitPattern: reply.host32(at: start))
                if code == ENOENT { answer = .success(nil); return }
                let text = String(cString: strerror(code))
                answer = .failure(NftablesError(detail: "Error: cannot read table inet \(table): \(text)\(code == EPERM ? " (Operation not permitted)" : "")"))
            case Netlink.nftables(0 /* NFT_MSG_NEWTABLE */):
                var flags: UInt32 = 0
                Netlink.forEachAttribute(reply, from: start + 4, to: end) { attribute, from, to in
                    if attribute == 2 /* NFTA_TABLE_FLAGS */, to - from >= 4 { flags = reply.bigEndian32(at: from) }
                }
                answer = .success(flags)
            default:
                answer = .failure(NftablesError(detail: "Error: unexpected netlink answer \(type) for table inet \(table)"))
            }
        }
        guard let answer else { throw NftablesError(detail: "Error: a malformed netlink answer for table inet \(table)") }
        return try answer.get()
    }

    /// Reads `SO_NETNS_COOKIE` (71) from a socket made in this network namespace.
    public func namespaceCookie() -> UInt64? {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var cookie: UInt64 = 0
        var length = socklen_t(MemoryLayout<UInt64>.size)
        guard getsockopt(fd, SOL_SOCKET, 71, &cookie, &length) == 0, length == 8 else { return nil }
        return cookie
    }

    /// Asks the kernel for the ruleset generation (NFT_MSG_GETGEN over a netfilter netlink
    /// socket): microseconds, where listing a table with 100,000 set elements takes a second.
    public func generation() -> UInt32? {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 12 /* NETLINK_NETFILTER */)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Netlink.message(type: Netlink.nftables(16 /* NFT_MSG_GETGEN */), flags: Netlink.request, sequence: 1,
                                      family: 0, attributes: [])
        guard Glibc.send(fd, request, request.count, 0) == request.count else { return nil }
        var reply = [UInt8](repeating: 0, count: 256)
        let received = recv(fd, &reply, reply.count, 0)
        guard received >= 28 else { return nil }
        var generation: UInt32?
        Netlink.forEachMessage(reply, count: received) { type, start, end in
            // The kernel answers with NFT_MSG_NEWGEN.
            guard type == Netlink.nftables(15) else { return }
            Netlink.forEachAttribute(reply, from: start + 4, to: end) { attribute, from, to in
                if attribute == 1 /* NFTA_GEN_ID */, to - from >= 4 { generation = reply.bigEndian32(at: from) }
            }
        }
        return generation
    }
}

/// Owns one `struct nft_ctx` and frees it exactly once.
private final class Context {
    let pointer: OpaquePointer?

    init() {
        pointer = nft_ctx_new(UInt32(NFT_CTX_DEFAULT))
        if let pointer {
            _ = nft_ctx_buffer_output(pointer)
            _ = nft_ctx_buffer_error(pointer)
        }
    }

    deinit {
        if let pointer { nft_ctx_free(pointer) }
    }
}
