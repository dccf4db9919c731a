internal import CNftables
import Synchronization

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

    private func call(_ commands: String, json: Bool, dryRun: Bool) throws(NftablesError) -> String {
        let result: Result<String, NftablesError> = context.withLock { slot in
            if slot == nil { slot = Context() }
            guard let ctx = slot?.pointer else {
                return .failure(NftablesError(detail: "Error: could not create a libnftables context"))
            }
            nft_ctx_output_set_flags(ctx, json ? UInt32(NFT_CTX_OUTPUT_JSON) : 0)
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
