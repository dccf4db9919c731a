import Foundation
import Testing
@testable import PortPolicy

// Property tests for the arithmetic that decides who gets through: address blocks, their
// merging and splitting, their text, and port subtraction. Each property is checked
// against a brute-force oracle on a small window of the address space, where every address can
// be looked at, or against an independent construction on the whole space.
//
// A run is repeatable: the seed is fixed. To explore further:
//   PORTCTL_PROPERTY_SEED=12345 (or 0x3039)   another seed
//   PORTCTL_PROPERTY_CASES=20000              random cases per property, instead of each default
// A failure names the seed, the case and its input, and stops that property's run.


private enum PropertyRun {
    static let seed: UInt64 = {
        guard let text = ProcessInfo.processInfo.environment["PORTCTL_PROPERTY_SEED"] else { return 20_260_501 }
        let parsed = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
        guard let parsed else { fatalError("PORTCTL_PROPERTY_SEED must be a number, like 12345 or 0x3039") }
        return parsed
    }()

    static func cases(_ standard: Int) -> Int {
        ProcessInfo.processInfo.environment["PORTCTL_PROPERTY_CASES"].flatMap { Int($0) } ?? standard
    }

    static func generator() -> SeededGenerator { SeededGenerator(state: seed) }

    static func report(_ index: Int, _ input: String, _ problem: String?) -> Comment {
        Comment(rawValue: "PORTCTL_PROPERTY_SEED=\(seed), case \(index): \(input): \(problem ?? "")")
    }
}

// MARK: - Windows

/// 256 consecutive addresses, small enough to look at each one.
struct AddressWindow: Sendable, CustomStringConvertible {
    let family: IPFamily
    let low: UInt128
    let size = 256
    /// Host bits of the largest aligned block that fits inside the window.
    let largestBlockBits: Int

    init(_ first: String) {
        let address = IPAddress(first)!
        family = address.family
        low = address.bits
        largestBlockBits = low == 0 ? 8 : min(8, low.trailingZeroBitCount)
    }

    var high: UInt128 { low + UInt128(size - 1) }
    var description: String {
        "\(IPAddress(family: family, bits: low)!)-\(IPAddress(family: family, bits: high)!)"
    }

    func address(_ offset: Int) -> IPAddress { IPAddress(family: family, bits: low + UInt128(offset))! }

    static let all = [
        AddressWindow("198.51.100.0"),
        AddressWindow("198.51.100.128"),  // straddles 198.51.100.0/24 and 198.51.101.0/24
        AddressWindow("0.0.0.0"),
        AddressWindow("255.255.255.0"),
        AddressWindow("2001:db8::"),
        AddressWindow("2001:db8::80"),  // straddles 2001:db8::/120 and 2001:db8::100/120
        AddressWindow("::"),
        AddressWindow("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00"),
    ]
}

private func maximum(_ family: IPFamily) -> UInt128 { family == .ipv4 ? UInt128(UInt32.max) : .max }

/// All ones in the low `hostBits` bits.
private func ones(_ hostBits: Int) -> UInt128 { hostBits >= 128 ? .max : (UInt128(1) << hostBits) - 1 }

private func block(_ family: IPFamily, _ start: UInt128, hostBits: Int) -> IPNetwork {
    try! IPNetwork(address: IPAddress(family: family, bits: start)!, prefixLength: family.bitWidth - hostBits)
}

private func randomNetwork(in window: AddressWindow, using random: inout SeededGenerator) -> IPNetwork {
    // The smaller of two draws: single hosts and small blocks are common, the widest rare.
    let hostBits = min(Int.random(in: 0...window.largestBlockBits, using: &random),
                       Int.random(in: 0...window.largestBlockBits, using: &random))
    let offset = UInt128(Int.random(in: 0..<window.size, using: &random)) & ~ones(hostBits)
    return block(window.family, window.low + offset, hostBits: hostBits)
}

private func randomNetworks(in window: AddressWindow, using random: inout SeededGenerator) -> [IPNetwork] {
    var networks = (0..<Int.random(in: 0...10, using: &random)).map { _ in randomNetwork(in: window, using: &random) }
    if let repeated = networks.randomElement(using: &random), Bool.random(using: &random) { networks.append(repeated) }
    networks.shuffle(using: &random)
    return networks
}

