import Foundation

/// Reads portctl's table from an nftables JSON listing (`nft -j list table inet portctl`, or
/// libnftables with JSON output) into a normalized ``Table``.
///
/// nftables normalizes what it lists (one-element sets collapse, host bits are masked, set
/// elements are re-sorted, `ct state` lists as `op: in`), so the reading is normalized the same
/// way the renderer's model is, and handles and counter values are dropped. Statements portctl
/// never renders are kept as ``Statement/unknown(_:)`` so that a plan can report them as drift.
public enum LiveTable {
    /// A listing that could not be read.
    public struct ReadError: Error, Sendable, CustomStringConvertible {
        /// The one-line message.
        public let description: String
    }

    /// Reads the table `name` from a listing; nil when the listing does not hold it.
    public static func read(json: String, table name: String) throws(ReadError) -> Table? {
        guard let data = json.data(using: .utf8),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let items = root["nftables"] as? [[String: Any]]
        else {
            throw ReadError(description: "not an nftables JSON listing (expected an object with an \"nftables\" array, as `nft -j list table inet \(name)` prints)")
        }
        var table: Table?
        var chainOrder: [String] = []
        var chains: [String: Chain] = [:]
        func malformed(_ index: Int, _ problem: String) -> ReadError {
            ReadError(description: "not an nftables JSON listing: item \(index + 1) of \"nftables\" \(problem)")
        }
        for (index, item) in items.enumerated() {
            guard item.count == 1, let (kind, body) = item.first, let object = body as? [String: Any] else {
                throw malformed(index, "is not an object with one key whose value is an object")
            }
            if kind == "metainfo" { continue }
            guard object["family"] is String, (kind == "table" ? object["name"] : object["table"]) is String else {
                throw malformed(index, "(\(kind)) has no family or table name")
            }
            guard object["family"] as? String == "inet",
                  (kind == "table" ? object["name"] : object["table"]) as? String == name
            else { continue }
            if table == nil { table = Table(name: name) }
            switch kind {
            case "table":
                // nft 1.0.6 prints table flags as garbage (a stray pointer), but only when some
                // flag is set; the kernel driver asks netlink for the real value.
                if let flags = object["flags"], !((flags as? String)?.isEmpty ?? false), !((flags as? [Any])?.isEmpty ?? false) {
                    table?.flags = Table.dormantFlag
                }
            case "counter":
                if let counter = object["name"] as? String { table?.counters.append(counter) }
            case "set":
                if let set = readSet(object) {
                    table?.sets.append(set)
                } else {
                    table?.unknownObjects.append(unknown(kind, object, item))
                }
            case "chain":
                guard let chainName = object["name"] as? String else { throw malformed(index, "(chain) has no name") }
                chainOrder.append(chainName)
                chains[chainName] = Chain(name: chainName, hook: object["hook"] as? String, type: object["type"] as? String,
                                          priority: object["prio"] as? Int ?? 0, policy: object["policy"] as? String)
            case "rule":
                guard let chainName = object["chain"] as? String, let expressions = object["expr"] as? [Any],
                      expressions.allSatisfy({ ($0 as? [String: Any])?.count == 1 }) else {
                    throw malformed(index, "(rule) needs a chain and an \"expr\" array of statements, each an object with one key")
                }
                guard chains[chainName] != nil else { throw malformed(index, "(rule) is in chain \(chainName), which the listing does not declare before it") }
                let rule = Rule(expressions.map(readStatement), comment: object["comment"] as? String)
                chains[chainName]?.rules.append(rule)
            default:
                table?.unknownObjects.append(unknown(kind, object, item))
            }
        }
        table?.chains = chainOrder.compactMap { chains[$0] }
        return table
    }

    /// Named counter values of the table, from a listing: name to packets and bytes.
    public static func counterValues(json: String, table name: String) -> [String: (packets: Int, bytes: Int)] {
        var values: [String: (packets: Int, bytes: Int)] = [:]
        for object in objects(json, kind: "counter") where object["family"] as? String == "inet" && object["table"] as? String == name {
            if let counter = object["name"] as? String {
                values[counter] = (object["packets"] as? Int ?? 0, object["bytes"] as? Int ?? 0)
            }
        }
        return values
    }

    /// Every base chain in a listing (`list chains`), of any table.
    public static func baseChains(json: String) -> [ForeignChain] {
        objects(json, kind: "chain").compactMap { object in
            guard let hook = object["hook"] as? String, let family = object["family"] as? String,
                  let table = object["table"] as? String, let name = object["name"] as? String else { return nil }
            return ForeignChain(family: family, table: table, name: name, hook: hook,
                                priority: object["prio"] as? Int ?? 0, policy: object["policy"] as? String ?? "accept")
        }
    }

