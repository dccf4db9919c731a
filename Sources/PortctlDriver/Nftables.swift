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
        // nlmsghdr + nfgenmsg (family NFPROTO_INET = 1) + NFTA_TABLE_NAME (1), NUL-terminated.
        let name = Array(table.utf8) + [0]
        let attributeLength = 4 + name.count
        let length = 20 + (attributeLength + 3) & ~3
        var request = [UInt8](repeating: 0, count: length)
        func put32(_ value: UInt32, at offset: Int) { withUnsafeBytes(of: value.littleEndian) { for i in 0..<4 { request[offset + i] = $0[i] } } }
        func put16(_ value: UInt16, at offset: Int) { withUnsafeBytes(of: value.littleEndian) { for i in 0..<2 { request[offset + i] = $0[i] } } }
        put32(UInt32(length), at: 0)
        put16(10 << 8 | 1 /* NFT_MSG_GETTABLE */, at: 4)
        put16(1 /* NLM_F_REQUEST */, at: 6)
        put32(1, at: 8)
        request[16] = 1
        put16(UInt16(attributeLength), at: 20)
        put16(1, at: 22)
        for (index, byte) in name.enumerated() { request[24 + index] = byte }
        guard Glibc.send(fd, request, request.count, 0) == request.count else {
            throw NftablesError(detail: "Error: cannot ask netlink for table inet \(table): \(String(cString: strerror(errno)))")
        }
        var reply = [UInt8](repeating: 0, count: 4096)
        let received = recv(fd, &reply, reply.count, 0)
        guard received >= 20 else {
            throw NftablesError(detail: "Error: no answer from netlink for table inet \(table): \(String(cString: strerror(errno)))")
        }
        func get32(_ offset: Int) -> UInt32 { UInt32(reply[offset]) | UInt32(reply[offset + 1]) << 8 | UInt32(reply[offset + 2]) << 16 | UInt32(reply[offset + 3]) << 24 }
        let type = UInt16(reply[4]) | UInt16(reply[5]) << 8
        if type == 2 /* NLMSG_ERROR */ {
            let code = -Int32(bitPattern: get32(16))
            if code == ENOENT { return nil }
            let text = String(cString: strerror(code))
            throw NftablesError(detail: "Error: cannot read table inet \(table): \(text)\(code == EPERM ? " (Operation not permitted)" : "")")
        }
        guard type == 10 << 8 | 0 /* NFT_MSG_NEWTABLE */ else {
            throw NftablesError(detail: "Error: unexpected netlink answer \(type) for table inet \(table)")
        }
        var offset = 20
        while offset + 4 <= received {
            let attributeSize = Int(UInt16(reply[offset]) | UInt16(reply[offset + 1]) << 8)
            let attribute = UInt16(reply[offset + 2]) | UInt16(reply[offset + 3]) << 8
            if attribute & 0x3fff == 2 /* NFTA_TABLE_FLAGS, big-endian */ && attributeSize >= 8 {
                return UInt32(reply[offset + 4]) << 24 | UInt32(reply[offset + 5]) << 16 | UInt32(reply[offset + 6]) << 8 | UInt32(reply[offset + 7])
            }
            guard attributeSize >= 4 else { break }
            offset += (attributeSize + 3) & ~3
        }
        return 0
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
        // nlmsghdr (16 bytes) + nfgenmsg (4 bytes): type NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETGEN.
        var request = [UInt8](repeating: 0, count: 20)
        func put32(_ value: UInt32, at offset: Int) { withUnsafeBytes(of: value.littleEndian) { for i in 0..<4 { request[offset + i] = $0[i] } } }
        func put16(_ value: UInt16, at offset: Int) { withUnsafeBytes(of: value.littleEndian) { for i in 0..<2 { request[offset + i] = $0[i] } } }
        put32(20, at: 0)
        put16(10 << 8 | 16, at: 4)
        put16(1 /* NLM_F_REQUEST */, at: 6)
        put32(1, at: 8)
        guard Glibc.send(fd, request, request.count, 0) == request.count else { return nil }
        var reply = [UInt8](repeating: 0, count: 256)
        let received = recv(fd, &reply, reply.count, 0)
        guard received >= 28 else { return nil }
        let type = UInt16(reply[4]) | UInt16(reply[5]) << 8
        // The kernel answers with NFT_MSG_NEWGEN (15).
        guard type == 10 << 8 | 15 else { return nil }
        // Attributes follow the 20-byte header: nlattr (len, type) then the value; NFTA_GEN_ID = 1.
        var offset = 20
        while offset + 8 <= received {
            let length = Int(UInt16(reply[offset]) | UInt16(reply[offset + 1]) << 8)
            let attribute = UInt16(reply[offset + 2]) | UInt16(reply[offset + 3]) << 8
            if attribute & 0x3fff == 1 && length >= 8 {
                return UInt32(reply[offset + 4]) << 24 | UInt32(reply[offset + 5]) << 16 | UInt32(reply[offset + 6]) << 8 | UInt32(reply[offset + 7])
            }
            guard length >= 4 else { return nil }
            offset += (length + 3) & ~3
        }
        return nil
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
