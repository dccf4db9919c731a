// netpeer: the TCP listener and connector the real-kernel tests run inside network namespaces.
//
//   netpeer listen PORT [PORT...] [--seconds N]   accept and close connections on every address
//                                                 (IPv4 and IPv6) until N seconds pass (default 120)
//   netpeer connect HOST PORT [--timeout S]       exit 0 when the handshake completes, 3 on a reset,
//                                                 4 on a timeout, 5 on an ICMP error, 1 otherwise
//   netpeer rate HOST PORT [--seconds N]          connect and close in a loop for N seconds (at most
//                                                 60), print completed connections per second
#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String) -> Never {
    let line = Array("netpeer: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(1)
}

func listen(ports: [UInt16], seconds: Int) -> Never {
    var fds: [Int32] = []
    for port in ports {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { fail("socket: \(String(cString: strerror(errno)))") }
        var on: Int32 = 1, off: Int32 = 0
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &off, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = port.bigEndian
        address.sin6_addr = in6addr_any
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 1024) == 0 else { fail("bind/listen \(port): \(String(cString: strerror(errno)))") }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        fds.append(fd)
    }
    let ready = Array("listening\n".utf8)
    _ = ready.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    let deadline = time(nil) + seconds
    while time(nil) < deadline {
        var polls = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        if poll(&polls, nfds_t(polls.count), 500) > 0 {
            for entry in polls where entry.revents & Int16(POLLIN) != 0 {
                // Drain the backlog: the listener must not be what limits a rate measurement.
                while true {
                    let client = accept(entry.fd, nil, nil)
                    if client < 0 { break }
                    close(client)
                }
            }
        }
    }
    exit(0)
}

/// The socket address of a numeric host and port (the caller frees it with freeaddrinfo).
func resolve(_ host: String, _ port: UInt16) -> UnsafeMutablePointer<addrinfo> {
    var hints = addrinfo()
    hints.ai_flags = AI_NUMERICHOST
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var result: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else { fail("bad address \(host)") }
    return info
}

func connect(host: String, port: UInt16, timeout: Double) -> Never {
    let info = resolve(host, port)
    defer { freeaddrinfo(info) }
    let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    guard fd >= 0 else { fail("socket: \(String(cString: strerror(errno)))") }
    var code: Int32 = 0
    if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
        guard errno == EINPROGRESS else { fail("connect: \(String(cString: strerror(errno)))") }
        var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        if poll(&entry, 1, Int32(timeout * 1000)) == 0 {
            print("timeout")
            exit(4)
        }
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length)
    }
    close(fd)
    switch code {
    case 0: print("connected"); exit(0)
    case ECONNREFUSED: print("refused"); exit(3)
    case EHOSTUNREACH, ENETUNREACH, EACCES, EPERM: print("unreachable"); exit(5)
    default: print("error \(code)"); exit(1)
    }
}

/// A blocking connect/close loop: the packet-path benchmark's client (compiled, so the client is
/// not what limits the rate).
func rate(host: String, port: UInt16, seconds: Double) -> Never {
    let info = resolve(host, port)
    var start = timespec(), now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &start)
    var connections = 0, failures = 0
    var elapsed = 0.0
    var linger = linger(l_onoff: 1, l_linger: 0)
    while elapsed < seconds && failures < 1000 {
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        if fd < 0 { fail("socket: \(String(cString: strerror(errno)))") }
        // Close with a reset so the client does not pile up TIME_WAIT sockets.
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { connections += 1 } else { failures += 1 }
        close(fd)
        clock_gettime(CLOCK_MONOTONIC, &now)
        elapsed = Double(now.tv_sec - start.tv_sec) + Double(now.tv_nsec - start.tv_nsec) / 1e9
    }
    freeaddrinfo(info)
    let line = Array("\(Int(Double(connections) / elapsed)) connections/s (\(connections) in \(String(Int(elapsed * 1000))) ms, \(failures) failed)\n".utf8)
    _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    exit(failures > 0 && connections == 0 ? 1 : 0)
}

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}
switch arguments.first {
case "listen":
    let seconds = option("--seconds").flatMap(Int.init) ?? 120
    let ports = arguments.dropFirst().prefix { !$0.hasPrefix("--") }.compactMap(UInt16.init)
    guard !ports.isEmpty else { fail("listen needs ports") }
    listen(ports: ports, seconds: min(max(seconds, 1), 600))
case "connect":
    guard arguments.count >= 3, let port = UInt16(arguments[2]) else { fail("usage: netpeer connect HOST PORT [--timeout S]") }
    connect(host: arguments[1], port: port, timeout: option("--timeout").flatMap(Double.init) ?? 1.5)
case "rate":
    guard arguments.count >= 3, let port = UInt16(arguments[2]) else { fail("usage: netpeer rate HOST PORT [--seconds N]") }
    rate(host: arguments[1], port: port, seconds: min(max(option("--seconds").flatMap(Double.init) ?? 5, 0.5), 60))
default:
    fail("usage: netpeer listen PORT... [--seconds N] | netpeer connect HOST PORT [--timeout S]")
}