    /// The objects of one kind (`chain`, `counter`, ...) in a listing, of any table.
    public static func objects(_ json: String, kind: String) -> [[String: Any]] {
        guard let data = json.data(using: .utf8),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let items = root["nftables"] as? [[String: Any]] else { return [] }
        return items.compactMap { $0[kind] as? [String: Any] }
    }

    static func unknown(_ kind: String, _ object: [String: Any], _ item: Any) -> UnknownObject {
        UnknownObject(kind: kind, name: object["name"] as? String ?? "", json: canonical(item))
    }

    static func readSet(_ object: [String: Any]) -> AddressSet? {
        guard let name = object["name"] as? String, let flags = object["flags"] as? [String],
              object["map"] == nil, object["policy"] == nil
        else { return nil }
        if let type = object["type"] as? [String] { return readDropRecord(object, name: name, type: type, flags: flags) }
        guard let type = object["type"] as? String else { return nil }
        let family: IPFamily
        switch type {
        case "ipv4_addr": family = .ipv4
        case "ipv6_addr": family = .ipv6
        default: return nil
        }
        let kind: AddressSet.Kind
        switch Set(flags) {
        case ["interval"] where object["timeout"] == nil: kind = .interval
        case ["interval", "timeout"] where object["timeout"] == nil: kind = .timed
        case ["timeout"] where object["timeout"] == nil && object["size"] == nil:
            kind = .hosts
        case ["timeout"], ["timeout", "dynamic"]:
            // nft 1.0.6 lists a dynamic set's flags as just "timeout".
            guard let timeout = object["timeout"] as? Int, let size = object["size"] as? Int else { return nil }
            return AddressSet(name: name, family: family, elements: [], kind: .meter(timeout: timeout, size: size))
        default: return nil
        }
        var elements: [IPNetwork] = []
        var expires: Int?
        var ranges = false
        for element in object["elem"] as? [Any] ?? [] {
            if let item = element as? [String: Any], item["range"] != nil { ranges = true }
            guard let networks = readElement(element, family: family) else { return nil }
            if let inner = (element as? [String: Any])?["elem"] as? [String: Any], let left = inner["expires"] as? Int {
                expires = min(expires ?? left, left)
            }
            elements += networks
        }
        var set = AddressSet(name: name, family: family, elements: elements, kind: kind, expiresIn: expires)
        set.listsRanges = ranges
        // nft lists a set whose elements count as `"stmt": [{"counter": null}]`.
        set.countsElements = (object["stmt"] as? [[String: Any]])?.contains { $0.keys.contains("counter") } ?? false
        return set
    }

    /// A drop record (`type ipv4_addr . inet_proto . inet_service . mark`, dynamic, counting):
    /// its elements are left unread.
    static func readDropRecord(_ object: [String: Any], name: String, type: [String], flags: [String]) -> AddressSet? {
        let family: IPFamily
        switch type {
        case ["ipv4_addr", "inet_proto", "inet_service", "mark"]: family = .ipv4
        case ["ipv6_addr", "inet_proto", "inet_service", "mark"]: family = .ipv6
        default: return nil
        }
        // nft 1.0.6 lists a dynamic set's flags as just "timeout".
        guard Set(flags) == ["timeout"] || Set(flags) == ["timeout", "dynamic"],
              let timeout = object["timeout"] as? Int, let size = object["size"] as? Int,
              (object["stmt"] as? [[String: Any]])?.contains(where: { $0.keys.contains("counter") }) == true
        else { return nil }
        return AddressSet(name: name, family: family, elements: [], kind: .drops(timeout: timeout, size: size))
    }

    /// The packets each element of a set has counted (sets declared with `counter`), from a
    /// `list set` listing; elements without a counter are left out.
    public static func elementPackets(json: String) -> [IPNetwork: Int] {
        var packets: [IPNetwork: Int] = [:]
        for set in objects(json, kind: "set") {
            let family: IPFamily = set["type"] as? String == "ipv6_addr" ? .ipv6 : .ipv4
            for element in set["elem"] as? [Any] ?? [] {
                guard let inner = (element as? [String: Any])?["elem"] as? [String: Any],
                      let counter = inner["counter"] as? [String: Any], let count = counter["packets"] as? Int,
                      let value = inner["val"], let networks = readElement(value, family: family) else { continue }
                for network in networks { packets[network, default: 0] += count }
            }
        }
        return packets
    }

