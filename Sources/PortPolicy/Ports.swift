/// The transport protocol a rule matches.
public enum TransportProtocol: String, Sendable, Hashable, Codable, CaseIterable {
    /// TCP only.
    case tcp
    /// UDP only.
    case udp
    /// Both TCP and UDP.
    case both

    /// Parses `tcp`, `udp` or `both` (case-insensitive).
    public init(parsing text: String) throws(PolicyError) {
        guard let value = TransportProtocol(rawValue: text.lowercased()) else { throw .invalidProtocol(text) }
        self = value
    }

    /// The concrete protocols this one stands for, in rendering order.
    public var members: [TransportProtocol] { self == .both ? [.tcp, .udp] : [self] }

    /// TCP or UDP as nft lists a protocol value: by name (`tcp`), or by number (`6`, in JSON or
    /// text) where the host has no /etc/protocols (netbase is not installed: a debootstrap
    /// minbase tree, a container image). nft 1.0.6 and 1.1.3 both print numbers there.
    init?(listed value: Any) {
        if let text = value as? String {
            guard let named = TransportProtocol(rawValue: text) ?? Int(text).flatMap(TransportProtocol.init(number:)), named != .both else { return nil }
            self = named
        } else if let number = value as? Int, let numbered = TransportProtocol(number: number) {
            self = numbered
        } else {
            return nil
        }
    }

    /// TCP for IP protocol number 6, UDP for 17.
    init?(number: Int) {
        switch number {
        case 6: self = .tcp
        case 17: self = .udp
        default: return nil
        }
    }
}

/// An inclusive range of ports; a single port is a range of one.
public struct PortRange: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The first port.
    public let first: UInt16
    /// The last port (equal to `first` for a single port).
    public let last: UInt16

    /// Makes a range, refusing port 0 and reversed ranges.
    public init(_ first: Int, _ last: Int? = nil) throws(PolicyError) {
        let last = last ?? first
        let text = first == last ? "\(first)" : "\(first)-\(last)"
        for port in [first, last] where !(1...65535).contains(port) {
            throw .invalidPort(text, reason: "ports run from 1 to 65535")
        }
        guard first <= last else {
            throw .invalidPort(text, reason: "a range runs from low to high, like \(last)-\(first)")
        }
        self.first = UInt16(first)
        self.last = UInt16(last)
    }

    /// Parses `26` or `8000-8100`.
    public init(parsing text: String) throws(PolicyError) {
        if text.contains(":") {
            throw .invalidPort(text, reason: "write ranges with a dash, like 8000-8100")
        }
        let bounds = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        var numbers: [Int] = []
        for bound in bounds {
            guard !bound.isEmpty, bound.count <= 5, bound.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let number = Int(bound)
            else {
                let reason = bound.count > 5 && bound.allSatisfy({ $0.isASCII && $0.isNumber })
                    ? "ports run from 1 to 65535"
                    : "expected a port from 1 to 65535 or a range like 8000-8100"
                throw .invalidPort(text, reason: reason)
            }
            numbers.append(number)
        }
        do {
            try self.init(numbers[0], numbers.count == 2 ? numbers[1] : nil)
        } catch {
            // Keep the user's spelling in the message.
            if case let .invalidPort(_, reason) = error { throw .invalidPort(text, reason: reason) }
            throw error
        }
    }

    /// `26` or `8000-8100`, as nftables writes it.
    public var description: String { first == last ? "\(first)" : "\(first)-\(last)" }

    /// Orders by first port, then last.
    public static func < (lhs: PortRange, rhs: PortRange) -> Bool {
        (lhs.first, lhs.last) < (rhs.first, rhs.last)
    }

    /// Whether the range holds `port`.
    public func contains(_ port: UInt16) -> Bool { first <= port && port <= last }

    /// Parses a comma-separated list (`25,26,587`, `25,8000-8100`); empty items are refused.
    public static func parseList(_ text: String) throws(PolicyError) -> [PortRange] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        if items.contains(where: { $0.trimmingSpaces.isEmpty }) {
            throw .invalidPort(text, reason: "a port list is ports or ranges separated by commas, like 25,26,587")
        }
        var ranges: [PortRange] = []
        for item in items { ranges.append(try PortRange(parsing: String(item.trimmingSpaces))) }
        return ranges
    }

    /// Merges overlapping ranges and sorts them (nftables anonymous interval sets refuse
    /// overlaps). Adjacent ports stay apart, so `25,26` reads as the admin wrote it.
    public static func merged(_ ranges: [PortRange]) -> [PortRange] {
        var result: [PortRange] = []
        for range in ranges.sorted() {
            if let last = result.last, range.first <= last.last {
                result[result.count - 1] = try! PortRange(Int(last.first), Int(max(last.last, range.last)))
            } else {
                result.append(range)
            }
        }
        return result
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var slice = self
        while slice.first == " " { slice = slice.dropFirst() }
        while slice.last == " " { slice = slice.dropLast() }
        return slice
    }
}