/// Which of the window's addresses the blocks cover; nil when a block leaves the window.
private func membership(_ networks: [IPNetwork], in window: AddressWindow) -> [Bool]? {
    var covered = [Bool](repeating: false, count: window.size)
    for network in networks {
        guard network.family == window.family, network.address.bits >= window.low,
              network.lastAddress.bits <= window.high
        else { return nil }
        for bits in network.address.bits...network.lastAddress.bits { covered[Int(bits - window.low)] = true }
    }
    return covered
}

/// The fewest CIDR blocks covering exactly `covered`, greedily from the left: at each first
/// uncovered member, the largest aligned block of members. The fewest blocks are unique (the
/// maximal aligned blocks inside the set), so a correct answer equals this one block for block.
private func fewestBlocks(_ covered: [Bool], in window: AddressWindow) -> [IPNetwork] {
    var blocks: [IPNetwork] = []
    var index = 0
    while index < window.size {
        guard covered[index] else { index += 1; continue }
        let start = window.low + UInt128(index)
        var hostBits = 0
        while true {
            let wider = 1 << (hostBits + 1)
            guard start % UInt128(wider) == 0, index + wider <= window.size,
                  covered[index..<(index + wider)].allSatisfy({ $0 })
            else { break }
            hostBits += 1
        }
        blocks.append(block(window.family, start, hostBits: hostBits))
        index += 1 << hostBits
    }
    return blocks
}

/// Whether two blocks are halves of one wider block.
private func combinable(_ a: IPNetwork, _ b: IPNetwork) -> Bool {
    guard a.family == b.family, a.prefixLength == b.prefixLength, a.prefixLength > 0 else { return false }
    let parentHostBits = a.family.bitWidth - a.prefixLength + 1
    return a.address.bits & ~ones(parentHostBits) == b.address.bits & ~ones(parentHostBits) && a != b
}

/// What is wrong with `blocks` as the sorted, minimal CIDR cover of exactly `expected`.
private func problem(with blocks: [IPNetwork], covering expected: [Bool], in window: AddressWindow) -> String? {
    for (a, b) in zip(blocks, blocks.dropFirst()) {
        if !(a < b) { return "\(a) comes before \(b): not sorted" }
        if a.family == b.family && a.lastAddress.bits >= b.address.bits { return "\(a) and \(b) overlap" }
        if combinable(a, b) { return "\(a) and \(b) could be one block" }
    }
    guard let covered = membership(blocks, in: window) else { return "a block leaves the window \(window)" }
    if let offset = (0..<window.size).first(where: { covered[$0] != expected[$0] }) {
        return "\(window.address(offset)) should \(expected[offset] ? "" : "not ")be covered"
    }
    let fewest = fewestBlocks(expected, in: window)
    if blocks != fewest { return "\(blocks.count) blocks where the fewest are \(fewest.count): \(fewest)" }
    return nil
}

/// The fewest CIDR blocks for `low...high` by descending the prefix tree from the whole space:
/// a block inside the range is taken, a block outside it is dropped, and any other is halved.
private func prefixTreeBlocks(_ family: IPFamily, from low: UInt128, to high: UInt128) -> [IPNetwork] {
    var blocks: [IPNetwork] = []
    func visit(_ start: UInt128, _ hostBits: Int) {
        let last = start | ones(hostBits)
        if last < low || start > high { return }
        if start >= low && last <= high { blocks.append(block(family, start, hostBits: hostBits)); return }
        visit(start, hostBits - 1)
        visit(start | UInt128(1) << (hostBits - 1), hostBits - 1)
    }
    visit(0, family.bitWidth)
    return blocks
}

/// Random bits with structure: often a run of low bits cleared or set, sometimes an end of the space.
private func randomBits(_ family: IPFamily, using random: inout SeededGenerator) -> UInt128 {
    switch Int.random(in: 0..<10, using: &random) {
    case 0: return 0
    case 1: return maximum(family)
    default:
        var bits = UInt128.random(in: 0...maximum(family), using: &random)
        let run = Int.random(in: 0...family.bitWidth, using: &random)
        switch Int.random(in: 0..<3, using: &random) {
        case 0: bits &= ~ones(run)
        case 1: bits |= ones(run)
        default: break
        }
        return bits & maximum(family)
    }
}

// MARK: - Blocks

@Suite(.serialized) struct AddressPropertyTests {
    @Test("merged covers exactly the union of its input, sorted, in the fewest blocks",
          arguments: AddressWindow.all)
    func mergedInWindow(_ window: AddressWindow) {
        var random = PropertyRun.generator()
        for index in 0..<PropertyRun.cases(600) {
            let input = randomNetworks(in: window, using: &random)
            let output = IPNetwork.merged(input)
            let found = membership(input, in: window).flatMap { problem(with: output, covering: $0, in: window) }
            #expect(found == nil, PropertyRun.report(index, "merged(\(input)) = \(output)", found))
            if found != nil { return }
        }
    }

