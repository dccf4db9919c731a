import Foundation
import PortPolicy
import PortctlDriver
#if canImport(Glibc)
import Glibc
#endif

/// What `trace` and `watch` share: routing signals to the tracer, writing lines that notice a
/// closed pipe, and the JSON shape of a packet.
enum Tracing {
    /// Makes SIGINT, SIGTERM and SIGHUP stop the tracer (which then removes its table before the
    /// process exits), and a closed standard output an error of `write` rather than a kill. The
    /// handler only writes a byte to the tracer's stop descriptor (async-signal-safe). A SIGINT or
    /// SIGHUP ignored when portctl started (a background job, nohup) stays ignored: it would not
    /// have ended the process, so nothing is left behind by it. Call it on the thread that runs
    /// the tracer.
    static func stopOnSignals(_ tracer: PacketTracer) {
        signal(SIGPIPE, SIG_IGN)
        stopDescriptor = tracer.stopDescriptor
        for number in [SIGINT, SIGTERM, SIGHUP] {
            var current = sigaction()
            sigaction(number, nil, &current)
            if number != SIGTERM, unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) {
                continue
            }
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { _ in
                var byte: UInt8 = 1
                _ = write(Tracing.stopDescriptor, &byte, 1)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(number, &action, nil)
        }
        // A signal mask inherited blocked (some parents spawn with one) would hold the signal
        // back forever: the handler runs on this thread.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for number in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&unblock, number) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    }

    /// The tracer's stop descriptor, for the signal handler (set before the handler is installed).
    nonisolated(unsafe) static var stopDescriptor: Int32 = -1

    /// Writes a line to standard output at once (a reader of a stream wants it now); false when
    /// the reader is gone (a closed pipe).
    static func emit(_ line: String) -> Bool {
        var bytes = Array(line.utf8)
        bytes.append(10)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }

    /// The local time of day with milliseconds: `14:03:07.120`.
    static func clockTime(_ date: Date?) -> String {
        let date = date ?? Date()
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        localtime_r(&seconds, &parts)
        let milliseconds = Int((date.timeIntervalSince1970 - Double(seconds)) * 1000)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = milliseconds < 10 ? "00\(milliseconds)" : milliseconds < 100 ? "0\(milliseconds)" : "\(milliseconds)"
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(millis)"
    }

    /// `SOURCE -> PORT/PROTO` as `watch` prints it (the destination address left out).
    static func attempt(_ packet: TracedPacket) -> String {
        guard let headers = packet.headers else { return "(headers not seen)" }
        return "\(headers.source) -> \(headers.destinationPort.map { "\($0)/" } ?? "")\(headers.protocolName)"
    }

    /// The packet as one JSON object (one line).
    struct PacketJSON: Encodable {
        var time: String?
        var source: String?
        var sourcePort: UInt16?
        var destination: String?
        var port: UInt16?
        var proto: String?
        var tcpFlags: String?
        var interface: String?
        var verdict: String
        var decidedBy: String
        var rule: String?
        var table: String?
        var chain: String?
        var ruleText: String?
        var forwardedTo: String?
        var complete: Bool
        var path: [TraceHop]?
        var explain: TraceComparison?

        enum CodingKeys: String, CodingKey {
            case time, source, sourcePort, destination, port, proto = "protocol", tcpFlags, interface, verdict, decidedBy
            case rule, table, chain, ruleText, forwardedTo, complete, path, explain
        }

        init(_ packet: TracedPacket, path: Bool, explain: TraceComparison?) {
            time = packet.seenAt.map(Self.isoTime)
            source = packet.headers?.source.description
            sourcePort = packet.headers?.sourcePort
            destination = packet.headers?.destination.description
            port = packet.headers?.destinationPort
            proto = packet.headers?.protocolName
            tcpFlags = packet.headers?.tcpFlagNames
            interface = packet.inInterfaceName
            verdict = packet.outcome.word
            decidedBy = packet.outcome.decider
            let hop = packet.outcome.decidedBy
            rule = hop?.ruleID
            table = hop?.tableName
            chain = hop?.chain
            ruleText = hop?.rule
            forwardedTo = packet.outcome.forwardedTo
            complete = packet.complete
            self.path = path ? packet.hops : nil
            self.explain = explain
        }

        /// UTC with milliseconds: `2026-05-01T14:03:07.120Z`.
        static func isoTime(_ date: Date) -> String {
            let whole = Timestamp.format(date)
            let milliseconds = Int((date.timeIntervalSince1970 - date.timeIntervalSince1970.rounded(.down)) * 1000)
            guard whole.hasSuffix("Z") else { return whole }
            return String(whole.dropLast()) + "." + String(format: "%03d", milliseconds) + "Z"
        }
    }

    /// One JSON line.
    static func jsonLine(_ value: some Encodable) -> String {
        String(decoding: (try? JSONText.encoder(pretty: false).encode(value)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
