import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl watch`: one line per new connection attempt, as the kernel decides it.
    struct Watch: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "watch",
            abstract: "Print each new connection attempt as it happens: source, port, the kernel's verdict, and the rule, default or table that decided it.",
            discussion: """
            For as long as it runs, portctl adds table inet portctl-trace-PID-START, which marks \
            new connections (TCP SYN before conntrack, priority -350; UDP ct state new, -199) to \
            the given ports (all when none are given) for the kernel's trace, and reads the trace \
            events: every table the attempt met counts (Docker's, anyone's). Verdicts: accept, \
            drop, reject, limited (over a rule's --limit), banned, forwarded to ADDR:PORT (a DNAT). \
            Ctrl-C or SIGTERM removes the table and ends; a killed watch's table is removed by the \
            next portctl command. If the kernel drops trace events (the reader fell behind), watch \
            says how many attempts it did not see. Needs root or CAP_NET_ADMIN.

            Example: portctl watch 26 --verdict drop
            """
        )

        @Argument(help: ArgumentHelp("Ports to watch: 26, 53/udp, 8000-8100/tcp, a service name (all ports when none).", valueName: "port[/proto]"), transform: PortsArgument.parse)
        var ports: [PortsArgument] = []
        @Option(name: .long, help: ArgumentHelp("Only attempts from these sources: addresses or networks, comma-separated.", valueName: "cidr,..."))
        var from: String?
        @Option(name: .long, help: ArgumentHelp("Only these verdicts, comma-separated: accept (forwarded too), drop (limited and banned too), reject, limited, banned, forwarded.", valueName: "verdict,..."))
        var verdict: String?
        @Flag(name: .long, help: "Print one JSON object per attempt, one per line.")
        var json = false
        @Flag(name: .long, help: "Show a table of the busiest sources and ports, refreshed every 2 seconds, instead of one line per attempt.")
        var top = false
        @Option(name: .long, help: ArgumentHelp("Stop after this many attempts are printed.", valueName: "n"))
        var count: Int?
        @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Stop after this long: 30s, 5m (else until Ctrl-C or SIGTERM).", valueName: "duration"), transform: TimeoutArgument.parse)
        var timeout: TimeoutArgument?
        @OptionGroup var global: GlobalOptions

        static let verdicts = ["accept", "drop", "reject", "limited", "banned", "forwarded"]

        func run() throws {
            try global.reporting {
                let specs = ports.map(\.spec)
                let sources = try from.map { try IPNetwork.parseCommaList($0) } ?? []
                let wanted = try verdict.map { text -> Set<String> in
                    let words = text.split(separator: ",").map { $0.trimmingASCIISpaces().lowercased() }
                    for word in words where !Self.verdicts.contains(word) {
                        throw PolicyError.invalidValue(word, field: "--verdict", allowed: Self.verdicts)
                    }
                    return Set(words)
                }
                let seconds = timeout?.seconds
                if let count, count < 1 {
                    throw Failure(message: "invalid --count \"\(count)\": give a number of attempts from 1", code: .usage)
                }
                if top && json {
                    throw Failure(message: "--top and --json do not go together: --top draws a table for people, --json writes lines for programs", code: .usage)
                }
                try requireNetAdmin("watching connections")
                let control = global.control
                let policy = try control.loadPolicy()?.policy
                control.removeAbandonedTraces()
                let tracer = try PacketTracer(portctlTable: policy?.table ?? PortPolicy.defaultTable)
                Tracing.stopOnSignals(tracer)
                var shown = 0
                var board = TopBoard()
                var pipeClosed = false
                let summary = try tracer.run(marking: .watch(ports: specs, from: sources), seconds: seconds) { notice in
                    switch notice {
                    case .started:
                        let what = specs.isEmpty ? "all ports" : ports.map(\.text).joined(separator: ", ")
                        FileHandle.standardError.write(Data("watching new connections to \(what)\(sources.isEmpty ? "" : " from \(from!)") (table inet \(tracer.traceTable); Ctrl-C ends)\n".utf8))
                        if top, !board.draw() { pipeClosed = true; return false }
                    case .tick:
                        if top, !board.tick() { pipeClosed = true; return false }
                    case let .eventsLost(lost):
                        board.lost = lost
                        if !top {
                            FileHandle.standardError.write(Data("portctl: the kernel dropped trace events: at least \(lost) connection attempt\(lost == 1 ? "" : "s") not shown\n".utf8))
                        }
                    case let .packet(packet):
                        guard Self.matches(packet.outcome, wanted) else { return true }
                        shown += 1
                        if top {
                            board.add(packet)
                        } else {
                            let line = json ? Tracing.jsonLine(Tracing.PacketJSON(packet, path: false, explain: nil)) : Self.line(packet)
                            if !Tracing.emit(line) { pipeClosed = true; return false }
                        }
                    }
                    return count.map { shown < $0 } ?? true
                }
                if pipeClosed { return }
                if top { _ = board.draw() }
                if summary.lost > 0 {
                    FileHandle.standardError.write(Data("portctl: \(summary.lost) of \(summary.marked ?? 0) new connection attempts were not shown: the kernel dropped their trace events (the reader fell behind)\n".utf8))
                }
            }
        }

        /// Whether the outcome is one of the wanted verdicts (all when none are named).
        static func matches(_ outcome: TraceOutcome, _ wanted: Set<String>?) -> Bool {
            guard let wanted else { return true }
            let word = outcome.word
            if wanted.contains(word) { return true }
            if word.hasPrefix("forwarded") { return wanted.contains("forwarded") || wanted.contains("accept") }
            if word == "limited" || word == "banned" { return wanted.contains("drop") }
            return false
        }

        /// `14:03:07.120 203.0.113.7 -> 26/tcp drop by portctl's default`.
        static func line(_ packet: TracedPacket) -> String {
            var text = "\(Tracing.clockTime(packet.seenAt)) \(Tracing.attempt(packet)) \(packet.outcome.word) by \(packet.outcome.decider)"
            if let rule = packet.outcome.decidedBy?.rule, packet.outcome.decidedBy?.role == nil {
                text += ": \(rule)"
            }
            if !packet.complete { text += " (some trace events lost)" }
            return text
        }
    }
}

