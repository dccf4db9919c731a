/// The layout of netfilter's netlink messages (nfnetlink), packed and walked without I/O: the
/// one place portctl's requests to the kernel and its readers of the kernel's answers (the drop
/// record's dump, trace events, a table's flags, the ruleset generation) take it from.
///
/// A message is a `nlmsghdr` (length, type, flags, sequence, port id: host byte order), then for
/// nfnetlink a `nfgenmsg` (family, version, resource id), then attributes: each a length and a
/// type (host order), its value, and padding to four bytes. Values are in network order unless
/// the attribute says otherwise.
package enum Netlink {
    /// `NLMSG_ERROR`: the kernel's answer carries an errno (negative, host order) after the header.
    package static let error: UInt16 = 2
    /// `NLMSG_DONE`: a dump ended.
    package static let done: UInt16 = 3
    /// `NLM_F_REQUEST`.
    package static let request: UInt16 = 0x1
    /// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`): every object the request matches.
    package static let dump: UInt16 = 0x300
    /// `NFPROTO_INET`, the family of portctl's tables.
    package static let inet: UInt8 = 1

    /// The message type of nf_tables message `message` (`NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_…`).
    package static func nftables(_ message: UInt16) -> UInt16 { 10 << 8 | message }

    /// A request of `type` with an nfgenmsg for `family` and the given attributes, in order.
    package static func message(type: UInt16, flags: UInt16, sequence: UInt32, family: UInt8,
                                attributes: [(type: UInt16, value: [UInt8])]) -> [UInt8] {
        var body: [UInt8] = [family, 0 /* NFNETLINK_V0 */, 0, 0]
        for attribute in attributes {
            appendHost(&body, UInt16(4 + attribute.value.count))
            appendHost(&body, attribute.type)
            body += attribute.value
            while body.count % 4 != 0 { body.append(0) }
        }
        var message: [UInt8] = []
        appendHost(&message, UInt32(16 + body.count))
        appendHost(&message, type)
        appendHost(&message, flags)
        appendHost(&message, sequence)
        appendHost(&message, UInt32(0))
        return message + body
    }

    /// A string attribute's value: the text and its terminating NUL.
    package static func string(_ text: String) -> [UInt8] { Array(text.utf8) + [0] }

    /// Calls `body` with each message in `bytes[..<count]`: its type and the bounds of what
    /// follows its header. Returns nil when the messages filled the bytes exactly, or the offset
    /// of a message whose length runs past the end (nothing after it is read).
    @discardableResult
    package static func forEachMessage<Failure: Error>(_ bytes: [UInt8], count: Int? = nil,
                                                       _ body: (_ type: UInt16, _ start: Int, _ end: Int) throws(Failure) -> Void) throws(Failure) -> Int? {
        let count = min(count ?? bytes.count, bytes.count)
        var offset = 0
        while offset + 16 <= count {
            let length = Int(bytes.host32(at: offset))
            guard length >= 16, offset + length <= count else { return offset }
            try body(bytes.host16(at: offset + 4), offset + 16, offset + length)
            offset += (length + 3) & ~3
        }
        return nil
    }

    /// Calls `body` with each attribute in `bytes[start..<end]`: its type (the nested and
    /// byte-order flags cleared) and the bounds of its value. Returns nil when the attributes
    /// filled the range, or the offset of one whose length runs past it (nothing after it is
    /// read).
    @discardableResult
    package static func forEachAttribute<Failure: Error>(_ bytes: [UInt8], from start: Int, to end: Int,
                                                         _ body: (_ type: UInt16, _ start: Int, _ end: Int) throws(Failure) -> Void) throws(Failure) -> Int? {
        var offset = start
        while offset + 4 <= end {
            let length = Int(bytes.host16(at: offset))
            guard length >= 4, offset + length <= end else { return offset }
            try body(bytes.host16(at: offset + 2) & 0x3fff, offset + 4, offset + length)
            offset += (length + 3) & ~3
        }
        return nil
    }

    private static func appendHost<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value) { out += $0 }
    }
}

extension [UInt8] {
    /// A netlink header field: host byte order.
    package func host16(at offset: Int) -> UInt16 {
        withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt16.self) }
    }

    /// A netlink header field, or a value nf_tables keeps in host order (a mark in a set key).
    package func host32(at offset: Int) -> UInt32 {
        withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    }

    /// An attribute value in network order.
    package func bigEndian16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) << 8 | UInt16(self[offset + 1])
    }

    /// An attribute value in network order.
    package func bigEndian32(at offset: Int) -> UInt32 {
        UInt32(bigEndian16(at: offset)) << 16 | UInt32(bigEndian16(at: offset + 2))
    }

    /// An attribute value in network order.
    package func bigEndian64(at offset: Int) -> UInt64 {
        UInt64(bigEndian32(at: offset)) << 32 | UInt64(bigEndian32(at: offset + 4))
    }

    /// An IPv6 address.
    package func bigEndian128(at offset: Int) -> UInt128 {
        UInt128(bigEndian64(at: offset)) << 64 | UInt128(bigEndian64(at: offset + 8))
    }

    /// A NUL-terminated (or not) string attribute.
    package func string(from start: Int, to end: Int) -> String {
        var stop = start
        while stop < end, self[stop] != 0 { stop += 1 }
        return String(decoding: self[start..<stop], as: UTF8.self)
    }
}
