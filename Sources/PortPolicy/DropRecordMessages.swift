public import Foundation

/// The netlink messages that read the drop record's elements straight from the kernel
/// (`NFT_MSG_GETSETELEM`, dumped), built and decoded without I/O.
///
/// libnftables 1.0.6 takes about two seconds to list 65,536 elements of a concatenated set (as
/// text or JSON); the kernel's own dump of them takes a few milliseconds, and each element is a
/// fixed layout: the key's fields, each padded to four bytes (address, protocol, port in network
/// order, reason code in host order), the remaining time and the element's counter.
public enum DropRecordMessages {
    /// `NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETSETELEM`.
    static let getElements: UInt16 = 10 << 8 | 13
    /// `NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM`: what the dump answers with.
    static let newElements: UInt16 = 10 << 8 | 12
    static let done: UInt16 = 3, error: UInt16 = 2

    /// The dump request for set `set` of table `inet table`.
    public static func dumpRequest(table: String, set: String, sequence: UInt32) -> [UInt8] {
        var body: [UInt8] = [1 /* NFPROTO_INET */, 0 /* NFNETLINK_V0 */, 0, 0]
        appendAttribute(&body, type: 1 /* NFTA_SET_ELEM_LIST_TABLE */, Array(table.utf8) + [0])
        appendAttribute(&body, type: 2 /* NFTA_SET_ELEM_LIST_SET */, Array(set.utf8) + [0])
        var message: [UInt8] = []
        appendNative(&message, UInt32(16 + body.count))
        appendNative(&message, getElements)
        appendNative(&message, UInt16(0x1 | 0x300) /* NLM_F_REQUEST | NLM_F_DUMP */)
        appendNative(&message, sequence)
        appendNative(&message, UInt32(0))
        return message + body
    }

    /// What one received buffer held.
    public struct Chunk: Sendable {
        /// The elements decoded, in the kernel's order.
        public var connections: [DroppedConnection] = []
        /// Whether the dump ended (`NLMSG_DONE`).
        public var finished = false
        /// The kernel's error (a positive errno), if it answered with one.
        public var errno: Int32?
    }

    /// Decodes one buffer of the dump's answer: the elements of a drop record of `family`, whose
    /// elements are kept `keptMilliseconds` after their last packet, read at `now`, their reasons
    /// named from `ruleIDs`. Elements of another shape are skipped; a malformed message ends the
    /// buffer.
    public static func decode(_ bytes: [UInt8], family: IPFamily, keptMilliseconds: UInt64, ruleIDs: [String], now: Date) -> Chunk {
        var chunk = Chunk()
        var offset = 0
        while offset + 16 <= bytes.count {
            let length = Int(native32(bytes, offset))
            let type = native16(bytes, offset + 4)
            guard length >= 16, offset + length <= bytes.count else { break }
            switch type {
            case done:
                chunk.finished = true
            case error:
                let code = Int32(bitPattern: native32(bytes, offset + 16))
                if code != 0 { chunk.errno = -code }
                chunk.finished = true
            case newElements:
                // After the nfgenmsg header: the list's attributes.
                forEachAttribute(bytes, offset + 20, offset + length) { type, start, end in
                    guard type == 3 /* NFTA_SET_ELEM_LIST_ELEMENTS */ else { return }
                    forEachAttribute(bytes, start, end) { _, elementStart, elementEnd in
                        if let connection = element(bytes, elementStart, elementEnd, family: family, kept: keptMilliseconds, ruleIDs: ruleIDs, now: now) {
                            chunk.connections.append(connection)
                        }
                    }
                }
            default:
                break
            }
            offset += (length + 3) & ~3
        }
        return chunk
    }

