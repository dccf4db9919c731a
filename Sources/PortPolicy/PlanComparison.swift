extension Planner {
    /// The plan's changes from the live table to the policy, in the admin's words: the table's
    /// state, the defaults, drift in chains and objects, each rule by id, then what is left
    /// (order, portctl's own lines). Each step is one method of ``PlanComparison``.
    static func describe(_ policy: PortPolicy, desired: Table, live: Table) -> [PlanChange] {
        let comparison = PlanComparison(policy: policy, desired: desired, live: live)
        let changes = comparison.tableState() + comparison.defaults() + comparison.chainDrift()
            + comparison.inboundRules() + comparison.forwardsAndRoutes() + comparison.removedRules()
            + comparison.unexplainedObjects()
        return changes.isEmpty ? comparison.whatIsLeft() : changes
    }
}

/// What ``Planner/describe(_:desired:live:)`` compares, and its steps.
struct PlanComparison {
    let policy: PortPolicy
    /// The table the policy renders to.
    let desired: Table
    /// The table as the kernel lists it.
    let live: Table
    /// Every rule, forward and routed rule id in the policy.
    let policyIDs: Set<String>
    /// Whether the live forward chain filters published ports.
    let livePublished: PublishedDefault
    /// The live drop record's setting.
    let liveDrops: DropRecording
    /// When recording goes on or off, every recording line comes or goes: that is a change of
    /// its own (``defaults()``), so the lines are left out of the other comparisons.
    let recordingChanges: Bool
    /// Every live rule, in every chain.
    let liveRules: [Rule]
    /// The ids the live rules carry.
    let liveIDs: Set<String>

    init(policy: PortPolicy, desired: Table, live: Table) {
        self.policy = policy
        self.desired = desired
        self.live = live
        policyIDs = Set(policy.rules.map(\.id) + policy.forwards.map(\.id) + policy.routes.map(\.id))
        let liveForward = live.chain("forward")
        livePublished = liveForward?.hook == "forward" && liveForward?.rules.contains { $0.comment == Renderer.defaultComment } == true
            ? .filter : .accept
        liveDrops = Planner.liveDropRecording(live)
        recordingChanges = liveDrops.isOn != policy.drops.isOn
        liveRules = live.chains.flatMap(\.rules)
        liveIDs = Set(liveRules.compactMap(\.ruleID))
    }

    func compared(_ rules: [Rule]) -> [Rule] {
        recordingChanges ? rules.filter { !Planner.isRecordingLine($0) } : rules
    }

    /// A dormant table, or flags set outside portctl.
    func tableState() -> [PlanChange] {
        var changes: [PlanChange] = []
        if live.isDormant {
            changes.append(.drift("table inet \(live.name) is dormant: switched off outside portctl (`flags dormant`), it filters nothing; apply wakes it"))
        } else if live.flags != 0 {
            changes.append(.drift("table inet \(live.name) has flags \(live.flags) set outside portctl; apply clears them"))
        }
        return changes
    }

    /// The inbound, routed, published and outbound defaults, and the drop record's setting.
    func defaults() -> [PlanChange] {
        var changes: [PlanChange] = []
        if let chain = live.chain("input"), chain.hook == "input" {
            let liveDefault = Planner.inboundDefault(chain)
            if liveDefault != policy.inbound.rawValue {
                changes.append(.changeDefault(.in, from: liveDefault, to: policy.inbound.rawValue))
            }
        }
        let liveRouted = live.chain("routed")?.rules.last?.statements.contains(.verdict(.drop)) == true ? RoutedDefault.drop : .accept
        if liveRouted != policy.routed {
            changes.append(.changeRouted(from: liveRouted.rawValue, to: policy.routed.rawValue))
        }
        if liveDrops != policy.drops {
            changes.append(.changeDropRecording(from: liveDrops.text, to: policy.drops.text))
        }
        if livePublished != policy.published {
            changes.append(.changePublished(from: livePublished.rawValue, to: policy.published.rawValue))
        }
        if policy.hasOutboundRules, let chain = live.chain("output"), chain.hook == "output", let livePolicy = chain.policy,
           livePolicy != policy.outbound.rawValue {
            changes.append(.changeDefault(.out, from: livePolicy, to: policy.outbound.rawValue))
        }
        return changes
    }

