import Foundation
public import PortPolicy

/// Random policies, edits and drift from a seed, for property tests of the planner against
/// ``FakeNftables`` and the kernel: a failure is replayed from its seed.
public struct PolicySampler: RandomNumberGenerator {
    private var state: UInt64

    /// A sampler whose draws follow from `seed` alone (SplitMix64).
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &self) < percent }

    private mutating func pick<T>(_ values: [T]) -> T { values.randomElement(using: &self)! }

    /// A random address or network from the documentation ranges and a few private ones.
    public mutating func network() -> IPNetwork {
        let family: IPFamily = chance(25) ? .ipv6 : .ipv4
        let bits: UInt128, prefix: Int
        if family == .ipv6 {
            bits = UInt128(0x2001_0db8) << 96 | UInt128(UInt16.random(in: 0...0xff, using: &self)) << 80 | UInt128(UInt16.random(in: 1...0xffff, using: &self))
            prefix = pick([48, 64, 112, 128])
        } else {
            bits = UInt128(pick([10, 172, 198, 203])) << 24 | UInt128(UInt32.random(in: 0...0xff_ffff, using: &self))
            prefix = pick([8, 16, 20, 24, 28, 32, 32, 32])
        }
        let hostBits = family.bitWidth - prefix
        let mask: UInt128 = hostBits == 0 ? 0 : (UInt128(1) << hostBits) - 1
        return try! IPNetwork(address: IPAddress(family: family, bits: bits & ~mask)!, prefixLength: prefix)
    }

    /// A random list of sources: often none (any), sometimes a few, now and then over a
    /// thousand (the planner's element-edit threshold).
    public mutating func sources() -> [IPNetwork] {
        switch Int.random(in: 0..<100, using: &self) {
        case 0..<30: []
        case 0..<92: (0..<Int.random(in: 1...6, using: &self)).map { _ in network() }
        default: (0..<Int.random(in: 1000...1300, using: &self)).map { _ in network() }
        }
    }

    /// A random rule with this id.
    public mutating func rule(id: String) -> PortRule {
        let first = Int.random(in: 20...9000, using: &self)
        var ports = [try! PortRange(first, chance(70) ? first : first + Int.random(in: 1...50, using: &self))]
        if chance(20) { ports.append(try! PortRange(first + 100)) }
        var rule = PortRule(id: id, ports: PortRange.merged(ports), proto: pick([.tcp, .tcp, .udp, .both]),
                            direction: chance(85) ? .in : .out, action: pick([.allow, .allow, .allow, .deny, .reject]),
                            sources: sources(), interface: chance(15) ? pick(["eth0", "veth*", "wg0"]) : nil,
                            comment: chance(20) ? "note \(Int.random(in: 0...9, using: &self))" : nil)
        if rule.action == .allow && rule.direction == .in && chance(15) { rule.limit = try! RateLimit(count: pick([6, 30, 100]), per: pick([.second, .minute])) }
        if chance(10) { rule.log = true }
        if chance(8) { rule.expires = Date().addingTimeInterval(Double.random(in: 600...86400, using: &self)) }
        return rule
    }

    /// A random valid policy: rules, sometimes port forwards and routed rules, random defaults.
    public mutating func policy() -> PortPolicy {
        var policy = PortPolicy(inbound: pick([.drop, .drop, .reject, .accept]), outbound: chance(80) ? .accept : .drop)
        let count = pick([0, 1, 2, 3, 5, 8, 12, 40])
        policy.rules = (0..<count).map { rule(id: "r\($0)") }
        policy.published = chance(80) ? .filter : .accept
        policy.routed = chance(70) ? .accept : .drop
        policy.drops = chance(70) ? .standard : (chance(50) ? .off : .keep(seconds: 60))
        if chance(20) {
            policy.forwards = [PortForward(id: "fwd0", ports: [try! PortRange(8080)], sources: chance(50) ? [network()] : [],
                                           to: IPAddress("192.0.2.10")!, toPort: chance(50) ? 80 : nil, masquerade: chance(50))]
        }
        if chance(20) {
            policy.routes = [RoutedRule(id: "route0", ports: [try! PortRange(Int.random(in: 20...9000, using: &self))],
                                        action: pick([.allow, .deny]), sources: chance(50) ? [network()] : [],
                                        destinations: [try! IPNetwork(parsing: "192.0.2.0/24")])]
        }
        if (try? policy.validate()) == nil { return PortPolicy(rules: policy.rules.isEmpty ? [] : [rule(id: "only")]).validated ?? PortPolicy() }
        return policy
    }

    /// The policy after an admin's edits: sources added or removed, a rule added, removed or
    /// changed, a default flipped; or, now and then, an unrelated policy.
    public mutating func edited(_ policy: PortPolicy) -> PortPolicy {
        if chance(15) { return self.policy() }
        var edited = policy
        for _ in 0..<Int.random(in: 1...3, using: &self) {
            switch Int.random(in: 0..<7, using: &self) {
            case 0 where !edited.rules.isEmpty:
                let index = Int.random(in: 0..<edited.rules.count, using: &self)
                edited.rules[index].sources += (0..<Int.random(in: 1...3, using: &self)).map { _ in network() }
            case 1 where !edited.rules.isEmpty:
                let index = Int.random(in: 0..<edited.rules.count, using: &self)
                if !edited.rules[index].sources.isEmpty { edited.rules[index].sources.removeFirst(Int.random(in: 1...edited.rules[index].sources.count, using: &self)) }
            case 2:
                edited.rules.append(rule(id: "n\(Int.random(in: 0...999, using: &self))"))
            case 3 where !edited.rules.isEmpty:
                edited.rules.remove(at: Int.random(in: 0..<edited.rules.count, using: &self))
            case 4 where !edited.rules.isEmpty:
                let index = Int.random(in: 0..<edited.rules.count, using: &self)
                edited.rules[index] = rule(id: edited.rules[index].id)
            case 5:
                edited.inbound = pick([.drop, .reject, .accept])
            default:
                edited.outbound = pick([.accept, .drop])
            }
        }
        var seen = Set<String>()
        edited.rules = edited.rules.filter { seen.insert($0.id).inserted }
        return (try? edited.validate()) == nil ? policy : edited
    }

    /// Changes made to a table outside portctl (what `nft` by hand does): a rule added or
    /// deleted, a chain emptied, elements added or removed, a counter or set added, the table
    /// made dormant.
    public mutating func drift(_ table: inout Table) {
        for _ in 0..<Int.random(in: 1...2, using: &self) {
            let chains = table.chains.indices.filter { !table.chains[$0].rules.isEmpty }
            switch Int.random(in: 0..<8, using: &self) {
            case 0 where !table.chains.isEmpty:
                let index = Int.random(in: 0..<table.chains.count, using: &self)
                table.chains[index].rules.insert(Rule([.match(.payload("tcp", "dport"), op: "==", .number(Int.random(in: 1...65535, using: &self))), .verdict(.accept)]), at: 0)
            case 1 where !chains.isEmpty:
                let index = pick(chains)
                table.chains[index].rules.remove(at: Int.random(in: 0..<table.chains[index].rules.count, using: &self))
            case 2 where !chains.isEmpty:
                table.chains[pick(chains)].rules = []
            case 3:
                let sets = table.sets.indices.filter { table.sets[$0].kind == .interval && !table.sets[$0].elements.isEmpty }
                guard let index = sets.randomElement(using: &self) else { continue }
                table.sets[index].elements.remove(at: Int.random(in: 0..<table.sets[index].elements.count, using: &self))
            case 4:
                let sets = table.sets.indices.filter { table.sets[$0].kind == .interval }
                guard let index = sets.randomElement(using: &self) else { continue }
                let family = table.sets[index].family
                var extra = network()
                while extra.family != family { extra = network() }
                table.sets[index] = AddressSet(name: table.sets[index].name, family: family, elements: table.sets[index].elements + [extra])
            case 5:
                table.counters.append("extra\(Int.random(in: 0...99, using: &self))")
            case 6:
                table.flags = Table.dormantFlag
            default:
                table.sets.append(AddressSet(name: "extra-set", family: .ipv4, elements: [network()].filter { $0.family == .ipv4 }))
            }
        }
    }
}

extension PortPolicy {
    /// The policy when it validates, else nil.
    var validated: PortPolicy? { (try? validate()) == nil ? nil : self }
}
