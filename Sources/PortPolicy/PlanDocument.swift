public import Foundation

/// A plan as JSON: the shape of `portctl plan --json` and of saved plan files (`plan -o`).
///
/// ```json
/// {
///   "format": "portctl-plan", "version": 1,
///   "table": "portctl", "inSync": false, "replacesTable": false,
///   "policyFile": "/etc/portctl/policy.yaml",
///   "policyDigest": "sha256:…", "liveDigest": "sha256:…",
///   "changes": [{"kind": "add-rule", "rule": "allow-tcp-26", "summary": "allow 26/tcp from 10.0.0.0/8"}],
///   "script": "flush chain inet portctl input\n…",
///   "policy": { … the policy, in the policy file's shape … }
/// }
/// ```
///
/// `kind` is one of `create-table`, `remove-table` (`before`: the old table's name), `add-rule`, `remove-rule`, `change-rule` (`before`, `after`),
/// `change-sources` (`added`, `removed`), `change-default` (`direction`: `in`, `out` or `published`; `from`, `to`) and
/// `drift` (`detail`). `liveDigest` is `none` when the table was missing.
public struct PlanDocument: Codable, Sendable, Hashable {
    /// Always `portctl-plan`.
    public var format = "portctl-plan"
    /// The document version (1).
    public var version = 1
    /// The table.
    public var table: String
    /// Whether the kernel already matched the policy.
    public var inSync: Bool
    /// Whether applying replaces the whole table (resetting counters).
    public var replacesTable: Bool
    /// The policy file the plan was made from.
    public var policyFile: String
    /// The fingerprint of the policy file's bytes when the plan was made.
    public var policyDigest: String
    /// The fingerprint of the live table (normalized; counters and handles excluded), or `none`.
    public var liveDigest: String
    /// The changes.
    public var changes: [Change]
    /// The exact batch apply sends.
    public var script: String
    /// The policy the plan applies.
    public var policy: PortPolicy
    /// When the plan was made, in seconds since 1970 (``Plan/plannedAt``).
    public var plannedAt: Double
    /// `sha256:…` over everything else in the document (table, flags, fingerprints, time,
    /// changes, script, policy): a plan edited by hand no longer matches it. (`apply FILE` also re-plans and compares the script.)
    public var digest: String

    /// One change, flattened for JSON.
    public struct Change: Codable, Sendable, Hashable {
        /// The kind (see the type's documentation).
        public var kind: String
        /// The rule id, for rule changes.
        public var rule: String?
        /// A one-line summary of the rule, for added and removed rules.
        public var summary: String?
        /// The rule or value before the change.
        public var before: String?
        /// The rule or value after the change.
        public var after: String?
        /// Addresses added, for `change-sources`.
        public var added: [String]?
        /// Addresses removed, for `change-sources`.
        public var removed: [String]?
        /// `in` or `out`, for `change-default`.
        public var direction: String?
        /// What drifted, for `drift`.
        public var detail: String?
    }

    /// Makes the document for a plan.
    public init(plan: Plan, policy: PortPolicy, policyFile: String, policyBytes: some Collection<UInt8>, live: Table?) {
        self.init(plan: plan, policy: policy, policyFile: policyFile, policyBytes: policyBytes, liveDigest: Self.digest(live))
    }

    /// Makes the document for a plan, given the live table's fingerprint (``Table/fingerprint``).
    public init(plan: Plan, policy: PortPolicy, policyFile: String, policyBytes: some Collection<UInt8>, liveDigest: String) {
        table = plan.table
        inSync = plan.isEmpty
        replacesTable = plan.replacesTable
        self.policyFile = policyFile
        policyDigest = Self.digest(policyBytes)
        self.liveDigest = liveDigest
        changes = plan.changes.map(Change.init)
        script = plan.script
        self.policy = policy
        plannedAt = plan.plannedAt.timeIntervalSince1970
        digest = ""
        digest = contentDigest
    }

    /// The digest the document's contents give now (see ``digest``).
    public var contentDigest: String {
        let changeText = (try? JSONText.line(changes)) ?? ""
        let parts = [format, String(version), table, String(inSync), String(replacesTable), policyFile, policyDigest, liveDigest,
                     String(plannedAt), changeText, script, PolicyFile.encode(policy)]
        return Self.digest(Array(parts.joined(separator: "\u{0}").utf8))
    }

    /// Whether ``digest`` matches the contents: the file was not edited after it was saved.
    public var isIntact: Bool { digest == contentDigest }

    /// `sha256:HEX` of some bytes.
    public static func digest(_ bytes: some Collection<UInt8>) -> String {
        "sha256:" + SHA256.hex(bytes)
    }

    /// The fingerprint of a live table (``Table/fingerprint``), or `none` when it is missing.
    public static func digest(_ live: Table?) -> String {
        live?.fingerprint ?? "none"
    }

    /// Reads a saved plan.
    public static func decode(_ data: Data) throws(PolicyError) -> PlanDocument {
        do {
            let document = try JSONDecoder().decode(PlanDocument.self, from: data)
            guard document.format == "portctl-plan", document.version == 1 else {
                throw PolicyError.invalidDocument("not a portctl plan (format \(quoted(document.format)), version \(document.version))")
            }
            return document
        } catch let error as PolicyError {
            throw error
        } catch let error as DecodingError {
            throw .invalidDocument("not a portctl plan: " + PolicyFile.describe(error))
        } catch {
            throw .invalidDocument("not a portctl plan: \(error)")
        }
    }

    /// Pretty, key-sorted JSON text.
    public func encoded() -> String {
        JSONText.pretty(self)
    }
}

extension PlanDocument.Change {
    /// Flattens a plan change for JSON.
    public init(_ change: PlanChange) {
        switch change {
        case .createTable:
            self.init(kind: "create-table")
        case let .removeTable(name):
            self.init(kind: "remove-table", before: name)
        case let .addRule(id, summary):
            self.init(kind: "add-rule", rule: id, summary: summary)
        case let .removeRule(id, summary):
            self.init(kind: "remove-rule", rule: id, summary: summary)
        case let .changeRule(id, before, after):
            self.init(kind: "change-rule", rule: id, before: before, after: after)
        case let .changeSources(id, added, removed):
            self.init(kind: "change-sources", rule: id, added: added.map(\.description), removed: removed.map(\.description))
        case let .changeDefault(direction, from, to):
            self.init(kind: "change-default", before: from, after: to, direction: direction.rawValue)
        case let .changePublished(from, to):
            self.init(kind: "change-default", before: from, after: to, direction: "published")
        case let .changeRouted(from, to):
            self.init(kind: "change-default", before: from, after: to, direction: "routed")
        case let .drift(detail):
            self.init(kind: "drift", detail: detail)
        }
    }
}
