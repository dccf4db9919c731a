import Testing
@testable import PortPolicy

/// The netlink layout every request and reader shares: a request as the kernel expects it, and
/// lengths that run past their end stop the walk instead of trapping.
@Suite struct NetlinkTests {
    func host<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

    @Test func aRequestIsHeaderFamilyAndPaddedAttributes() {
        let request = Netlink.message(type: Netlink.nftables(1), flags: Netlink.request, sequence: 9, family: Netlink.inet,
                                      attributes: [(1, Netlink.string("pc"))])
        let expected = host(UInt32(28)) + host(UInt16(10 << 8 | 1)) + host(UInt16(1)) + host(UInt32(9)) + host(UInt32(0))
            + [1, 0, 0, 0] + host(UInt16(7)) + host(UInt16(1)) + Array("pc".utf8) + [0, 0]
        #expect(request == expected)
    }

    @Test func walksStopAtALengthThatRunsPastTheEnd() {
        let good = host(UInt16(8)) + host(UInt16(0x8002)) + [0, 0, 0, 5]
        let bad = host(UInt16(40)) + host(UInt16(3)) + [1, 2, 3, 4]
        var seen: [UInt16] = []
        let malformed = Netlink.forEachAttribute(good + bad, from: 0, to: 16) { type, start, _ in
            seen.append(type)
            #expect((good + bad).bigEndian32(at: start) == 5)
        }
        #expect(seen == [2], "the nested flag is cleared")
        #expect(malformed == 8)
        #expect(Netlink.forEachAttribute(good, from: 0, to: 8) { _, _, _ in } == nil)

        let message = host(UInt32(20)) + host(UInt16(3)) + host(UInt16(0)) + host(UInt32(1)) + host(UInt32(0)) + [0, 0, 0, 0]
        let truncated = host(UInt32(400)) + Array(repeating: 0, count: 12)
        var types: [UInt16] = []
        #expect(Netlink.forEachMessage(message + truncated) { type, _, _ in types.append(type) } == 20)
        #expect(types == [3])
        #expect(Netlink.forEachMessage(message + truncated, count: 20) { _, _, _ in } == nil)
    }
}
