// netpeer: the TCP and UDP listener and connector the real-kernel tests run inside network
// namespaces.
//
//   netpeer listen PORT [PORT...] [--seconds N] [--udp] [--address ADDR]
//       on every address (IPv4 and IPv6), or TCP on ADDR only, until N seconds pass (default 120):
//       accept and close TCP connections, or with --udp echo each datagram to its sender; print
//       "listening" once ready
//   netpeer connect HOST PORT [--timeout S] [--udp]
//       TCP: exit 0 when the handshake completes, 3 on a reset, 4 on a timeout, 5 on an ICMP
//       error, 1 otherwise. UDP: send a datagram (again halfway through S) and exit 0 on a reply,
//       3 on an ICMP port unreachable, 4 on a timeout, 5 on another ICMP error, 1 otherwise
//   netpeer rate HOST PORT [--seconds N]
//       TCP connect and close in a loop for N seconds (at most 60), print connections per second
#if canImport(Glibc)
import Glibc
#endif

func note(_ message: String) {
    let line = Array("netpeer: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

func fail(_ message: String) -> Never {
    note(message)
    exit(1)
}

/// A non-blocking socket bound to `port` on every address, IPv4 and IPv6 (V6ONLY off).
func boundSocket(_ type: __socket_type, port: UInt16) -> Int32 {
    let fd = socket(AF_INET6, Int32(type.rawValue), 0)
    guard fd >= 0 else { fail("socket: \(String(cString: strerror(errno)))") }
    var on: Int32 = 1, off: Int32 = 0
    if type == SOCK_STREAM {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
    } else {
        // The address each datagram was sent to, so the echo leaves from it.
        setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_RECVPKTINFO, &on, socklen_t(MemoryLayout<Int32>.size))
    }
    setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &off, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in6()
    address.sin6_family = sa_family_t(AF_INET6)
    address.sin6_port = port.bigEndian
    address.sin6_addr = in6addr_any
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
    }
    guard bound == 0 else { fail("bind \(port): \(String(cString: strerror(errno)))") }
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    return fd
}

/// Prints "listening", then hands each readable socket to `handle` until `seconds` pass.
func serve(_ fds: [Int32], seconds: Int, _ handle: (Int32) -> Void) -> Never {
    let ready = Array("listening\n".utf8)
    _ = ready.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    let deadline = time(nil) + seconds
    while time(nil) < deadline {
        var polls = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        if poll(&polls, nfds_t(polls.count), 500) > 0 {
            for entry in polls where entry.revents & Int16(POLLIN) != 0 { handle(entry.fd) }
        }
    }
    exit(0)
}

/// A non-blocking TCP socket bound to `port` on one numeric address only (`127.0.0.1`, `::1`).
func boundSocket(address: String, port: UInt16) -> Int32 {
    let info = resolve(address, port)
    defer { freeaddrinfo(info) }
    let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { fail("socket: \(String(cString: strerror(errno)))") }
    var on: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
    guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else { fail("bind \(address) \(port): \(String(cString: strerror(errno)))") }
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    return fd
}

func listen(ports: [UInt16], seconds: Int, address: String?) -> Never {
    let fds = ports.map { port in
        let fd = address.map { boundSocket(address: $0, port: port) } ?? boundSocket(SOCK_STREAM, port: port)
        guard Glibc.listen(fd, 1024) == 0 else { fail("listen \(port): \(String(cString: strerror(errno)))") }
        return fd
    }
    serve(fds, seconds: seconds) { fd in
        // Drain the backlog: the listener must not be what limits a rate measurement.
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { break }
            close(client)
        }
    }
}

