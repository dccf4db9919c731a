internal import CNftables
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

    /// Classifies libnftables' error text.
    public init(detail: String) {
        self.detail = detail
        if detail.contains("Operation not permitted") || detail.contains("Permission denied") {
            kind = .permissionDenied
        } else if detail.contains("No such file or directory") {
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
    /// Runs a read-only command (`list ...`) and returns its JSON output.
    func listJSON(_ command: String) throws(NftablesError) -> String
    /// The same without set elements (nft's `--terse`): with 100,000 interval elements, a
    /// listing takes milliseconds this way and a second or more otherwise.
    func listTerseJSON(_ command: String) throws(NftablesError) -> String
    /// The ruleset generation of this network namespace: it changes with every committed
    /// nftables transaction, anyone's. Nil when it cannot be read.
    func generation() -> UInt32?
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

    /// Lists as JSON without set elements (see ``NftablesBackend/listTerseJSON(_:)``).
    public func listTerseJSON(_ command: String) throws(NftablesError) -> String {
        try call(command, json: true, terse: true, dryRun: false)
    }

    private func call(_ commands: String, json: Bool, terse: Bool = false, dryRun: Bool) throws(NftablesError) -> String {
        let result: Result<String, NftablesError> = context.withLock { slot in
            if slot == nil { slot = Context() }
            guard let ctx = slot?.pointer else {
                return .failure(NftablesError(detail: "Error: could not create a libnftables context"))
            }
            nft_ctx_output_set_flags(ctx, (json ? UInt32(NFT_CTX_OUTPUT_JSON) : 0) | (terse ? UInt32(NFT_CTX_OUTPUT_TERSE) : 0))
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
        guard send(fd, request, request.count, 0) == request.count else { return nil }
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
