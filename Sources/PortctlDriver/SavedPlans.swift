import Foundation
public import PortPolicy

extension ChangeControl {
    // MARK: Saved plans

    /// Plans making `text` (a proposed policy, read from `source`) the policy, without changing
    /// anything: the plan `apply --new` would make, with its saved-plan document. Against the
    /// kernel (``LiveSource/kernel``, needs CAP_NET_ADMIN; blocks on the policy lock) or a saved
    /// listing (``LiveSource/listing(_:)``: no privilege, no lock, nothing of the machine read but
    /// the policy file and the proposal's address files). The lockout check's refusal becomes a
    /// warning: the reviewer must see it.
    public func planProposal(_ text: String, source: String, against liveSource: LiveSource = .kernel) throws -> ProposalPlan {
        let proposal: PortPolicy
        do {
            proposal = try PolicyStore.decode(text)
        } catch {
            throw PolicyFileError(path: source, error: error)
        }
        try proposal.validate()
        func make() throws -> ProposalPlan {
            let loaded = try store.loadWithBytes()
            var warnings: [ChangeWarning] = []
            do {
                warnings += try guardLockout(proposal, force: false)
            } catch let ChangeError.wouldLockOut(decision, connection, expiring) {
                warnings.append(.lockoutRisk(LockoutGuard.refusal(decision, connection: connection, expiring: expiring)))
            } catch ChangeError.unreadableSSHConnection(let value) {
                warnings.append(.lockoutUnchecked(sshConnection: value))
            }
            let live: Table?
            var plan: Plan
            switch liveSource {
            case .kernel:
                live = try firewall.live(table: proposal.table)
                plan = Planner.plan(proposal, live: live)
                firewall.removePreviousTable(try previousTable(previousText: loaded.map { String(decoding: $0.bytes, as: UTF8.self) },
                                                               previousPolicy: loaded?.policy), in: &plan)
                warnings += publishedWarnings(proposal)
            case let .listing(listed):
                live = listed
                plan = Planner.plan(proposal, live: live)
            }
            let document = PlanDocument(plan: plan, proposal: proposal, text: text, source: source, policyFile: paths.policyFile,
                                        currentBytes: loaded.map { Array($0.bytes) }, liveDigest: PlanDocument.digest(live))
            return ProposalPlan(document: document, plan: plan, current: loaded?.policy, proposal: proposal, warnings: warnings)
        }
        if case .listing = liveSource { return try make() }
        return try withLock(privileged: "reading the kernel's table (use --live FILE to plan against a saved listing)") { try make() }
    }