    /// Chains the policy does not have, changed hooks, and lines no rule explains.
    func chainDrift() -> [PlanChange] {
        var changes: [PlanChange] = []
        for chain in live.chains {
            guard let wanted = desired.chain(chain.name) else {
                // An output chain left from outbound rules the policy no longer has is not drift.
                // So is a forward chain left from `published: filter` after a switch to accept.
                let leftover = (chain.name == "output" && chain.hook == "output" || chain.name == "forward" && chain.hook == "forward"
                                || chain.name == "prerouting" && chain.hook == "prerouting" || chain.name == "postrouting" && chain.hook == "postrouting"
                                || chain.name == "routed" && chain.hook == nil || Planner.isLayoutChain(chain.name) && chain.hook == nil)
                    && chain.rules.allSatisfy { $0.ruleID != nil || Renderer.outputBaseline.contains($0)
                        || Renderer.forwardBaseline.contains($0) || $0.comment == Renderer.defaultComment || Planner.isLayoutRule($0)
                        || $0 == Renderer.routedJump || chain.name == "forward" && (Renderer.banRules(recording: true) + Renderer.banRules(recording: false)).contains($0) }
                if !leftover {
                    changes.append(.drift("chain \(chain.name) is not part of the policy (changed outside portctl); apply removes it"))
                }
                continue
            }
            if chain.hook != wanted.hook || chain.type != wanted.type || chain.priority != wanted.priority {
                changes.append(.drift("chain \(chain.name) has \(chain.header ?? "no hook") instead of \(wanted.header ?? "")  (changed outside portctl)"))
            }
            // Rules without an id are structure: the baseline, dispatch maps and jumps.
            let baseline = compared(wanted.rules.filter { $0.comment == nil })
            // The forward chain's line for traffic nobody DNATed follows the routed part: the live
            // table's own line (the jump while it has a routed chain, the accept otherwise) is
            // portctl's, and replacing it is part of the routed change named above, not drift.
            let ownStructure: Rule? = chain.name == "forward" && chain.hook == "forward"
                ? (live.chain("routed") != nil ? Renderer.routedJump : Renderer.forwardBaseline[1]) : nil
            let followsRouted = { (rule: Rule) in rule == Renderer.routedJump || rule == Renderer.forwardBaseline[1] }
            for rule in compared(chain.rules) where rule.comment == nil && !baseline.contains(rule) && !Planner.isLayoutRule(rule) && rule != ownStructure {
                changes.append(.drift("rule `\(rule.text)` in chain \(chain.name) is not explained by the policy (changed outside portctl); apply removes it"))
            }
            // A dispatch map that differs only because rules came or went is part of those changes.
            for rule in baseline where !chain.rules.contains(rule) && !Planner.isLayoutRule(rule)
                && !(followsRouted(rule) && ownStructure.map(chain.rules.contains) == true) {
                changes.append(.drift("baseline rule `\(rule.text)` is missing from chain \(chain.name) (changed outside portctl); apply restores it"))
            }
            // A default's lines are the renderer's own: anything else under that comment (an
            // accept someone added) is drift, not a matter of order.
            for rule in chain.rules where rule.comment == Renderer.defaultComment && !wanted.rules.contains(rule) && !Planner.looksLikeADefault(rule) {
                changes.append(.drift("rule `\(rule.text)` in chain \(chain.name) is not the policy's default (changed outside portctl); apply removes it"))
            }
            for rule in chain.rules where rule.comment != nil && rule.comment != Renderer.defaultComment {
                if let id = rule.ruleID, policyIDs.contains(id) || Planner.looksRendered(rule, id: id) { continue }
                changes.append(.drift("rule `\(rule.text)` in chain \(chain.name) is not explained by the policy (changed outside portctl); apply removes it"))
            }
        }
        for object in live.unknownObjects {
            let fix = object.isDeletable && live.namesAreSafe ? "apply removes it" : "apply rewrites the table"
            changes.append(.drift("\(object.kind) \(object.name) is not part of the policy (changed outside portctl); \(fix)"))
        }
        return changes
    }

