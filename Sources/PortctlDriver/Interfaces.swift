import Foundation
public import PortPolicy
#if canImport(Glibc)
import Glibc
#endif

/// The machine's network interfaces.
public enum LocalInterfaces {
    /// The name of the interface that holds `address`, if any.
    public static func name(holding address: IPAddress) -> String? {
        addresses().first { $0.address == address }?.name
    }

    /// Every address of this host (this network namespace), with the interface holding it.
    public static func addresses() -> [(name: String, address: IPAddress)] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var found: [(name: String, address: IPAddress)] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let socketAddress = entry.pointee.ifa_addr, let name = entry.pointee.ifa_name else { continue }
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            let length = socketAddress.pointee.sa_family == sa_family_t(AF_INET6)
                ? socklen_t(MemoryLayout<sockaddr_in6>.size) : socklen_t(MemoryLayout<sockaddr_in>.size)
            guard [sa_family_t(AF_INET), sa_family_t(AF_INET6)].contains(socketAddress.pointee.sa_family),
                  getnameinfo(socketAddress, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0
            else { continue }
            let text = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).split(separator: "%").first.map(String.init) ?? ""
            if let address = IPAddress(text) { found.append((String(cString: name), address)) }
        }
        return found
    }
}

/// Whether this network namespace forwards packets (portctl reads it, never sets it).
public enum HostForwarding {
    /// The sysctl to set when forwarding is off for `family`, else nil.
    public static func off(for family: IPFamily) -> String? {
        let key = family == .ipv4 ? "net.ipv4.ip_forward" : "net.ipv6.conf.all.forwarding"
        let path = "/proc/sys/" + key.replacingOccurrences(of: ".", with: "/")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return text.trimmingCharacters(in: .whitespacesAndNewlines) == "0" ? key : nil
    }
}