    /// Applies a plan saved by `portctl plan -o` (the policy file as it stood) or `plan --new -o`
    /// (a proposal) exactly as reviewed: refused, with nothing changed, unless the document is
    /// intact (and its digest is `expectDigest`, when given), production's policy file, portctl's
    /// table and every address file the planned policy reads are as they were when it was made,
    /// and its batch is exactly what portctl plans for them. What is sent is derived only from
    /// the document's fields (the proposal's text comes from the document, never from where it
    /// was read). A proposal is written over the policy file byte for byte, in the same recorded
    /// change. With ``ChangeOptions/dryRun`` only the checks run. Blocks on the policy lock.
    public func applySavedPlan(at path: String, expectDigest: String? = nil,
                               options: ChangeOptions = ChangeOptions()) throws -> (document: PlanDocument, plan: Plan, result: ChangeResult) {
        try withLock(privileged: "applying the policy", dryRun: options.dryRun) {
            let orphan = options.dryRun ? nil : try refuseWhileConfirmationPending()
            func refuse(_ problem: SavedPlanProblem) -> ChangeError { .savedPlan(path: path, problem: problem) }
            // A saved plan is trusted like the policy file: root's, in folders only root can write.
            guard let data = try TrustedFiles.read(path, what: "plan file", maximumSize: 4 * PolicyStore.maximumFileSize) else {
                throw refuse(.missing)
            }
            let document: PlanDocument
            do {
                document = try PlanDocument.decode(data)
            } catch {
                throw refuse(.unreadable(String(describing: error)))
            }
            if !document.isIntact { throw refuse(.edited) }
            if let expectDigest, document.digest != expectDigest {
                throw refuse(.notApproved(approved: expectDigest, found: document.digest))
            }
            let loaded = try store.loadWithBytes()
            if !document.isProposal && document.policyFile != paths.policyFile {
                throw refuse(.madeForOtherPolicyFile(planned: document.policyFile, policyFile: paths.policyFile))
            }
            if loaded == nil && !document.isProposal { throw ChangeError.noPolicyFile(path: paths.policyFile) }
            let currentDigest = loaded.map { PlanDocument.digest($0.bytes) } ?? "none"
            if currentDigest != document.policyDigest { throw refuse(.policyChanged(policyFile: paths.policyFile)) }
            guard let text = document.newPolicy ?? loaded.map({ String(decoding: $0.bytes, as: UTF8.self) }) else {
                throw ChangeError.noPolicyFile(path: paths.policyFile)
            }
            // The policy comes from the document's text (a proposal's; else the policy file's, read
            // above), its address files read now: each must give what it gave when the plan was made.
            let policy: PortPolicy
            if let loaded, !document.isProposal {
                policy = loaded.policy
            } else {
                do throws(PolicyError) {
                    policy = try PolicyStore.decode(text)
                } catch {
                    throw PolicyFileError(path: path, error: error)
                }
            }
            let files = PlanDocument.addressFiles(policy) ?? [:]
            if let planned = document.addressFiles {
                // A file the plan's policy does not read at all: the plan was edited.
                if Set(planned.keys) != Set(files.keys) { throw refuse(.notPortctls(readsAddressFiles: false)) }
                for (file, digest) in planned.sorted(by: { $0.key < $1.key }) where files[file] != digest {
                    throw refuse(.addressFileChanged(path: file))
                }
            }
            if policy.table != document.table { throw refuse(.otherTable(planned: document.table, policy: policy.table)) }
            let live = try firewall.live(table: policy.table)
            if PlanDocument.digest(live) != document.liveDigest { throw refuse(.tableChanged(table: document.table)) }
            // The script runs only if it is exactly what the planner makes for this policy against
            // this table: a saved plan cannot carry anything else into the kernel.
            let previous = try previousTable(previousText: loaded.map { String(decoding: $0.bytes, as: UTF8.self) }, previousPolicy: loaded?.policy)
            var reviewed = Planner.plan(policy, live: live, now: Date(timeIntervalSince1970: document.plannedAt))
            firewall.removePreviousTable(previous, in: &reviewed)
            if reviewed.script != document.script {
                throw refuse(.notPortctls(readsAddressFiles: policy.rules.contains(where: \.readsFiles) && document.addressFiles == nil))
            }
            // What readers of the plan show (its policy and changes: explain, jq, a review) must
            // be what is applied, or a reviewer could be shown one change while another is sent.
            if PolicyFile.encode(document.policy) != PolicyFile.encode(policy)
                || document.changes != reviewed.changes.map(PlanDocument.Change.init) {
                throw refuse(.notPortctls(readsAddressFiles: false))
            }
            // Time moved on since the review: what is sent is the same plan made now, so that
            // --for timeouts count from now and an opening that expired meanwhile stays closed.
            // It must be the reviewed batch but for those countdowns; otherwise the plan is stale.
            let changed = document.isProposal && (loaded.map { Array($0.bytes) != Array(text.utf8) } ?? true)
            var result = try commit(policy, fileText: text, previous: loaded, policyChanged: changed,
                                    options: options, command: "apply-plan", reviewed: (path, document.script, document.digest))
            result.createdPolicyFile = loaded == nil
            if let orphan { result.warnings.insert(.orphanRolledBack(orphan), at: 0) }
            return (document, result.plan ?? reviewed, result)
        }
    }

    /// A batch with its timeout and expiry figures blanked, to compare batches made at
    /// different moments.
    static func withoutCountdowns(_ script: String) -> String {
        script.replacingOccurrences(of: #"(timeout|expires) [0-9dhms]+"#, with: "$1 _", options: .regularExpression)
    }
}
