/// Why a policy, a rule or a piece of one was refused.
///
/// Every message is one lowercase line that quotes the offending value and says what is allowed,
/// e.g. `invalid port "65536": ports run from 1 to 65535`.
public indirect enum PolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A port or port list that is not 1–65535, a reversed range, or malformed.
    case invalidPort(String, reason: String)
    /// A protocol other than `tcp`, `udp` or `both`.
    case invalidProtocol(String)
    /// An address or CIDR that does not parse, has a bad prefix, or has host bits set.
    case invalidSource(String, reason: String)
    /// A service name that is not in the services database.
    case unknownService(String)
    /// A rule id that is empty, too long, or has characters other than letters, digits, `.`, `_`, `-`.
    case invalidID(String, reason: String)
    /// Two rules with one id.
    case duplicateID(String)
    /// A comment nftables would misread, or one that is too long.
    case invalidComment(String, reason: String)
    /// An interface name that is not a valid Linux interface name.
    case invalidInterface(String, reason: String)
    /// A value of a closed set (action, direction, default) that is not one of its members.
    case invalidValue(String, field: String, allowed: [String])
    /// A rule whose parts contradict each other (e.g. `to` on an inbound rule).
    case invalidRule(String)
    /// The policy file (or text) could not be read as a policy.
    case invalidDocument(String)
    /// An error located inside one rule of a policy.
    case inRule(String, PolicyError)

    /// The one-line message.
    public var description: String {
        switch self {
        case let .invalidPort(value, reason): "invalid port \(quoted(value)): \(reason)"
        case let .invalidProtocol(value): "invalid protocol \(quoted(value)): use tcp, udp or both"
        case let .invalidSource(value, reason): "invalid address \(quoted(value)): \(reason)"
        case let .unknownService(value):
            "unknown service \(quoted(value)): not in /etc/services; give a port number from 1 to 65535"
        case let .invalidID(value, reason): "invalid rule id \(quoted(value)): \(reason)"
        case let .duplicateID(value): "duplicate rule id \(quoted(value)): every rule needs its own id"
        case let .invalidComment(value, reason): "invalid comment \(quoted(value)): \(reason)"
        case let .invalidInterface(value, reason): "invalid interface \(quoted(value)): \(reason)"
        case let .invalidValue(value, field, allowed):
            "invalid \(field) \(quoted(value)): use \(allowed.joined(separator: ", "))"
        case let .invalidRule(reason): reason
        case let .invalidDocument(reason): reason
        case let .inRule(id, error): "rule \(quoted(id)): \(error)"
        }
    }
}

/// Quotes user text for an error message so that control characters, quotes and very long values
/// cannot break the one-line shape of the message.
public func quoted(_ value: String) -> String {
    doubleQuoted(value, limit: 60)
}

/// `value` in double quotes with `"`, `\`, control, format (invisible) and line-breaking characters
/// escaped (YAML's double-quoted escapes, which also read well in messages); cut after `limit`
/// characters with an ellipsis when a limit is given.
func doubleQuoted(_ value: String, limit: Int? = nil) -> String {
    // Most values (addresses, ids) are printable ASCII without quotes or backslashes: as they are.
    if limit == nil, value.utf8.allSatisfy({ (0x20...0x7e).contains($0) && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
        return "\"" + value + "\""
    }
    var out = "\""
    for (count, scalar) in value.unicodeScalars.enumerated() {
        if let limit, count >= limit { out += "…"; break }
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7f || (0x80..<0xa0).contains(scalar.value)
                || scalar == "\u{2028}" || scalar == "\u{2029}" || scalar.properties.generalCategory == .format {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
