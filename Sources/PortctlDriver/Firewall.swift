public import PortPolicy

/// portctl's table in the kernel: apply a policy, check it, remove it. Nothing outside the
/// table named by the policy is ever read to be modified, flushed or deleted.
public struct Firewall: Sendable {
    /// The door to the kernel.
    public let backend: any NftablesBackend

    /// Uses the real kernel through libnftables unless told otherwise.
    public init(backend: any NftablesBackend = Nftables.shared) {
        self.backend = backend
    }

    /// Replaces portctl's table with the policy's in one atomic batch.
    public func apply(_ policy: PortPolicy) throws(NftablesError) {
        try backend.run(Renderer.replaceBatch(policy), check: false)
    }

    /// Has the kernel validate the batch that ``apply(_:)`` would send, committing nothing.
    public func check(_ policy: PortPolicy) throws(NftablesError) {
        try backend.run(Renderer.replaceBatch(policy), check: true)
    }

    /// Removes portctl's table; succeeds when there is none.
    public func remove(table: String) throws(NftablesError) {
        try backend.run(Renderer.deleteBatch(table: table), check: false)
    }

    /// Whether the kernel has the table now.
    public func tableExists(_ table: String) throws(NftablesError) -> Bool {
        do {
            _ = try backend.listJSON("list table inet \(table)")
            return true
        } catch where error.kind == .notFound {
            return false
        }
    }
}
