public import Foundation

/// The netlink messages that read the drop record's elements straight from the kernel
/// (`NFT_MSG_GETSETELEM`, dumped), built and decoded without I/O.
///
/// libnftables 1.0.6 takes about two seconds to list 65,536 elements of a concatenated set (as
/// text or JSON); the kernel's own dump of them takes a few milliseconds, and each element is a
/// fixed layout: the key's fields, each padded to four bytes (address, protocol, port in network
/// order, reason code in host order), the remaining time and the element's counter.
public enum DropRecordMessages {
    /// `NFT_MSG_GETSETELEM`.
    static let getElements = Netlink.nftables(13)
    /// `NFT_MSG_NEWSETELEM`: what the dump answers with.
    static let newElements = Netlink.nftables(12)

    /// The dump request for set `set` of table `inet table`.
    public static func dumpRequest(table: String, set: String, sequence: UInt32) -> [UInt8] {
        Netlink.message(type: getElements, flags: Netlink.request | Netlink.dump, sequence: sequence, family: Netlink.inet,
                        attributes: [(1 /* NFTA_SET_ELEM_LIST_TABLE */, Netlink.string(table)),
                                     (2 /* NFTA_SET_ELEM_LIST_SET */, Netlink.string(set))])
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
        Netlink.forEachMessage(bytes) { type, start, end in
            switch type {
            case Netlink.done:
                chunk.finished = true
            case Netlink.error:
                let code = Int32(bitPattern: bytes.host32(at: start))
                if code != 0 { chunk.errno = -code }
                chunk.finished = true
            case newElements:
                // After the nfgenmsg header: the list's attributes.
                Netlink.forEachAttribute(bytes, from: start + 4, to: end) { type, start, end in
                    guard type == 3 /* NFTA_SET_ELEM_LIST_ELEMENTS */ else { return }
                    Netlink.forEachAttribute(bytes, from: start, to: end) { _, elementStart, elementEnd in
                        if let connection = element(bytes, elementStart, elementEnd, family: family, kept: keptMilliseconds, ruleIDs: ruleIDs, now: now) {
                            chunk.connections.append(connection)
                        }
                    }
                }
            default:
                break
            }
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
            Netlink.forEachAttribute(bytes, from: start, to: end) { type, from, to in
                if type == 1 /* NFTA_EXPR_NAME */ { name = bytes.string(from: from, to: to) }
                if type == 2 /* NFTA_EXPR_DATA */ { data = (from, to) }
            }
            guard name == "counter", let data else { return }
            Netlink.forEachAttribute(bytes, from: data.0, to: data.1) { type, from, to in
                if type == 2 /* NFTA_COUNTER_PACKETS */, to - from == 8 { packets = bytes.bigEndian64(at: from) }
            }
        }
        Netlink.forEachAttribute(bytes, from: start, to: end) { type, from, to in
            switch type {
            case 1: // NFTA_SET_ELEM_KEY { NFTA_DATA_VALUE }
                Netlink.forEachAttribute(bytes, from: from, to: to) { inner, valueStart, valueEnd in
                    if inner == 1 { key = (valueStart, valueEnd) }
                }
            case 4 where to - from == 8: timeout = bytes.bigEndian64(at: from)    // NFTA_SET_ELEM_TIMEOUT, ms
            case 5 where to - from == 8: expiration = bytes.bigEndian64(at: from) // NFTA_SET_ELEM_EXPIRATION, ms
            case 7: readCounter(from, to)                                       // NFTA_SET_ELEM_EXPR
            case 10:                                                            // NFTA_SET_ELEM_EXPRESSIONS
                Netlink.forEachAttribute(bytes, from: from, to: to) { _, exprStart, exprEnd in readCounter(exprStart, exprEnd) }
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
        let code = bytes.host32(at: keyStart + width + 8)
        guard let reason = DropReason(code: code, ruleIDs: ruleIDs) else { return nil }
        let left = min(expiration ?? timeout, timeout)
        let lastSeen = now.addingTimeInterval(-Double(timeout - left) / 1000)
        return DroppedConnection(source: address, proto: proto, port: port, reason: reason, packets: Int(clamping: packets), lastSeen: lastSeen)
    }
}
