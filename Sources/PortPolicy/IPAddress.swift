import Foundation

/// An IP address family, in nftables' words: `ip` is IPv4, `ip6` is IPv6.
public enum IPFamily: String, Sendable, Hashable, Codable, CaseIterable {
    /// IPv4.
    case ipv4
    /// IPv6.
    case ipv6

    /// The number of bits in an address of this family.
    public var bitWidth: Int { self == .ipv4 ? 32 : 128 }
}

/// One IPv4 or IPv6 address, held as an unsigned integer so that masks and ranges are arithmetic.
public struct IPAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The address family.
    public let family: IPFamily
    /// The address bits, right-aligned (an IPv4 address uses the low 32 bits).
    public let bits: UInt128

    /// Makes an address from its family and bits; bits beyond the family's width are an error.
    public init?(family: IPFamily, bits: UInt128) {
        if family == .ipv4 && bits > UInt128(UInt32.max) { return nil }
        self.family = family
        self.bits = bits
    }

    /// Parses dotted-quad IPv4 (`198.51.100.7`) or RFC 4291 IPv6 (`2001:db8::7`, `::ffff:1.2.3.4`).
    /// Leading zeros in IPv4 octets and IPv6 zone ids are refused: they mean different things to
    /// different tools.
    public init?(_ text: some StringProtocol) {
        if text.utf8.contains(UInt8(ascii: ":")) {
            guard let bits = Self.parseIPv6(String(text)) else { return nil }
            self.family = .ipv6
            self.bits = bits
        } else {
            guard let bits = Self.parseIPv4(text) else { return nil }
            self.family = .ipv4
            self.bits = UInt128(bits)
        }
    }

    /// The canonical text: dotted quad for IPv4, RFC 5952 for IPv6 (as nftables lists it).
    public var description: String {
        switch family {
        case .ipv4: return Self.formatIPv4(UInt32(truncatingIfNeeded: bits))
        case .ipv6: return Self.formatIPv6(bits)
        }
    }

    /// Orders IPv4 before IPv6, then numerically.
    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        if lhs.family != rhs.family { return lhs.family == .ipv4 }
        return lhs.bits < rhs.bits
    }

    /// Parses a dotted quad from its UTF-8 bytes (policy files hold up to 100,000 of them).
    static func parseIPv4(_ text: some StringProtocol) -> UInt32? {
        var value: UInt32 = 0, octet: UInt32 = 0, digits = 0, dots = 0, leadingZero = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | octet
                octet = 0; digits = 0; dots += 1
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                if digits == 0 { leadingZero = byte == UInt8(ascii: "0") } else if leadingZero { return nil }
                digits += 1
                octet = octet * 10 + UInt32(byte - UInt8(ascii: "0"))
                guard digits <= 3, octet <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard dots == 3, digits > 0 else { return nil }
        return value << 8 | octet
    }

    static func parseIPv6(_ text: String) -> UInt128? {
        guard !text.contains("%"), text.count <= 45 else { return nil }
        // Split around the one allowed "::".
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String, allowIPv4Tail: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            var result: [UInt16] = []
            for (index, field) in fields.enumerated() {
                if allowIPv4Tail && index == fields.count - 1 && field.contains(".") {
                    guard let v4 = parseIPv4(String(field)) else { return nil }
                    result.append(UInt16(v4 >> 16))
                    result.append(UInt16(v4 & 0xffff))
                    continue
                }
                guard (1...4).contains(field.count), field.allSatisfy({ $0.isHexDigit && $0.isASCII }),
                      let group = UInt16(field, radix: 16)
                else { return nil }
                result.append(group)
            }
            return result
        }
        var all: [UInt16]
        if halves.count == 2 {
            guard let head = groups(halves[0], allowIPv4Tail: false),
                  let tail = groups(halves[1], allowIPv4Tail: true),
                  head.count + tail.count <= 7
            else { return nil }
            all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard let full = groups(halves[0], allowIPv4Tail: true), full.count == 8 else { return nil }
            all = full
        }
        return all.reduce(UInt128(0)) { $0 << 16 | UInt128($1) }
    }

    static func formatIPv4(_ value: UInt32) -> String {
        // At most 15 bytes: a small string, written in place.
        String(unsafeUninitializedCapacity: 15) { buffer in
            var count = 0
            for shift in stride(from: 24, through: 0, by: -8) {
                let octet = UInt8(truncatingIfNeeded: value >> UInt32(shift))
                if octet >= 100 { buffer[count] = 48 + octet / 100; count += 1 }
                if octet >= 10 { buffer[count] = 48 + octet / 10 % 10; count += 1 }
                buffer[count] = 48 + octet % 10
                count += 1
                if shift > 0 { buffer[count] = UInt8(ascii: "."); count += 1 }
            }
            return count
        }
    }

    static func formatIPv6(_ value: UInt128) -> String {
        let groups = (0..<8).map { UInt16(truncatingIfNeeded: value >> (112 - 16 * $0)) }
        // IPv4-mapped addresses keep the dotted tail, as nftables and inet_ntop print them.
        if groups[0..<5].allSatisfy({ $0 == 0 }) && groups[5] == 0xffff {
            return "::ffff:" + formatIPv4(UInt32(truncatingIfNeeded: value))
        }
        // The longest run of two or more zero groups becomes "::" (the first one on a tie).
        var bestStart = -1, bestLength = 0, index = 0
        while index < 8 {
            if groups[index] == 0 {
                var end = index
                while end < 8 && groups[end] == 0 { end += 1 }
                if end - index > bestLength { bestStart = index; bestLength = end - index }
                index = end
            } else {
                index += 1
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        if bestLength < 2 { return hex.joined(separator: ":") }
        let head = hex[0..<bestStart].joined(separator: ":")
        let tail = hex[(bestStart + bestLength)...].joined(separator: ":")
        return head + "::" + tail
    }
}

/// An address block in CIDR form: `10.0.0.0/8`, `2001:db8::/32`, or one host (`198.51.100.7`).
///
/// Host bits must be clear: `10.0.0.1/8` is refused (it usually hides a typo), and the error
/// suggests `10.0.0.0/8`.
public struct IPNetwork: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// The first address of the block.
    public let address: IPAddress
    /// The prefix length, from 0 to the family's width.
    public let prefixLength: Int

    /// Makes a network from an address with clear host bits and a prefix length.
    public init(address: IPAddress, prefixLength: Int) throws(PolicyError) {
        guard (0...address.family.bitWidth).contains(prefixLength) else {
            throw .invalidSource("\(address)/\(prefixLength)",
                                 reason: "prefix length must be 0 to \(address.family.bitWidth)")
        }
        let masked = IPNetwork.mask(address, prefixLength)
        guard masked == address else {
            throw .invalidSource("\(address)/\(prefixLength)",
                                 reason: "host bits are set; did you mean \(masked)/\(prefixLength)?")
        }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Parses `ADDRESS` or `ADDRESS/PREFIX`; an address alone is a single host.
    public init(parsing text: String) throws(PolicyError) {
        let trimmed = text
        guard !trimmed.isEmpty else {
            throw .invalidSource(text, reason: "expected an IPv4 or IPv6 address or CIDR, like 10.0.0.0/8 or 2001:db8::/32")
        }
        let pieces = trimmed.utf8.split(separator: UInt8(ascii: "/"), maxSplits: 1, omittingEmptySubsequences: false)
            .map { Substring($0) }
        guard let address = IPAddress(pieces[0]) else {
            throw .invalidSource(text, reason: "not an IPv4 or IPv6 address; expected a form like 10.0.0.0/8 or 2001:db8::/32")
        }
        // ::ffff:a.b.c.d never matches in nftables: IPv4 traffic carries the IPv4 address.
        if address.family == .ipv6, address.bits >> 32 == 0xffff {
            let v4 = IPAddress(family: .ipv4, bits: address.bits & 0xffff_ffff)!
            throw .invalidSource(text, reason: "an IPv4-mapped IPv6 address never matches: IPv4 traffic is matched by its IPv4 address; write \(v4)")
        }
        var length = address.family.bitWidth
        if pieces.count == 2 {
            let digits = pieces[1]
            // No sign, no spaces, no leading zero: "/024" is refused, not read as 24.
            guard !digits.isEmpty, digits.utf8.count <= 3, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                  digits.utf8.count == 1 || digits.utf8.first != UInt8(ascii: "0"),
                  let parsed = Int(digits), parsed <= address.family.bitWidth
            else {
                throw .invalidSource(text, reason: "prefix length must be a number from 0 to \(address.family.bitWidth)")
            }
            length = parsed
        }
        try self.init(address: address, prefixLength: length)
    }

    /// The address family of the block.
    public var family: IPFamily { address.family }

    /// The last address of the block.
    public var lastAddress: IPAddress {
        let hostBits = family.bitWidth - prefixLength
        let hostMask: UInt128 = hostBits == 0 ? 0 : (hostBits == 128 ? .max : (UInt128(1) << hostBits) - 1)
        return IPAddress(family: family, bits: address.bits | hostMask)!
    }

    /// Whether the block holds `other`.
    public func contains(_ other: IPAddress) -> Bool {
        other.family == family && other.bits >= address.bits && other.bits <= lastAddress.bits
    }

    /// Whether the two blocks share an address (one holds the other: prefixes nest or part).
    public func overlaps(_ other: IPNetwork) -> Bool {
        contains(other.address) || other.contains(address)
    }

    /// `ADDRESS/PREFIX`, or the bare address for a single host, as nftables lists it.
    public var description: String {
        prefixLength == family.bitWidth ? address.description : address.description + "/" + String(prefixLength)
    }

    /// Orders by family, then first address, then wider blocks first.
    public static func < (lhs: IPNetwork, rhs: IPNetwork) -> Bool {
        if lhs.address != rhs.address { return lhs.address < rhs.address }
        return lhs.prefixLength < rhs.prefixLength
    }

    static func mask(_ address: IPAddress, _ prefixLength: Int) -> IPAddress {
        let width = address.family.bitWidth
        let hostBits = width - prefixLength
        if hostBits == 0 { return address }
        if hostBits >= 128 { return IPAddress(family: address.family, bits: 0)! }
        let cleared = address.bits & ~((UInt128(1) << hostBits) - 1)
        return IPAddress(family: address.family, bits: cleared)!
    }

    /// Encodes as its text form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// Decodes from its text form, with the same checks as ``init(parsing:)``.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(parsing: text)
    }

    /// Merges overlapping and adjacent blocks and returns the fewest CIDR blocks covering exactly
    /// the same addresses, sorted. nftables interval sets refuse overlapping elements, so every
    /// rendered set goes through this.
    public static func merged(_ networks: [IPNetwork]) -> [IPNetwork] {
        var result: [IPNetwork] = []
        result.reserveCapacity(networks.count)
        for family in IPFamily.allCases {
            var ranges: [(low: UInt128, high: UInt128)] = []
            ranges.reserveCapacity(networks.count)
            var sorted = true
            for network in networks where network.family == family {
                let range = (low: network.address.bits, high: network.address.bits | network.hostMask)
                if let last = ranges.last, range.low < last.low { sorted = false }
                ranges.append(range)
            }
            if !sorted { ranges.sort { $0.low < $1.low } }
            var current: (low: UInt128, high: UInt128)?
            for range in ranges {
                if let open = current, open.high == .max || range.low <= open.high + 1 {
                    current = (open.low, max(open.high, range.high))
                } else {
                    if let open = current { appendCIDRs(family: family, from: open.low, to: open.high, to: &result) }
                    current = range
                }
            }
            if let open = current { appendCIDRs(family: family, from: open.low, to: open.high, to: &result) }
        }
        return result
    }

    /// Whether the networks together hold every address of `family`: `0.0.0.0/0`, but also
    /// `0.0.0.0/1` with `128.0.0.0/1`, or any list whose merge is the whole family. Coverage is
    /// computed, not spelled.
    public static func coverWholeFamily(_ networks: [IPNetwork], _ family: IPFamily) -> Bool {
        // Blocks whose sizes add up to less than the family cannot cover it: no merge needed
        // for the usual lists of host addresses and small networks.
        var total = 0.0
        for network in networks where network.family == family {
            if network.prefixLength == 0 { return true }
            total += Double(sign: .plus, exponent: family.bitWidth - network.prefixLength, significand: 1)
        }
        guard total >= Double(sign: .plus, exponent: family.bitWidth, significand: 1) * 0.999 else { return false }
        let merged = merged(networks.filter { $0.family == family })
        return merged.count == 1 && merged[0].prefixLength == 0
    }

    /// The addresses of `networks` that no network of `removed` holds, as the fewest CIDR
    /// blocks, sorted: taking `198.51.100.128/25` out of `198.51.100.0/24` leaves
    /// `198.51.100.0/25`.
    public static func subtracting(_ removed: [IPNetwork], from networks: [IPNetwork]) -> [IPNetwork] {
        var result: [IPNetwork] = []
        for family in IPFamily.allCases {
            let cuts = merged(removed.filter { $0.family == family })
            for block in merged(networks.filter { $0.family == family }) {
                var low = block.address.bits
                let high = block.address.bits | block.hostMask
                var covered = false
                for cut in cuts {
                    let cutLow = cut.address.bits, cutHigh = cut.address.bits | cut.hostMask
                    if cutHigh < low || cutLow > high { continue }
                    if cutLow > low { appendCIDRs(family: family, from: low, to: cutLow - 1, to: &result) }
                    if cutHigh >= high { covered = true; break }
                    low = cutHigh + 1
                }
                if !covered { appendCIDRs(family: family, from: low, to: high, to: &result) }
            }
        }
        return result
    }

    /// The host part's mask: all ones below the prefix.
    var hostMask: UInt128 {
        let hostBits = family.bitWidth - prefixLength
        return hostBits == 0 ? 0 : (hostBits == 128 ? .max : (UInt128(1) << hostBits) - 1)
    }

    /// A network known to be valid (aligned, prefix in range): no checks.
    private init(aligned address: IPAddress, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Splits the inclusive range `low...high` into the fewest aligned CIDR blocks.
    static func cidrs(family: IPFamily, from low: UInt128, to high: UInt128) -> [IPNetwork] {
        var blocks: [IPNetwork] = []
        appendCIDRs(family: family, from: low, to: high, to: &blocks)
        return blocks
    }

    private static func appendCIDRs(family: IPFamily, from low: UInt128, to high: UInt128, to blocks: inout [IPNetwork]) {
        var start = low
        let width = family.bitWidth
        while true {
            // The largest block that starts at `start` (alignment) and does not pass `high`.
            var hostBits = start == 0 ? width : min(start.trailingZeroBitCount, width)
            while hostBits > 0 {
                let size: UInt128 = hostBits == 128 ? .max : (UInt128(1) << hostBits) - 1
                if high - start >= size { break }
                hostBits -= 1
            }
            blocks.append(IPNetwork(aligned: IPAddress(family: family, bits: start)!, prefixLength: width - hostBits))
            let end: UInt128 = hostBits == 128 ? .max : start | ((UInt128(1) << hostBits) - 1)
            if end >= high { break }
            start = end + 1
        }
    }
}

extension IPNetwork {
    /// What only `first` holds and what only `second` holds, each in its order. Linear when both
    /// are strictly sorted (merged sets always are: no hashing of 100,000 elements); by hashing
    /// otherwise.
    public static func difference(_ first: [IPNetwork], _ second: [IPNetwork]) -> (onlyInFirst: [IPNetwork], onlyInSecond: [IPNetwork]) {
        func strictlySorted(_ list: [IPNetwork]) -> Bool {
            list.indices.dropFirst().allSatisfy { list[$0 - 1] < list[$0] }
        }
        guard strictlySorted(first), strictlySorted(second) else {
            let firstSet = Set(first), secondSet = Set(second)
            return (first.filter { !secondSet.contains($0) }, second.filter { !firstSet.contains($0) })
        }
        var onlyFirst: [IPNetwork] = [], onlySecond: [IPNetwork] = []
        var i = 0, j = 0
        while i < first.count && j < second.count {
            if first[i] == second[j] {
                i += 1
                j += 1
            } else if first[i] < second[j] {
                onlyFirst.append(first[i])
                i += 1
            } else {
                onlySecond.append(second[j])
                j += 1
            }
        }
        onlyFirst += first[i...]
        onlySecond += second[j...]
        return (onlyFirst, onlySecond)
    }

    /// Parses addresses and CIDRs separated by commas, as typed after `--from`
    /// (`198.51.100.0/24, 2001:db8::/32`); spaces around items are allowed, empty items are not.
    public static func parseCommaList(_ text: String) throws(PolicyError) -> [IPNetwork] {
        var result: [IPNetwork] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            result.append(try IPNetwork(parsing: item.trimmingASCIISpaces()))
        }
        return result
    }

    /// Parses an address list file: one address or CIDR per line; blank lines and `#` comments
    /// (whole-line or trailing) are ignored. Errors name the line.
    /// With `allowEmpty`, a list of no addresses is no error (an address file a rule reads may be
    /// emptied: the rule then matches no one). With `quiet`, errors do not quote the bad line: a
    /// file root reads for a policy may be one the caller could not read (a secret).
    public static func parseList(_ text: String, name: String, allowEmpty: Bool = false, quiet: Bool = false) throws(PolicyError) -> [IPNetwork] {
        var networks: [IPNetwork] = []
        networks.reserveCapacity(text.utf8.count / 12)
        var lineNumber = 0
        // A file saved on Windows ends its lines with CR LF, one Character in Swift.
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let trimmed = content.trimmingASCIISpaces()
            if trimmed.isEmpty { continue }
            do {
                networks.append(try IPNetwork(parsing: trimmed))
            } catch {
                if quiet {
                    throw .invalidDocument("\(name), line \(lineNumber): not an IPv4 or IPv6 address or CIDR (the line is not shown: address files are read as root)")
                }
                throw .invalidDocument("\(name), line \(lineNumber): \(error)")
            }
        }
        if networks.isEmpty && !allowEmpty {
            throw .invalidDocument("\(name) lists no addresses; it needs one address or CIDR per line")
        }
        return networks
    }
}