/// `watch --top`: the busiest sources and ports, in bounded memory.
struct TopBoard {
    var sources = TopCounts<String>(capacity: 1000)
    var ports = TopCounts<String>(capacity: 1000)
    var attempts = 0
    var accepted = 0
    var lost = 0
    var ticks = 0
    let started = Date()
    let terminal = isatty(1) == 1

    mutating func add(_ packet: TracedPacket) {
        let ok = packet.outcome.verdict == "accept"
        attempts += 1
        if ok { accepted += 1 }
        sources.add(packet.headers?.source.description ?? "?", accepted: ok)
        let port = packet.headers.map { "\($0.destinationPort.map(String.init) ?? "-")/\($0.protocolName)" } ?? "?"
        ports.add(port, accepted: ok)
    }

    /// Redraws every other second.
    mutating func tick() -> Bool {
        ticks += 1
        return ticks % 2 == 0 ? draw() : true
    }

    /// Draws the board (on a terminal over the last one; else as a block of its own).
    func draw() -> Bool {
        let elapsed = Int(Date().timeIntervalSince(started))
        var lines = ["portctl watch --top: \(attempts) attempt\(attempts == 1 ? "" : "s") in \(elapsed)s, \(accepted) accepted, \(attempts - accepted) refused"
                     + (lost > 0 ? ", at least \(lost) not seen (the kernel dropped trace events)" : "")]
        for (title, counts) in [("SOURCE", sources), ("PORT", ports)] {
            lines.append("")
            var rows = [[title, "ATTEMPTS", "ACCEPTED", "REFUSED"]]
            rows += counts.top(10).map { [$0.key, "\($0.counts.total)", "\($0.counts.accepted)", "\($0.counts.refused)"] }
            let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
            lines += rows.map { row in
                row.enumerated().map { index, cell in cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
            }
        }
        let text = (terminal ? "\u{1B}[H\u{1B}[2J" : "\n") + lines.joined(separator: "\n")
        return Tracing.emit(text)
    }
}