    /// Each inbound (and outbound) rule by id: added, changed, its sources, its expiry, its
    /// counter. A rule's lines in the forward chain (published ports) are compared on their own.
    func inboundRules() -> [PlanChange] {
        var changes: [PlanChange] = []
        let mainRules = live.chains.filter { $0.name != "forward" && !Renderer.isLimitedChain($0.name) }.flatMap(\.rules)
        let forwardRules = live.chain("forward")?.rules ?? []
        for rule in policy.rules {
            let wanted = Renderer.rules(for: rule, recording: policy.drops.isOn)
            let have = mainRules.filter { $0.ruleID == rule.id }
            let haveForward = forwardRules.filter { $0.ruleID == rule.id }
            let liveSources = IPFamily.allCases.flatMap { live.set(Renderer.setName(rule.id, $0))?.elements ?? [] }
            if have.isEmpty && liveSources.isEmpty {
                changes.append(.addRule(id: rule.id, summary: rule.summary))
                continue
            }
            let wantedSources = IPFamily.allCases.flatMap { Renderer.setElements(rule, $0) }
            var asLive = rule
            asLive.sources = liveSources == wantedSources ? rule.sources : liveSources
            let wantedForward = policy.published == .filter && livePublished == .filter && rule.direction == .in
                ? Renderer.rules(for: asLive, path: .published, recording: liveDrops.isOn) : haveForward
            let wantedAsLive = Renderer.rules(for: asLive, recording: liveDrops.isOn)
            if have == wantedAsLive && haveForward != wantedForward && !have.isEmpty {
                changes.append(.drift("the published-port lines of rule \(rule.id) in chain forward differ from the policy (changed outside portctl); apply restores them"))
            } else if have != wantedAsLive || haveForward != wantedForward || have.isEmpty != wanted.isEmpty
                || liveSources.isEmpty != wantedSources.isEmpty {
                let before = Planner.summarize(have, sets: live)
                if before == rule.summary, let oldComment = have.first?.comment {
                    changes.append(.changeRule(id: rule.id, before: "comment \"\(oldComment)\"", after: "comment \"\(Renderer.comment(rule))\""))
                } else {
                    changes.append(.changeRule(id: rule.id, before: before, after: rule.summary))
                }
            } else if wantedSources != liveSources {
                let (added, removed) = IPNetwork.difference(wantedSources, liveSources)
                changes.append(.changeSources(id: rule.id, added: added, removed: removed))
            }
            for family in IPFamily.allCases {
                let name = Renderer.setName(rule.id, family)
                if let wantedSet = desired.set(name), let liveSet = live.set(name), wantedSet == liveSet, !wantedSet.sameAs(liveSet),
                   !changes.contains(where: { if case .changeRule(rule.id, _, _) = $0 { true } else { false } }) {
                    changes.append(.changeRule(id: rule.id, before: "expires in \(Planner.duration(liveSet.expiresIn ?? 0))",
                                               after: "expires in \(Planner.duration(wantedSet.expiresIn ?? 0))"))
                }
            }
            if !live.counters.contains(rule.id) {
                changes.append(.drift("counter \(rule.id) is missing (changed outside portctl); apply restores it"))
            }
        }
        return changes
    }

    /// Forwards and routed rules by id: their lines in every chain, and their sets.
    func forwardsAndRoutes() -> [PlanChange] {
        var changes: [PlanChange] = []
        let others: [(id: String, summary: String)] = policy.forwards.map { ($0.id, $0.summary) } + policy.routes.map { ($0.id, $0.summary) }
        for (id, summary) in others {
            let want = compared(desired.chains.flatMap(\.rules).filter { $0.ruleID == id })
            let have = compared(liveRules.filter { $0.ruleID == id })
            let setNames = IPFamily.allCases.flatMap { [Renderer.setName(id, $0), Renderer.destinationSetName(id, $0)] }
            let wantSets = setNames.compactMap { desired.set($0) }, haveSets = setNames.compactMap { live.set($0) }
            if have.isEmpty {
                changes.append(.addRule(id: id, summary: summary))
                continue
            } else if Set(have) == Set(want) && have.count == want.count && Set(wantSets) != Set(haveSets)
                        && wantSets.map(\.name) == haveSets.map(\.name)
                        && zip(wantSets, haveSets).allSatisfy({ $0.name.hasPrefix(id + "-v") || $0 == $1 }) {
                // Only the senders' addresses differ: name them, as for inbound rules.
                let sources = IPFamily.allCases.map { Renderer.setName(id, $0) }
                let (added, removed) = IPNetwork.difference(wantSets.filter { sources.contains($0.name) }.flatMap(\.elements),
                                                            haveSets.filter { sources.contains($0.name) }.flatMap(\.elements))
                changes.append(.changeSources(id: id, added: added, removed: removed))
            } else if Set(have) != Set(want) || have.count != want.count || Set(wantSets) != Set(haveSets) {
                changes.append(.changeRule(id: id, before: "as the kernel holds it (\(have.count) line\(have.count == 1 ? "" : "s"))", after: summary))
            }
            if !live.counters.contains(id) {
                changes.append(.drift("counter \(id) is missing (changed outside portctl); apply restores it"))
            }
        }
        return changes
    }