extension StringProtocol {
    /// The text without leading and trailing ASCII spaces, tabs and carriage returns. Other
    /// Unicode spaces (a zero-width space pasted after an address) stay, and are refused by the
    /// parser that reads the text, rather than silently dropped.
    public func trimmingASCIISpaces() -> String {
        let bytes = Array(utf8)
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0d }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}

/// CIDR arithmetic on lists of networks of one family.
enum AddressBlocks {
    /// Whether `outer` holds every address of `inner`.
    static func covers(_ outer: IPNetwork, _ inner: IPNetwork) -> Bool {
        outer.family == inner.family && outer.prefixLength <= inner.prefixLength && outer.contains(inner.address)
    }

    /// Whether some address is in both lists.
    static func overlap(_ a: [IPNetwork], _ b: [IPNetwork]) -> Bool {
        a.contains { x in b.contains { y in covers(x, y) || covers(y, x) } }
    }

    /// The addresses in both lists (CIDR blocks are nested or apart, so each overlap is the smaller block).
    static func intersect(_ a: [IPNetwork], _ b: [IPNetwork]) -> [IPNetwork] {
        var result: [IPNetwork] = []
        for x in a {
            for y in b {
                if covers(x, y) { result.append(y) } else if covers(y, x) { result.append(x) }
            }
        }
        return normalized(result)
    }