    static func readElement(_ element: Any, family: IPFamily) -> [IPNetwork]? {
        if let text = element as? String {
            guard let address = IPAddress(text), address.family == family else { return nil }
            return [try! IPNetwork(address: address, prefixLength: family.bitWidth)]
        }
        guard let object = element as? [String: Any] else { return nil }
        if let prefix = object["prefix"] as? [String: Any], let text = prefix["addr"] as? String,
           let length = prefix["len"] as? Int, let address = IPAddress(text), address.family == family,
           let network = try? IPNetwork(address: IPNetwork.mask(address, length), prefixLength: length) {
            return [network]
        }
        if let range = object["range"] as? [Any], range.count == 2,
           let low = (range[0] as? String).flatMap(IPAddress.init), let high = (range[1] as? String).flatMap(IPAddress.init),
           low.family == family, high.family == family, low.bits <= high.bits {
            return IPNetwork.cidrs(family: family, from: low.bits, to: high.bits)
        }
        if let inner = object["elem"] as? [String: Any], let value = inner["val"] {
            return readElement(value, family: family)
        }
        return nil
    }

    static func readStatement(_ any: Any) -> Statement {
        guard let object = any as? [String: Any], object.count == 1, let (kind, body) = object.first else {
            return .unknown(canonical(any))
        }
        switch kind {
        case "match":
            if let match = body as? [String: Any], let op = match["op"] as? String,
               let left = match["left"].flatMap(readExpression), let right = match["right"].flatMap(readValue) {
                return .match(left, op: op, left == .meta("l4proto") ? protocolsByName(right) : right)
            }
        case "counter":
            if let name = body as? String { return .counter(name) }
            if let counter = body as? [String: Any], Set(counter.keys).isSubset(of: ["packets", "bytes"]) { return .anonymousCounter }
        case "limit":
            if let limit = body as? [String: Any], Set(limit.keys) == ["rate", "burst", "per"],
               let rate = limit["rate"] as? Int, let burst = limit["burst"] as? Int, let per = limit["per"] as? String {
                return .limit(rate: rate, per: per, burst: burst)
            }
        case "set":
            if let update = body as? [String: Any], Set(update.keys) == ["op", "elem", "set", "stmt"],
               update["op"] as? String == "update", let setName = update["set"] as? String, setName.hasPrefix("@"),
               let key = update["elem"].flatMap(readExpression), let statements = update["stmt"] as? [Any], statements.count == 1,
               let limit = (statements[0] as? [String: Any])?["limit"] as? [String: Any],
               Set(limit.keys) == ["rate", "burst", "per", "inv"], limit["inv"] as? Bool == true,
               let rate = limit["rate"] as? Int, let burst = limit["burst"] as? Int, let per = limit["per"] as? String {
                return .overRate(set: String(setName.dropFirst()), key: key, rate: rate, per: per, burst: burst)
            }
            if let record = readRecord(body) { return record }
        case "log":
            if let log = body as? [String: Any], Set(log.keys).isSubset(of: ["prefix", "level"]), let prefix = log["prefix"] as? String {
                return .log(prefix: prefix, level: log["level"] as? String ?? "warn")
            }
        case "goto":
            if let jump = body as? [String: Any], jump.count == 1, let target = jump["target"] as? String { return .goto(target) }
        case "dnat":
            if let dnat = body as? [String: Any], Set(dnat.keys).isSubset(of: ["family", "addr", "port"]),
               let family = dnat["family"] as? String, let address = dnat["addr"] as? String {
                if dnat["port"] == nil { return .dnat(family: family, address: address, port: nil) }
                if let port = dnat["port"] as? Int { return .dnat(family: family, address: address, port: port) }
            }
        case "masquerade" where body is NSNull: return .masquerade
        case "jump":
            if let jump = body as? [String: Any], jump.count == 1, let target = jump["target"] as? String { return .jump(target) }
        case "vmap":
            if let entries = readDispatch(body) { return .dispatch(entries) }
        case "accept" where body is NSNull: return .verdict(.accept)
        case "drop" where body is NSNull: return .verdict(.drop)
        case "reject":
            if let reject = body as? [String: Any] {
                if reject.count == 1, reject["type"] as? String == "tcp reset" { return .verdict(.rejectTCPReset) }
                if reject.count == 2, reject["type"] as? String == "icmpx", let type = reject["expr"] as? String {
                    return .verdict(.rejectICMPX(type))
                }
            }
        default:
            break
        }
        return .unknown(canonical(any))
    }

    /// `meta l4proto` values as portctl renders them: TCP and UDP by name, also where nft lists
    /// them by number (no /etc/protocols on the host).
    static func protocolsByName(_ value: Value) -> Value {
        switch value {
        case let .number(number): TransportProtocol(number: number).map { .string($0.rawValue) } ?? value
        case let .set(items): .set(items.map(protocolsByName))
        default: value
        }
    }