func listenUDP(ports: [UInt16], seconds: Int) -> Never {
    let fds = ports.map { boundSocket(SOCK_DGRAM, port: $0) }
    var payload = [UInt8](repeating: 0, count: 65_536)
    var control = [UInt8](repeating: 0, count: 256)
    serve(fds, seconds: seconds) { fd in
        // Every waiting datagram goes back to its sender, from the address and interface it came
        // in on: the received IPV6_PKTINFO (a v4-mapped address for IPv4) is the reply's.
        var sender = sockaddr_in6()
        while true {
            let received = payload.withUnsafeMutableBytes { payloadBytes in
                control.withUnsafeMutableBytes { controlBytes in
                    withUnsafeMutablePointer(to: &sender) { senderPointer in
                        var vector = iovec(iov_base: payloadBytes.baseAddress, iov_len: payloadBytes.count)
                        return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                            var message = msghdr()
                            message.msg_name = UnsafeMutableRawPointer(senderPointer)
                            message.msg_namelen = socklen_t(MemoryLayout<sockaddr_in6>.size)
                            message.msg_iov = vectorPointer
                            message.msg_iovlen = 1
                            message.msg_control = controlBytes.baseAddress
                            message.msg_controllen = controlBytes.count
                            let count = recvmsg(fd, &message, 0)
                            guard count >= 0 else { return false }
                            vectorPointer.pointee.iov_len = count
                            message.msg_flags = 0
                            if sendmsg(fd, &message, 0) < 0 { note("echo: \(String(cString: strerror(errno)))") }
                            return true
                        }
                    }
                }
            }
            if !received { break }
        }
    }
}

/// The socket address of a numeric host and port (the caller frees it with freeaddrinfo).
func resolve(_ host: String, _ port: UInt16, _ type: __socket_type = SOCK_STREAM) -> UnsafeMutablePointer<addrinfo> {
    var hints = addrinfo()
    hints.ai_flags = AI_NUMERICHOST
    hints.ai_socktype = Int32(type.rawValue)
    var result: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else { fail("bad address \(host)") }
    return info
}

/// Prints what a connect attempt saw and exits with its code.
func finish(_ code: Int32, success: String) -> Never {
    switch code {
    case 0: print(success); exit(0)
    case ECONNREFUSED: print("refused"); exit(3)
    case EHOSTUNREACH, ENETUNREACH, EACCES, EPERM: print("unreachable"); exit(5)
    default: print("error \(code)"); exit(1)
    }
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
    finish(code, success: "connected")
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// A connected UDP socket sends "ping" and waits for the echo. An ICMP error for a datagram
/// surfaces as the error of the socket's next call, so the wait is a poll and the error is read
/// with recv; a second datagram halfway through covers a first one lost before the path was up.
func connectUDP(host: String, port: UInt16, timeout: Double) -> Never {
    let info = resolve(host, port, SOCK_DGRAM)
    let fd = socket(info.pointee.ai_family, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { fail("socket: \(String(cString: strerror(errno)))") }
    if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 { finish(errno, success: "replied") }
    freeaddrinfo(info)
    let ping = Array("ping".utf8)
    func send() {
        if ping.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, 0) }) < 0 { finish(errno, success: "replied") }
    }
    let start = monotonicSeconds()
    var resent = false
    send()
    while true {
        let elapsed = monotonicSeconds() - start
        if elapsed >= timeout { print("timeout"); exit(4) }
        if !resent && elapsed >= timeout / 2 {
            resent = true
            send()
        }
        let wait = (resent ? timeout : timeout / 2) - elapsed
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&entry, 1, Int32((wait * 1000).rounded(.up))) > 0 {
            var reply = [UInt8](repeating: 0, count: 2048)
            let count = recv(fd, &reply, reply.count, 0)
            finish(count >= 0 ? 0 : errno, success: "replied")
        }
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
let udp = arguments.contains("--udp")
switch arguments.first {
case "listen":
    let seconds = min(max(option("--seconds").flatMap(Int.init) ?? 120, 1), 600)
    let ports = arguments.dropFirst().prefix { !$0.hasPrefix("--") }.compactMap(UInt16.init)
    guard !ports.isEmpty else { fail("listen needs ports") }
    if udp { listenUDP(ports: ports, seconds: seconds) }
    listen(ports: ports, seconds: seconds, address: option("--address"))
case "connect":
    guard arguments.count >= 3, let port = UInt16(arguments[2]) else { fail("usage: netpeer connect HOST PORT [--timeout S] [--udp]") }
    let timeout = option("--timeout").flatMap(Double.init) ?? 1.5
    if udp { connectUDP(host: arguments[1], port: port, timeout: timeout) }
    connect(host: arguments[1], port: port, timeout: timeout)
case "rate":
    guard arguments.count >= 3, let port = UInt16(arguments[2]) else { fail("usage: netpeer rate HOST PORT [--seconds N]") }
    rate(host: arguments[1], port: port, seconds: min(max(option("--seconds").flatMap(Double.init) ?? 5, 0.5), 60))
default:
    fail("usage: netpeer listen PORT... [--seconds N] [--udp] [--address ADDR] | netpeer connect HOST PORT [--timeout S] [--udp]")
}