    @Test("merged over the whole space equals the prefix-tree cover of the union, IPv4 first")
    func mergedAnywhere() {
        var random = PropertyRun.generator()
        for index in 0..<PropertyRun.cases(2000) {
            // Blocks near one random address per family, so they overlap and touch.
            var input: [IPNetwork] = []
            for family in IPFamily.allCases.shuffled(using: &random) {
                let near = randomBits(family, using: &random)
                for _ in 0..<Int.random(in: 0...8, using: &random) {
                    let hostBits = Int.random(in: 0..<10, using: &random) == 0
                        ? Int.random(in: 0...family.bitWidth, using: &random)
                        : min(Int.random(in: 0...9, using: &random), Int.random(in: 0...9, using: &random))
                    let bits = (near ^ UInt128.random(in: 0...0x3ff, using: &random)) & maximum(family)
                    input.append(block(family, bits & ~ones(hostBits), hostBits: hostBits))
                }
            }
            input.shuffle(using: &random)
            let output = IPNetwork.merged(input)
            var expected: [IPNetwork] = []
            for family in IPFamily.allCases {
                let members = input.filter { $0.family == family }
                // Membership changes only where a block starts or ends; look at each such point.
                var points: Set<UInt128> = [0]
                for network in members {
                    points.insert(network.address.bits)
                    if network.lastAddress.bits < maximum(family) { points.insert(network.lastAddress.bits + 1) }
                }
                let sortedPoints = points.sorted()
                var runStart: UInt128?
                for (position, point) in sortedPoints.enumerated() {
                    let address = IPAddress(family: family, bits: point)!
                    let covered = members.contains { $0.contains(address) }
                    if covered && runStart == nil { runStart = point }
                    if !covered, let start = runStart {
                        expected += prefixTreeBlocks(family, from: start, to: point - 1)
                        runStart = nil
                    }
                    if position == sortedPoints.count - 1, let start = runStart {
                        expected += prefixTreeBlocks(family, from: start, to: maximum(family))
                    }
                }
            }
            #expect(output == expected, PropertyRun.report(index, "merged(\(input)) = \(output)", "expected \(expected)"))
            if output != expected { return }
        }
    }

    @Test("cidrs(from:to:) covers exactly low...high in the fewest blocks", arguments: AddressWindow.all)
    func cidrsInWindow(_ window: AddressWindow) {
        var random = PropertyRun.generator()
        for index in 0..<PropertyRun.cases(500) {
            let ends = [Int.random(in: 0..<window.size, using: &random), Int.random(in: 0..<window.size, using: &random)]
            let (first, last) = (ends.min()!, ends.max()!)
            let output = IPNetwork.cidrs(family: window.family, from: window.low + UInt128(first),
                                         to: window.low + UInt128(last))
            let expected = (0..<window.size).map { (first...last).contains($0) }
            let found = problem(with: output, covering: expected, in: window)
            let input = "cidrs(\(window.address(first)), \(window.address(last))) = \(output)"
            #expect(found == nil, PropertyRun.report(index, input, found))
            if found != nil { return }
        }
    }

    @Test("cidrs(from:to:) over the whole space tiles low...high and equals the prefix-tree cover",
          arguments: IPFamily.allCases)
    func cidrsAnywhere(_ family: IPFamily) {
        var random = PropertyRun.generator()
        let ends: [(UInt128, UInt128)] = [(0, 0), (0, maximum(family)), (maximum(family), maximum(family)), (1, maximum(family) - 1)]
        for index in 0..<PropertyRun.cases(1500) + ends.count {
            let (low, high) = index < ends.count
                ? ends[index]
                : [randomBits(family, using: &random), randomBits(family, using: &random)].sorted().pair
            let output = IPNetwork.cidrs(family: family, from: low, to: high)
            var found: String?
            if output.first?.address.bits != low { found = "the first block does not start at the low end" }
            if output.last?.lastAddress.bits != high { found = "the last block does not end at the high end" }
            for (a, b) in zip(output, output.dropFirst()) where a.lastAddress.bits &+ 1 != b.address.bits {
                found = "\(a) and \(b) leave a gap or overlap"
            }
            if output.contains(where: { $0.family != family }) { found = "a block is of the wrong family" }
            let expected = prefixTreeBlocks(family, from: low, to: high)
            if found == nil && output != expected { found = "expected \(expected)" }
            let input = "cidrs(\(IPAddress(family: family, bits: low)!), \(IPAddress(family: family, bits: high)!)) = \(output)"
            #expect(found == nil, PropertyRun.report(index, input, found))
            if found != nil { return }
        }
    }

