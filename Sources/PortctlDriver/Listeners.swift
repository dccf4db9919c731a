import Foundation
public import PortPolicy
#if canImport(Glibc)
import Glibc
#endif

/// What listens on this host (in this network namespace), read from `/proc/net`.
public enum HostListeners {
    /// Every TCP listener and bound UDP socket, with the owning process where it can be read.
    public static func read() -> [Listener] {
        var found: [(Listener, String)] = []
        for (file, proto, family) in [("tcp", TransportProtocol.tcp, IPFamily.ipv4), ("tcp6", .tcp, .ipv6),
                                      ("udp", .udp, .ipv4), ("udp6", .udp, .ipv6)] {
            guard let text = try? String(contentsOfFile: "/proc/net/" + file, encoding: .utf8) else { continue }
            found += Listener.parseProcNet(text, proto: proto, family: family)
        }
        let owners = socketOwners()
        return found.map { listener, inode in
            var listener = listener
            listener.process = owners[inode]
            return listener
        }
    }

    /// Socket inode to `name[pid]`, from `/proc/PID/fd` (what this user may read).
    static func socketOwners() -> [String: String] {
        var owners: [String: String] = [:]
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { $0.allSatisfy(\.isNumber) }
        for pid in pids {
            let fdDirectory = "/proc/\(pid)/fd"
            guard let fds = try? FileManager.default.contentsOfDirectory(atPath: fdDirectory) else { continue }
            var name: String?
            for fd in fds {
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: fdDirectory + "/" + fd),
                      target.hasPrefix("socket:[") else { continue }
                let inode = String(target.dropFirst(8).dropLast())
                if owners[inode] != nil { continue }
                if name == nil {
                    name = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?
                        .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
                }
                owners[inode] = "\(name!)[\(pid)]"
            }
        }
        return owners
    }
}

/// The outcome of one TCP connect probe, with nmap's connect-scan meanings.
public enum PortState: String, Sendable, Codable {
    /// The handshake completed.
    case open
    /// A reset came back: nothing listens, or a rule rejects with a TCP reset.
    case closed
    /// Silence, or an ICMP unreachable: a firewall drops or rejects it.
    case filtered
}

/// TCP connect probes, all ports at once.
public enum PortProbe {
    /// Probes every port of `ports` on `host` (an IPv4 or IPv6 address) concurrently; each gets
    /// `timeout` seconds. 100 ports take about one timeout.
    public static func run(host: IPAddress, ports: [UInt16], timeout: Double) throws(SystemError) -> [(port: UInt16, state: PortState)] {
        var results: [UInt16: PortState] = [:]
        // Stay well under the default limit of 1,024 open descriptors.
        for chunk in stride(from: 0, to: ports.count, by: 500).map({ Array(ports[$0..<min($0 + 500, ports.count)]) }) {
            try probe(host: host, ports: chunk, timeout: timeout, into: &results)
        }
        return ports.map { ($0, results[$0] ?? .filtered) }
    }

    private static func probe(host: IPAddress, ports: [UInt16], timeout: Double, into results: inout [UInt16: PortState]) throws(SystemError) {
        var pending: [Int32: UInt16] = [:]
        defer { for fd in pending.keys { close(fd) } }
        let family = host.family == .ipv4 ? AF_INET : AF_INET6
        for port in ports {
            let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw .errno(errno, "cannot open a socket") }
            let code: Int32
            if host.family == .ipv4 {
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = port.bigEndian
                address.sin_addr.s_addr = UInt32(truncatingIfNeeded: host.bits).bigEndian
                code = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            } else {
                var address = sockaddr_in6()
                address.sin6_family = sa_family_t(AF_INET6)
                address.sin6_port = port.bigEndian
                withUnsafeMutableBytes(of: &address.sin6_addr) { bytes in
                    for index in 0..<16 { bytes[index] = UInt8(truncatingIfNeeded: host.bits >> (120 - 8 * index)) }
                }
                code = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
                }
            }
            if code == 0 {
                results[port] = .open
                close(fd)
            } else if errno == EINPROGRESS {
                pending[fd] = port
            } else {
                results[port] = state(for: errno)
                close(fd)
            }
        }
        let deadline = Date().addingTimeInterval(timeout)
        while !pending.isEmpty {
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { break }
            var polls = pending.keys.map { pollfd(fd: $0, events: Int16(POLLOUT), revents: 0) }
            let ready = poll(&polls, nfds_t(polls.count), Int32(min(remaining, 1) * 1000) + 1)
            if ready <= 0 { continue }
            for entry in polls where entry.revents != 0 {
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(entry.fd, SOL_SOCKET, SO_ERROR, &error, &length)
                if let port = pending.removeValue(forKey: entry.fd) {
                    results[port] = error == 0 ? .open : state(for: error)
                }
                close(entry.fd)
            }
        }
        for port in pending.values { results[port] = .filtered }
    }

    static func state(for error: Int32) -> PortState {
        error == ECONNREFUSED ? .closed : .filtered
    }
}

/// Name resolution for `probe`.
public enum HostResolver {
    /// The first address of a host name or address text.
    public static func resolve(_ host: String) -> IPAddress? {
        if let address = IPAddress(host) { return address }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(result) }
        var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(first.pointee.ai_addr, first.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0
        else { return nil }
        return IPAddress(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
}