    /// `a` without the addresses of `b`.
    static func subtract(_ a: [IPNetwork], _ b: [IPNetwork]) -> [IPNetwork] {
        var pieces = a
        for cut in b {
            pieces = pieces.flatMap { piece -> [IPNetwork] in
                if covers(cut, piece) { return [] }
                if !covers(piece, cut) { return [piece] }
                return split(piece, around: cut)
            }
        }
        return pieces
    }

    /// The blocks of `outer` that are not in `inner` (which it holds): one per bit on the way down.
    static func split(_ outer: IPNetwork, around inner: IPNetwork) -> [IPNetwork] {
        let width = outer.family.bitWidth
        var result: [IPNetwork] = []
        var current = outer
        while current.prefixLength < inner.prefixLength {
            let length = current.prefixLength + 1
            let bit = UInt128(1) << (width - length)
            let low = current.address.bits, high = current.address.bits | bit
            let (holding, sibling) = inner.address.bits & bit != 0 ? (high, low) : (low, high)
            result.append(try! IPNetwork(address: IPAddress(family: outer.family, bits: sibling)!, prefixLength: length))
            current = try! IPNetwork(address: IPAddress(family: outer.family, bits: holding)!, prefixLength: length)
        }
        return result
    }

    /// Sorted, without duplicates and without networks another one in the list holds. Sorted by
    /// first address, wider first, a block that another holds comes right after the kept block
    /// that holds it (blocks are nested or apart), so one pass does it.
    static func normalized(_ list: [IPNetwork]) -> [IPNetwork] {
        var result: [IPNetwork] = []
        for network in list.sorted() {
            if let last = result.last, covers(last, network) { continue }
            result.append(network)
        }
        return result
    }

    /// `0.0.0.0/0` or `::/0`.
    static func any(_ family: IPFamily) -> IPNetwork {
        try! IPNetwork(address: IPAddress(family: family, bits: 0)!, prefixLength: 0)
    }
}