    @Test("contains, lastAddress, mask and the host-bits check agree with bit arithmetic",
          arguments: AddressWindow.all)
    func blockArithmetic(_ window: AddressWindow) {
        var random = PropertyRun.generator()
        for index in 0..<PropertyRun.cases(200) {
            let width = window.family.bitWidth
            let prefixLength = Bool.random(using: &random)
                ? Int.random(in: (width - 9)...width, using: &random)
                : Int.random(in: 0...width, using: &random)
            let hostBits = width - prefixLength
            let any = window.address(Int.random(in: 0..<window.size, using: &random))
            let network = block(window.family, any.bits & ~ones(hostBits), hostBits: hostBits)
            var found: String?
            if IPNetwork.mask(any, prefixLength) != network.address { found = "mask(\(any), \(prefixLength)) = \(IPNetwork.mask(any, prefixLength))" }
            if network.lastAddress.bits != network.address.bits | ones(hostBits) { found = "lastAddress is \(network.lastAddress)" }
            for offset in 0..<window.size where found == nil {
                let address = window.address(offset)
                let inside = hostBits == 128 || address.bits >> hostBits == network.address.bits >> hostBits
                if network.contains(address) != inside { found = "contains(\(address)) is \(!inside)" }
            }
            let otherFamily = IPAddress(family: window.family == .ipv4 ? .ipv6 : .ipv4, bits: network.address.bits & 0xffff_ffff)!
            if network.contains(otherFamily) { found = "contains \(otherFamily), of the other family" }
            if (try? IPNetwork(parsing: network.description)) != network { found = "\(network.description) does not parse back" }
            let hostBitsSet = any.bits & ones(hostBits) != 0
            do {
                _ = try IPNetwork(address: any, prefixLength: prefixLength)
                if hostBitsSet { found = "\(any)/\(prefixLength) has host bits set but was accepted" }
            } catch {
                if !hostBitsSet {
                    found = "\(any)/\(prefixLength) was refused: \(error)"
                } else if !error.description.contains("did you mean \(network.address)/\(prefixLength)?") {
                    found = "the refusal does not suggest \(network.address)/\(prefixLength): \(error)"
                }
            }
            #expect(found == nil, PropertyRun.report(index, "\(any) with prefix \(prefixLength)", found))
            if found != nil { return }
        }
    }
}

private extension Array where Element == UInt128 {
    var pair: (UInt128, UInt128) { (self[0], self[1]) }
}

// MARK: - Text

/// RFC 5952 text written independently of the library, from the eight 16-bit groups.
private func rfc5952(_ groups: [UInt16]) -> String {
    func hex(_ group: UInt16) -> String {
        let digits = Array("0123456789abcdef")
        var text = ""
        var value = group
        repeat {
            text = String(digits[Int(value % 16)]) + text
            value /= 16
        } while value > 0
        return text
    }
    // IPv4-mapped addresses (::ffff:0:0/96, a well-known prefix) keep the dotted tail (RFC 5952 §5).
    if groups[0..<5] == [0, 0, 0, 0, 0], groups[5] == 0xffff {
        return "::ffff:\(groups[6] >> 8).\(groups[6] & 0xff).\(groups[7] >> 8).\(groups[7] & 0xff)"
    }
    // §4.2: the longest run of two or more zero groups becomes "::", the first on a tie.
    var best: (start: Int, length: Int) = (0, 0)
    for start in 0..<8 {
        let length = groups[start...].prefix { $0 == 0 }.count
        if length > best.length { best = (start, length) }
    }
    let text = groups.map(hex)
    guard best.length >= 2 else { return text.joined(separator: ":") }
    return text[..<best.start].joined(separator: ":") + "::" + text[(best.start + best.length)...].joined(separator: ":")
}

private func bits(_ groups: [UInt16]) -> UInt128 { groups.reduce(0) { $0 << 16 | UInt128($1) } }

