/// Source addresses of both families, held as sorted, disjoint, non-adjacent ranges, so that
/// what a chain admits can be added, cut and compared in time linear in the ranges (rule sets
/// hold up to 100,000 networks).
public struct SourceSet: Sendable, Hashable {
    private var v4: [ClosedRange<UInt128>]
    private var v6: [ClosedRange<UInt128>]

    /// No address.
    public static let none = SourceSet(v4: [], v6: [])

    /// Every address of these families.
    public static func every(_ families: [IPFamily]) -> SourceSet {
        SourceSet(v4: families.contains(.ipv4) ? [0...Self.top(.ipv4)] : [], v6: families.contains(.ipv6) ? [0...Self.top(.ipv6)] : [])
    }

    /// The addresses of these networks.
    public init(_ networks: [IPNetwork]) {
        func ranges(_ family: IPFamily) -> [ClosedRange<UInt128>] {
            Self.normalized(networks.filter { $0.family == family }.map { $0.address.bits...($0.address.bits | $0.hostMask) })
        }
        self.init(v4: ranges(.ipv4), v6: ranges(.ipv6))
    }

    private init(v4: [ClosedRange<UInt128>], v6: [ClosedRange<UInt128>]) {
        self.v4 = v4
        self.v6 = v6
    }

    static func top(_ family: IPFamily) -> UInt128 { family == .ipv4 ? UInt128(UInt32.max) : .max }

    private func ranges(_ family: IPFamily) -> [ClosedRange<UInt128>] { family == .ipv4 ? v4 : v6 }

    /// Whether it holds no address.
    public var isEmpty: Bool { v4.isEmpty && v6.isEmpty }

    /// Whether it holds every address of `family`.
    public func covers(_ family: IPFamily) -> Bool { ranges(family) == [0...Self.top(family)] }

    /// Whether it holds some address of `family`.
    public func holdsSome(_ family: IPFamily) -> Bool { !ranges(family).isEmpty }

    /// Whether it holds `address`.
    public func contains(_ address: IPAddress) -> Bool {
        ranges(address.family).contains { $0.contains(address.bits) }
    }

    /// Its addresses as the fewest CIDR blocks, IPv4 first, each family sorted.
    public var networks: [IPNetwork] {
        IPFamily.allCases.flatMap { family in ranges(family).flatMap { IPNetwork.cidrs(family: family, from: $0.lowerBound, to: $0.upperBound) } }
    }

    /// The addresses of both.
    public func union(_ other: SourceSet) -> SourceSet {
        SourceSet(v4: Self.normalized(v4 + other.v4), v6: Self.normalized(v6 + other.v6))
    }

    /// The addresses of this one that `other` does not hold.
    public func subtracting(_ other: SourceSet) -> SourceSet {
        SourceSet(v4: Self.subtract(v4, other.v4), v6: Self.subtract(v6, other.v6))
    }

    /// The addresses both hold.
    public func intersection(_ other: SourceSet) -> SourceSet {
        subtracting(subtracting(other))
    }

    /// The addresses of `families` it does not hold.
    public func complement(within families: [IPFamily]) -> SourceSet {
        SourceSet.every(families).subtracting(self)
    }

    /// Only its addresses of these families.
    public func restricted(to families: [IPFamily]) -> SourceSet {
        SourceSet(v4: families.contains(.ipv4) ? v4 : [], v6: families.contains(.ipv6) ? v6 : [])
    }

    /// Sorts and joins overlapping and adjacent ranges.
    static func normalized(_ ranges: [ClosedRange<UInt128>]) -> [ClosedRange<UInt128>] {
        var result: [ClosedRange<UInt128>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = result.last, last.upperBound == .max || range.lowerBound <= last.upperBound + 1 {
                result[result.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                result.append(range)
            }
        }
        return result
    }

    /// `ranges` minus `cuts`, both sorted and disjoint: one pass over each.
    static func subtract(_ ranges: [ClosedRange<UInt128>], _ cuts: [ClosedRange<UInt128>]) -> [ClosedRange<UInt128>] {
        var result: [ClosedRange<UInt128>] = []
        var index = 0
        for range in ranges {
            var low = range.lowerBound
            var covered = false
            while index < cuts.count && cuts[index].upperBound < low { index += 1 }
            var next = index
            while next < cuts.count && cuts[next].lowerBound <= range.upperBound {
                let cut = cuts[next]
                if cut.lowerBound > low { result.append(low...(cut.lowerBound - 1)) }
                if cut.upperBound >= range.upperBound { covered = true; break }
                low = cut.upperBound + 1
                next += 1
            }
            if !covered { result.append(low...range.upperBound) }
        }
        return result
    }
}
