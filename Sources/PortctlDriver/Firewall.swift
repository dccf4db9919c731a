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

    /// Reads portctl's table from the kernel (JSON listing, a call of its own), or nil when the
    /// table does not exist.
    public func live(table: String) throws -> Table? {
        let listing: Result<String, NftablesError> = Result { () throws(NftablesError) in
            try backend.listJSON("list table inet \(table)")
        }
        switch listing {
        case let .success(json):
            return try LiveTable.read(json: json, table: table)
        case let .failure(error) where error.kind == .notFound:
            return nil
        case let .failure(error):
            throw error
        }
    }

    /// Sends a plan's batch (nothing at all when the plan is empty): one atomic transaction.
    public func apply(_ plan: Plan) throws(NftablesError) {
        if plan.script.isEmpty { return }
        try backend.run(plan.script, check: false)
    }

    /// Sends a reviewed script exactly as it was saved: one atomic transaction.
    public func run(script: String) throws(NftablesError) {
        if script.isEmpty { return }
        try backend.run(script, check: false)
    }

    /// Has the kernel validate a full replacement of portctl's table by the policy's, committing
    /// nothing.
    public func check(_ policy: PortPolicy) throws(NftablesError) {
        try backend.run(Renderer.replaceBatch(policy), check: true)
    }

    /// Removes portctl's table; succeeds when there is none.
    public func remove(table: String) throws(NftablesError) {
        try backend.run(Renderer.deleteBatch(table: table), check: false)
    }

    /// Whether the kernel has the table now.
    public func tableExists(_ table: String) throws -> Bool {
        try live(table: table) != nil
    }
}