    /// One `NFTA_LIST_ELEM`'s attributes as a refused connection.
    static func element(_ bytes: [UInt8], _ start: Int, _ end: Int, family: IPFamily, kept: UInt64, ruleIDs: [String], now: Date) -> DroppedConnection? {
        var key: (Int, Int)?
        var timeout = kept, expiration: UInt64?
        var packets: UInt64 = 0
        func readCounter(_ start: Int, _ end: Int) {
            var name = ""
            var data: (Int, Int)?
            forEachAttribute(bytes, start, end) { type, from, to in
                if type == 1 /* NFTA_EXPR_NAME */ { name = String(decoding: bytes[from..<to].prefix { $0 != 0 }, as: UTF8.self) }
                if type == 2 /* NFTA_EXPR_DATA */ { data = (from, to) }
            }
            guard name == "counter", let data else { return }
            forEachAttribute(bytes, data.0, data.1) { type, from, to in
                if type == 2 /* NFTA_COUNTER_PACKETS */, to - from == 8 { packets = bigEndian64(bytes, from) }
            }
        }
        forEachAttribute(bytes, start, end) { type, from, to in
            switch type {
            case 1: // NFTA_SET_ELEM_KEY { NFTA_DATA_VALUE }
                forEachAttribute(bytes, from, to) { inner, valueStart, valueEnd in
                    if inner == 1 { key = (valueStart, valueEnd) }
                }
            case 4 where to - from == 8: timeout = bigEndian64(bytes, from)    // NFTA_SET_ELEM_TIMEOUT, ms
            case 5 where to - from == 8: expiration = bigEndian64(bytes, from) // NFTA_SET_ELEM_EXPIRATION, ms
            case 7: readCounter(from, to)                                       // NFTA_SET_ELEM_EXPR
            case 10:                                                            // NFTA_SET_ELEM_EXPRESSIONS
                forEachAttribute(bytes, from, to) { _, exprStart, exprEnd in readCounter(exprStart, exprEnd) }
            default: break
            }
        }
        let width = family == .ipv4 ? 4 : 16
        guard let (keyStart, keyEnd) = key, keyEnd - keyStart == width + 12 else { return nil }
        var bits: UInt128 = 0
        for byte in bytes[keyStart..<keyStart + width] { bits = bits << 8 | UInt128(byte) }
        guard let address = IPAddress(family: family, bits: bits) else { return nil }
        let proto: TransportProtocol
        switch bytes[keyStart + width] {
        case 6: proto = .tcp
        case 17: proto = .udp
        default: return nil
        }
        let port = UInt16(bytes[keyStart + width + 4]) << 8 | UInt16(bytes[keyStart + width + 5])
        let code = native32(bytes, keyStart + width + 8)
        guard let reason = DropReason(code: code, ruleIDs: ruleIDs) else { return nil }
        let left = min(expiration ?? timeout, timeout)
        let lastSeen = now.addingTimeInterval(-Double(timeout - left) / 1000)
        return DroppedConnection(source: address, proto: proto, port: port, reason: reason, packets: Int(clamping: packets), lastSeen: lastSeen)
    }

    /// Calls `body` with each attribute's type (flags masked off) and payload bounds.
    static func forEachAttribute(_ bytes: [UInt8], _ start: Int, _ end: Int, _ body: (UInt16, Int, Int) -> Void) {
        var offset = start
        while offset + 4 <= end {
            let length = Int(native16(bytes, offset))
            guard length >= 4, offset + length <= end else { return }
            body(native16(bytes, offset + 2) & 0x3FFF, offset + 4, offset + length)
            offset += (length + 3) & ~3
        }
    }

    static func appendAttribute(_ out: inout [UInt8], type: UInt16, _ payload: [UInt8]) {
        appendNative(&out, UInt16(4 + payload.count))
        appendNative(&out, type)
        out += payload
        while out.count % 4 != 0 { out.append(0) }
    }

    static func appendNative<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value) { out += $0 }
    }

    static func native16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt16.self) }
    }

    static func native32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    }

    static func bigEndian64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        UInt64(bigEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) })
    }
}