/// Eight groups, mostly zero, with values of every width so leading zeros get dropped, and
/// IPv4-mapped addresses and their near misses.
private func randomGroups(using random: inout SeededGenerator) -> [UInt16] {
    func anyGroup(_ random: inout SeededGenerator) -> UInt16 { UInt16.random(in: 0...UInt16.max, using: &random) }
    switch Int.random(in: 0..<20, using: &random) {
    case 0: return [0, 0, 0, 0, 0, 0xffff, anyGroup(&random), anyGroup(&random)]
    case 1:
        var nearlyMapped: [UInt16] = [0, 0, 0, 0, 0, 0xffff, anyGroup(&random), anyGroup(&random)]
        nearlyMapped[Int.random(in: 0...5, using: &random)] = [1, 0xfffe, 0xffff, anyGroup(&random)].randomElement(using: &random)!
        return nearlyMapped
    case 2: return [UInt16](repeating: 0, count: 8)
    default:
        let zeroChance = Int.random(in: 3...8, using: &random)
        return (0..<8).map { _ in
            if Int.random(in: 0..<10, using: &random) < zeroChance { return 0 }
            if Int.random(in: 0..<20, using: &random) == 0 { return 0xffff }
            let digits = Int.random(in: 1...4, using: &random)
            return UInt16.random(in: 0...UInt16(truncatingIfNeeded: (1 << (4 * digits)) - 1), using: &random)
        }
    }
}

/// Another valid spelling of the same address: leading zeros, upper case, any zero run as "::",
/// or a dotted IPv4 tail.
private func respelled(_ groups: [UInt16], using random: inout SeededGenerator) -> String {
    var fields = groups.map { group -> String in
        var text = String(group, radix: 16, uppercase: Bool.random(using: &random))
        while text.count < 4 && Bool.random(using: &random) { text = "0" + text }
        return text
    }
    var hexFields = 8
    if Bool.random(using: &random) {
        fields.removeLast(2)
        fields.append("\(groups[6] >> 8).\(groups[6] & 0xff).\(groups[7] >> 8).\(groups[7] & 0xff)")
        hexFields = 6
    }
    var zeroRuns: [Range<Int>] = []
    for start in 0..<hexFields {
        for end in (start + 1)...hexFields where groups[start..<end].allSatisfy({ $0 == 0 }) {
            zeroRuns.append(start..<end)
        }
    }
    if let run = zeroRuns.randomElement(using: &random), Bool.random(using: &random) {
        return fields[..<run.lowerBound].joined(separator: ":") + "::" + fields[run.upperBound...].joined(separator: ":")
    }
    return fields.joined(separator: ":")
}

extension AddressPropertyTests {
    @Test("IPv6 text is RFC 5952 and parses back; other spellings parse to the same address")
    func ipv6Text() {
        var random = PropertyRun.generator()
        for index in 0..<PropertyRun.cases(5000) {
            let groups = randomGroups(using: &random)
            let address = IPAddress(family: .ipv6, bits: bits(groups))!
            let expected = rfc5952(groups)
            let spelling = respelled(groups, using: &random)
            var found: String?
            if address.description != expected { found = "printed \(address.description), RFC 5952 says \(expected)" }
            else if IPAddress(address.description) != address { found = "\(address.description) does not parse back" }
            else if IPAddress(spelling) != address { found = "\(spelling) parses to \(IPAddress(spelling).map(String.init(describing:)) ?? "nothing")" }
            #expect(found == nil, PropertyRun.report(index, "groups \(groups.map { String($0, radix: 16) })", found))
            if found != nil { return }
        }
    }

    @Test("IPv6 text with a zone, a five-digit group, two \"::\", a \"::\" standing for no group or a group too many is refused")
    func ipv6TextRefused() {
        var random = PropertyRun.generator()
        for index in 0..<PropertyRun.cases(2000) {
            let groups = randomGroups(using: &random)
            let full = groups.map { String($0, radix: 16) }
            let position = Int.random(in: 0..<8, using: &random)
            let broken: String
            switch Int.random(in: 0..<5, using: &random) {
            case 0: broken = rfc5952(groups) + "%eth0"
            case 1: broken = full.enumerated().map { $0.offset == position ? "0000" + $0.element : $0.element }.joined(separator: ":")
            case 2: broken = full[..<position].joined(separator: ":") + "::" + full[position...].joined(separator: ":") + "::"
            case 3: broken = full[...position].joined(separator: ":") + "::" + full[(position + 1)...].joined(separator: ":")
            default: broken = (full + ["1"]).joined(separator: ":")
            }
            #expect(IPAddress(broken) == nil, PropertyRun.report(index, broken, "was accepted"))
            if IPAddress(broken) != nil { return }
        }
    }