    /// Rules the kernel holds that the policy no longer has.
    func removedRules() -> [PlanChange] {
        var changes: [PlanChange] = []
        for id in liveIDs.subtracting(policyIDs).sorted() where id != "portctl" {
            let have = liveRules.filter { $0.ruleID == id }
            if have.allSatisfy({ Planner.looksRendered($0, id: id) }) {
                changes.append(.removeRule(id: id, summary: Planner.summarize(have, sets: live)))
            }
        }
        return changes
    }

    /// Counters and sets nothing explains, and sets of the wrong shape.
    func unexplainedObjects() -> [PlanChange] {
        var changes: [PlanChange] = []
        // The drop record's objects come and go with defaults.drops (a change named above).
        let explainedCounters = Set(desired.counters).union(liveIDs).union(liveIDs.map(Renderer.limitedName))
            .union([Renderer.inboundDefaultCounter, Renderer.outboundDefaultCounter, Renderer.publishedDefaultCounter,
                    Renderer.routedDefaultCounter, Renderer.dropsSeenCounter, Renderer.dropsRecordedCounter])
        for counter in live.counters where !explainedCounters.contains(counter) {
            changes.append(.drift("counter \(counter) is not part of the policy (changed outside portctl); apply removes it"))
        }
        let explainedSets = Set(desired.sets.map(\.name)).union(IPFamily.allCases.map(Renderer.dropSetName))
            .union(liveIDs.flatMap { id in
                IPFamily.allCases.flatMap { [Renderer.setName(id, $0), Renderer.rateSetName(id, $0), Renderer.destinationSetName(id, $0)] }
            })
        for set in live.sets where !explainedSets.contains(set.name) {
            changes.append(.drift("set \(set.name) is not part of the policy (changed outside portctl); apply removes it"))
        }
        for set in desired.sets {
            if let have = live.set(set.name), have.family != set.family {
                changes.append(.drift("set \(set.name) has the wrong type (changed outside portctl); apply replaces it"))
            } else if let have = live.set(set.name), have.countsElements != set.countsElements {
                changes.append(.drift("set \(set.name) \(set.countsElements ? "does not count" : "counts") packets per element (made by an older portctl, or changed outside it); apply replaces it\(Renderer.isBanSet(set.name) ? " and puts the bans back" : "")"))
            }
        }
        return changes
    }

    /// When nothing else differs: lines reordered, or a line of portctl's own changed (a
    /// recording line, a limited chain's line) that no comparison above names.
    func whatIsLeft() -> [PlanChange] {
        var changes: [PlanChange] = []
        for chain in desired.chains {
            guard let have = live.chain(chain.name)?.rules, have != chain.rules else { continue }
            if have.map(\.text).sorted() == chain.rules.map(\.text).sorted() {
                changes.append(.drift("rules in chain \(chain.name) are not in the policy's order (changed outside portctl); apply reorders them"))
            } else if let changed = have.first(where: { !chain.rules.contains($0) }) {
                changes.append(.drift("rule `\(changed.text)` in chain \(chain.name) is not the policy's (changed outside portctl); apply rewrites the chain"))
            } else {
                changes.append(.drift("chain \(chain.name) lacks lines of the policy (deleted outside portctl); apply restores them"))
            }
        }
        return changes
    }
}
