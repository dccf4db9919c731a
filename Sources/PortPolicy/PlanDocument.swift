public import Foundation

/// A plan as JSON: the shape of `portctl plan --json` and of saved plan files (`plan -o`).
/// docs/change-control.md describes every field for other tools.
///
/// ```json
/// {
///   "format": "portctl-plan", "version": 2,
///   "table": "portctl", "inSync": false, "replacesTable": false,
///   "policyFile": "/etc/portctl/policy.yaml",
///   "policyDigest": "sha256:…", "liveDigest": "sha256:…",
///   "changes": [{"kind": "add-rule", "rule": "allow-tcp-26", "summary": "allow 26/tcp from 10.0.0.0/8"}],
///   "script": "flush chain inet portctl input\n…",
///   "policy": { … the policy, in the policy file's shape … },
///   "newPolicy": "… the proposal's exact text (plan --new only) …",
///   "addressFiles": {"/etc/portctl/relays.txt": "sha256:…"},
///   "plannedAt": 1796000000.5, "digest": "sha256:…"
/// }
/// ```
///
/// Version 1 documents (no `newPolicy`, no `addressFiles`) are still read and applied.
///
/// `kind` is one of `create-table`, `remove-table` (`before`: the old table's name), `add-rule`, `remove-rule`, `change-rule` (`before`, `after`),
/// `change-sources` (`added`, `removed`), `change-default` (`direction`: `in`, `out`, `published`, `routed` or `drops`; `from`, `to`) and
/// `drift` (`detail`). `liveDigest` is `none` when the table was missing.
public struct PlanDocument: Codable, Sendable, Hashable {
    /// Always `portctl-plan`.
    public var format = "portctl-plan"
    /// The document version: 2 (1 is still read).
    public var version = 2
    /// The table.
    public var table: String
    /// Whether the kernel already matched the policy.
    public var inSync: Bool
    /// Whether applying replaces the whole table (resetting counters).
    public var replacesTable: Bool
    /// The policy file the plan was made from (for a proposal: production's policy file, where
    /// the proposal is to be written).
    public var policyFile: String
    /// The fingerprint of the policy file's bytes when the plan was made (for a proposal,
    /// production's file as it stood), or `none` when there was no file.
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
    /// For a proposal (`portctl plan --new FILE`): the exact text that applying the plan writes
    /// over the policy file. nil for a plan of the policy file as it stands.
    public var newPolicy: String?
    /// Where the proposal was read from, for people.
    public var newPolicySource: String?
    /// The address files the planned policy reads: path to the digest of the addresses read
    /// (``addressDigest(_:)``). Applying refuses when a file now gives other addresses.
    public var addressFiles: [String: String]?
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
        addressFiles = Self.addressFiles(policy)
        digest = ""
        digest = contentDigest
    }

    /// Makes the document for a proposal: making `newPolicy` (the exact text, decoded as
    /// `policy`) the policy that `policyFile` holds now as `currentBytes` (nil: no file yet).
    public init(plan: Plan, proposal policy: PortPolicy, text newPolicy: String, source: String?, policyFile: String,
                currentBytes: [UInt8]?, liveDigest: String) {
        self.init(plan: plan, policy: policy, policyFile: policyFile, policyBytes: currentBytes ?? [], liveDigest: liveDigest)
        if currentBytes == nil { policyDigest = "none" }
        self.newPolicy = newPolicy
        newPolicySource = source
        digest = contentDigest
    }

    /// Whether applying the plan makes a proposal the policy (`plan --new`).
    public var isProposal: Bool { newPolicy != nil }

    /// The digest of the addresses an address file gave (one per line, as read).
    public static func addressDigest(_ networks: [IPNetwork]) -> String {
        digest(Array(networks.map(\.description).joined(separator: "\n").utf8))
    }

    /// The address files `policy` reads, with the digest of what each gave; nil when none.
    public static func addressFiles(_ policy: PortPolicy) -> [String: String]? {
        var files: [String: String] = [:]
        for rule in policy.rules {
            for file in rule.sourceFiles { if let networks = file.networks { files[file.path] = addressDigest(networks) } }
        }
        return files.isEmpty ? nil : files
    }

    /// The digest the document's contents give now (see ``digest``).
    public var contentDigest: String {
        let changeText = (try? JSONText.line(changes)) ?? ""
        var parts = [format, String(version), table, String(inSync), String(replacesTable), policyFile, policyDigest, liveDigest,
                     String(plannedAt), changeText, script, PolicyFile.encode(policy)]
        if version >= 2 {
            // Every field apply uses is covered: the proposal's bytes and the address files too.
            parts += [newPolicy.map { "new:" + $0 } ?? "none", newPolicySource ?? "",
                      (addressFiles ?? [:]).sorted { $0.key < $1.key }.map { $0.key + "=" + $0.value }.joined(separator: "\n")]
        }
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
        // Strict JSON first: a key given twice is read differently by different readers (the
        // reviewer's jq takes the last, Foundation the first), so a plan may hold each once.
        guard let text = String(data: data, encoding: .utf8) else {
            throw .invalidDocument("not a portctl plan: the file is not UTF-8 text")
        }
        do {
            _ = try DocumentValue.parseJSON(text)
        } catch {
            throw .invalidDocument("not a portctl plan: \(error)")
        }
        do {
            let document = try JSONDecoder().decode(PlanDocument.self, from: data)
            guard document.format == "portctl-plan", document.version == 1 || document.version == 2 else {
                throw PolicyError.invalidDocument("not a portctl plan (format \(quoted(document.format)), version \(document.version))")
            }
            // Version 1's digest does not cover these: a version 1 plan never carries them.
            if document.version == 1 && (document.newPolicy != nil || document.newPolicySource != nil || document.addressFiles != nil) {
                throw PolicyError.invalidDocument("not a portctl plan: a version 1 plan has no newPolicy, newPolicySource or addressFiles")
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
    /// The change in a few words, for a history line: `added allow-tcp-26: allow 26/tcp from
    /// 198.51.100.0/24`, `default routed: accept -> drop`.
    public var sentence: String {
        switch kind {
        case "create-table": "created the table"
        case "remove-table": "removed table inet \(before ?? "")"
        case "add-rule": "added \(rule ?? ""): \(summary ?? "")"
        case "remove-rule": "removed \(rule ?? "")"
        case "change-rule": "changed \(rule ?? ""): \(after ?? "")"
        case "change-sources":
            "\(rule ?? "") sources " + ((added ?? []).map { "+" + $0 } + (removed ?? []).map { "-" + $0 }).joined(separator: " ")
        case "change-default":
            direction == "drops" ? "drop record: \(before ?? "") -> \(after ?? "")"
                : "default \(direction == "in" ? "inbound" : direction == "out" ? "outbound" : direction ?? ""): \(before ?? "") -> \(after ?? "")"
        case "drift": "repaired drift"
        default: kind
        }
    }

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
        case let .changeDropRecording(from, to):
            self.init(kind: "change-default", before: from, after: to, direction: "drops")
        case let .drift(detail):
            self.init(kind: "drift", detail: detail)
        }
    }
}