    @Test("IPv4 text is a dotted quad without leading zeros and parses back")
    func ipv4Text() {
        var random = PropertyRun.generator()
        for index in 0..<PropertyRun.cases(4000) {
            let octets = (0..<4).map { _ in
                [0, 255, UInt8.random(in: 1...9, using: &random), UInt8.random(in: 10...99, using: &random),
                 UInt8.random(in: 0...255, using: &random)].randomElement(using: &random)!
            }
            let value = octets.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
            let address = IPAddress(family: .ipv4, bits: value)!
            let expected = octets.map { String($0) }.joined(separator: ".")
            var padded = octets.map { String($0) }
            let position = Int.random(in: 0..<4, using: &random)
            padded[position] = "0" + padded[position]
            var found: String?
            if address.description != expected { found = "printed \(address.description)" }
            else if IPAddress(expected) != address { found = "\(expected) does not parse back" }
            else if IPAddress(padded.joined(separator: ".")) != nil { found = "\(padded.joined(separator: ".")) has a leading zero but was accepted" }
            #expect(found == nil, PropertyRun.report(index, expected, found))
            if found != nil { return }
        }
    }
}

// MARK: - Ports

/// A window of 64 ports, small enough to look at each one.
struct PortWindow: Sendable, CustomStringConvertible {
    let first: Int
    var ports: ClosedRange<Int> { first...(first + 63) }
    var description: String { "ports \(ports.lowerBound)-\(ports.upperBound)" }
    static let all = [PortWindow(first: 1), PortWindow(first: 65472)]
}

private func randomRanges(in window: PortWindow, using random: inout SeededGenerator) -> [PortRange] {
    (0..<Int.random(in: 0...6, using: &random)).map { _ in
        let first = Int.random(in: window.ports, using: &random)
        let length = min(Int.random(in: 0...16, using: &random), Int.random(in: 0...16, using: &random))
        return try! PortRange(first, min(first + length, window.ports.upperBound))
    }
}

/// The ranges a sorted, overlap-free list must hold: a port is kept where `kept` says, and two
/// neighbouring kept ports share a range exactly when `joined` says so for the lower one.
private func expectedRanges(in window: PortWindow, kept: (Int) -> Bool, joined: (Int) -> Bool) -> [PortRange] {
    var result: [PortRange] = []
    var start: Int?
    for port in window.ports {
        guard kept(port) else { continue }
        if start == nil { start = port }
        if !(port < window.ports.upperBound && kept(port + 1) && joined(port)) {
            result.append(try! PortRange(start!, port))
            start = nil
        }
    }
    return result
}

extension AddressPropertyTests {
    @Test("PortRange.merged joins overlapping ranges only, sorted", arguments: PortWindow.all)
    func portsMerged(_ window: PortWindow) {
        var random = PropertyRun.generator()
        for index in 0..<PropertyRun.cases(2000) {
            let ranges = randomRanges(in: window, using: &random)
            let covered = { (port: Int) in ranges.contains { $0.contains(UInt16(port)) } }
            // Ports p and p+1 share a merged range exactly when one input range holds both.
            let joined = { (port: Int) in ranges.contains { Int($0.first) <= port && port + 1 <= Int($0.last) } }
            let expected = expectedRanges(in: window, kept: covered, joined: joined)
            let output = PortRange.merged(ranges)
            #expect(output == expected, PropertyRun.report(index, "merged(\(ranges)) = \(output)", "expected \(expected)"))
            if output != expected { return }
        }
    }

    @Test("subtract keeps exactly the ports not removed, as merged ranges", arguments: PortWindow.all)
    func portsSubtracted(_ window: PortWindow) {
        var random = PropertyRun.generator()
        for index in 0..<PropertyRun.cases(2000) {
            let ranges = randomRanges(in: window, using: &random)
            let removed = randomRanges(in: window, using: &random)
            let kept = { (port: Int) in
                ranges.contains { $0.contains(UInt16(port)) } && !removed.contains { $0.contains(UInt16(port)) }
            }
            let joined = { (port: Int) in ranges.contains { Int($0.first) <= port && port + 1 <= Int($0.last) } }
            let expected = expectedRanges(in: window, kept: kept, joined: joined)
            let output = subtract(ranges, removed)
            var found: String?
            if output != expected { found = "expected \(expected)" }
            else if PortRange.merged(output) != output { found = "not merged" }
            #expect(found == nil, PropertyRun.report(index, "subtract(\(ranges), \(removed)) = \(output)", found))
            if found != nil { return }
        }
    }
}