/// What an admin types for ports on the command line: `26`, `26/tcp`, `53/udp`,
/// `8000-8100/tcp`, `25,26,587/tcp`, `smtp`, `domain/udp`. A bare port means TCP.
public struct PortSpec: Sendable, Hashable {
    /// The ports, merged and sorted.
    public let ports: [PortRange]
    /// The protocol.
    public let proto: TransportProtocol
    /// The service name the admin typed, if any (`smtp`).
    public let serviceName: String?

    /// Parses a port spec, resolving service names through `services`.
    public init(parsing text: String, services: ServiceTable) throws(PolicyError) {
        guard !text.isEmpty else {
            throw .invalidPort(text, reason: "expected a port like 26, 26/tcp, 8000-8100/tcp, 25,26/tcp or a service name")
        }
        let pieces = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        // `26/tcp,26/udp`: a protocol in the middle of the list. One spec has one protocol.
        if pieces.count == 2, pieces[1].contains(",") || pieces[1].contains("/") {
            throw .invalidPort(text, reason: "one protocol ends the whole list (25,26/tcp); for two protocols give the port twice (26/tcp and 26/udp) or write 26/both")
        }
        let proto = pieces.count == 2 ? try TransportProtocol(parsing: String(pieces[1])) : .tcp
        let portText = String(pieces[0])
        if let first = portText.unicodeScalars.first, first.properties.isAlphabetic {
            var resolved: [PortRange] = []
            for member in proto.members {
                guard let port = services.port(named: portText, protocol: member) else {
                    throw .unknownService(portText)
                }
                resolved.append(try PortRange(Int(port)))
            }
            guard Set(resolved).count == 1 else {
                throw .invalidPort(text, reason: "the service has different tcp and udp ports; name tcp or udp")
            }
            self.ports = [resolved[0]]
            self.proto = proto
            self.serviceName = portText
            return
        }
        self.ports = PortRange.merged(try PortRange.parseList(portText))
        self.proto = proto
        self.serviceName = nil
    }

    /// Makes a spec from parts.
    public init(ports: [PortRange], proto: TransportProtocol) {
        self.ports = PortRange.merged(ports)
        self.proto = proto
        self.serviceName = nil
    }
}

/// The services database (`/etc/services` format): names to port numbers per protocol.
public struct ServiceTable: Sendable, Hashable {
    private var entries: [String: UInt16] = [:]

    /// An empty table: only numeric ports resolve.
    public init() {}

    /// Parses the text of a services file: `name port/proto [aliases...] [# comment]`.
    public init(parsing text: String) {
        for line in text.split(whereSeparator: \.isNewline) {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
            let fields = content.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2 else { continue }
            let portProto = fields[1].split(separator: "/")
            guard portProto.count == 2, let port = UInt16(portProto[0]), port > 0 else { continue }
            let proto = portProto[1].lowercased()
            for name in [fields[0]] + fields.dropFirst(2) {
                let key = "\(name.lowercased())/\(proto)"
                if entries[key] == nil { entries[key] = port }
            }
        }
    }

    /// The port of a service name for one protocol (`tcp` or `udp`).
    public func port(named name: String, protocol proto: TransportProtocol) -> UInt16? {
        entries["\(name.lowercased())/\(proto.rawValue)"]
    }
}