    /// `update @SET { ip saddr . meta l4proto . ct original proto-dst . REASON }` as listed.
    static func readRecord(_ body: Any) -> Statement? {
        guard let update = body as? [String: Any], Set(update.keys) == ["op", "elem", "set"], update["op"] as? String == "update",
              let setName = update["set"] as? String, setName.hasPrefix("@"),
              let key = (update["elem"] as? [String: Any])?["concat"] as? [Any], key.count == 4,
              readExpression(key[1]) == .meta("l4proto"), readExpression(key[2]) == .ctOriginal("proto-dst"),
              let reason = key[3] as? Int, let code = UInt32(exactly: reason)
        else { return nil }
        let family: IPFamily
        switch readExpression(key[0]) {
        case .payload("ip", "saddr")?: family = .ipv4
        case .payload("ip6", "saddr")?: family = .ipv6
        default: return nil
        }
        return .record(set: String(setName.dropFirst()), family: family, reason: code)
    }

    /// `meta l4proto . th dport vmap { tcp . 26 : jump X, ... }` as listed.
    static func readDispatch(_ body: Any) -> [DispatchEntry]? {
        guard let vmap = body as? [String: Any], vmap.count == 2,
              let key = (vmap["key"] as? [String: Any])?["concat"] as? [Any], key.count == 2,
              readExpression(key[0]) == .meta("l4proto"), readExpression(key[1]) == .payload("th", "dport"),
              let elements = (vmap["data"] as? [String: Any])?["set"] as? [Any]
        else { return nil }
        var entries: [DispatchEntry] = []
        for element in elements {
            guard let pair = element as? [Any], pair.count == 2,
                  let parts = (pair[0] as? [String: Any])?["concat"] as? [Any], parts.count == 2,
                  let proto = (parts[0] as? Int).flatMap(TransportProtocol.init(number:))?.rawValue ?? parts[0] as? String,
                  let target = ((pair[1] as? [String: Any])?["jump"] as? [String: Any])?["target"] as? String
            else { return nil }
            let ports: PortRange
            if let port = parts[1] as? Int, let range = try? PortRange(port) {
                ports = range
            } else if let bounds = (parts[1] as? [String: Any])?["range"] as? [Any], bounds.count == 2,
                      let low = bounds[0] as? Int, let high = bounds[1] as? Int, let range = try? PortRange(low, high) {
                ports = range
            } else {
                return nil
            }
            entries.append(DispatchEntry(proto: proto, ports: ports, chain: target))
        }
        return entries.sorted()
    }

    static func readExpression(_ any: Any) -> NftExpression? {
        guard let object = any as? [String: Any], object.count == 1, let (kind, body) = object.first,
              let fields = body as? [String: Any] else { return nil }
        switch kind {
        case "meta": return (fields["key"] as? String).map(NftExpression.meta)
        case "ct" where fields.count == 1: return (fields["key"] as? String).map(NftExpression.ct)
        case "fib" where fields["result"] as? String == "type" && (fields["flags"] as? [String] == ["daddr"] || fields["flags"] as? String == "daddr"):
            return .fibDestinationType
        case "ct" where fields.count == 2 && fields["dir"] as? String == "original":
            return (fields["key"] as? String).map(NftExpression.ctOriginal)
        case "payload":
            guard let proto = fields["protocol"] as? String, let field = fields["field"] as? String, fields.count == 2 else { return nil }
            return .payload(proto, field)
        default: return nil
        }
    }

    static func readValue(_ any: Any) -> Value? {
        if let text = any as? String { return .string(text) }
        if let number = any as? Int { return .number(number) }
        if let flags = any as? [String] { return .flags(flags) }
        guard let object = any as? [String: Any], object.count == 1, let (kind, body) = object.first else { return nil }
        switch kind {
        case "set":
            guard let items = body as? [Any] else { return nil }
            var values: [Value] = []
            for item in items {
                guard let value = readValue(item) else { return nil }
                values.append(value)
            }
            return .set(values)
        case "range":
            guard let bounds = body as? [Any], bounds.count == 2,
                  let low = bounds[0] as? Int, let high = bounds[1] as? Int else { return nil }
            return .range(low, high)
        default:
            return nil
        }
    }

    /// Stable JSON text for something portctl does not model (sorted keys, no handles).
    static func canonical(_ any: Any) -> String {
        func strip(_ value: Any) -> Any {
            if var object = value as? [String: Any] {
                object.removeValue(forKey: "handle")
                return object.mapValues(strip)
            }
            if let array = value as? [Any] { return array.map(strip) }
            return value
        }
        guard JSONSerialization.isValidJSONObject(strip(any) as? [String: Any] ?? [:]),
              let data = try? JSONSerialization.data(withJSONObject: strip(any), options: [.sortedKeys, .fragmentsAllowed])
        else { return String(describing: any) }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A base chain of some table, as listed (portctl reads others' chains, never changes them).
public struct ForeignChain: Sendable, Hashable, Codable {
    /// `ip`, `ip6`, `inet`, ...
    public var family: String
    /// The table.
    public var table: String
    /// The chain.
    public var name: String
    /// The hook.
    public var hook: String
    /// The priority.
    public var priority: Int
    /// The policy.
    public var policy: String
}
