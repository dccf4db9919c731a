import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

/// A command-line value that PortPolicy's own parser checks while ArgumentParser parses, so a
/// bad one is refused by the parser (exit 64) with PortPolicy's one-line message, which names
/// the value and what is allowed (`Portctl.main` finds it inside the parser's error).
///
/// Declare the option or argument with `transform: T.parse`: a failable `init?(argument:)` alone
/// would lose the reason (ArgumentParser would only say the value is invalid).
protocol CheckedArgument: ExpressibleByArgument {
    /// Parses `text`; the error names the value and what is allowed.
    init(parsing text: String) throws(PolicyError)
}

extension CheckedArgument {
    init?(argument: String) {
        try? self.init(parsing: argument)
    }

    /// For `transform:`: the value, or the parser's error carrying PortPolicy's.
    static func parse(_ text: String) throws -> Self {
        try Self(parsing: text)
    }
}

/// Ports as typed: `26`, `26/tcp`, `53/udp`, `8000-8100/tcp`, `25,26,587/tcp`, `smtp`
/// (``PortSpec/init(parsing:services:)`` with this system's services database).
struct PortsArgument: CheckedArgument {
    /// As typed, for messages.
    let text: String
    /// The ports and protocol.
    let spec: PortSpec

    init(parsing text: String) throws(PolicyError) {
        self.text = text
        spec = try PortSpec(parsing: text, services: SystemServices.load())
    }

    /// Whether the text names a protocol (`53/udp`): without one, a bare port means TCP.
    var namesProtocol: Bool { text.contains("/") }

    /// The one port it names (`explain`, `trace`), or an error saying the command takes one.
    func single(for command: String) throws(PolicyError) -> UInt16 {
        guard spec.ports.count == 1, spec.ports[0].first == spec.ports[0].last else {
            throw .invalidPort(text, reason: "\(command) takes one port, like 26 or 53/udp")
        }
        return spec.ports[0].first
    }
}

/// A duration: `90s`, `30m`, `2h`, `1d`, `1h30m` (``parseDuration(_:)``: 1 second to 365 days).
struct DurationArgument: CheckedArgument {
    /// As typed, for messages.
    let text: String
    /// The duration in whole seconds.
    let seconds: Int

    init(parsing text: String) throws(PolicyError) {
        self.text = text
        seconds = try parseDuration(text)
    }

    /// The moment it ends, counted from `now`, in whole seconds (as the kernel's timeouts count).
    func end(from now: Date = Date()) -> Date {
        Date(timeIntervalSince1970: (now.timeIntervalSince1970 + Double(seconds)).rounded(.down))
    }
}

/// `--confirm`'s time: a bare number of seconds (`90`) or a duration (`5m`), 1 second to 24 hours.
struct ConfirmTime: CheckedArgument {
    /// The time in seconds.
    let seconds: Int

    init(parsing text: String) throws(PolicyError) {
        let value = text.allSatisfy(\.isASCII) ? Int(text) ?? (try? parseDuration(text)) : nil
        guard let value, (1...86400).contains(value) else {
            throw .invalidValue(text, field: "--confirm", allowed: ["seconds (1 to 86400) or a duration like 90s, 5m or 1h30m, up to 24h"])
        }
        seconds = value
    }
}

/// `trace`'s and `watch`'s `--timeout`: a duration (`30s`, `5m`), or a plain number of seconds
/// (`20`, `0.5`), up to 365 days.
struct TimeoutArgument: CheckedArgument, CustomStringConvertible {
    /// As typed, for messages.
    let text: String
    /// The time in seconds.
    let seconds: Double

    /// A timeout of `seconds`, written `text`.
    init(_ text: String, seconds: Double) {
        self.text = text
        self.seconds = seconds
    }

    init(parsing text: String) throws(PolicyError) {
        self.text = text
        if let plain = Double(text), plain > 0, plain <= 365 * 86400 {
            seconds = plain
        } else if let duration = try? parseDuration(text) {
            seconds = Double(duration)
        } else {
            throw .invalidValue(text, field: "--timeout", allowed: ["a time like 30s, 5m or 1h (a plain number is seconds)"])
        }
    }

    /// How it reads in a message: `20s` for `20`, else as typed.
    var description: String { Double(text) != nil ? "\(text)s" : text }
}

/// `--limit`'s rate: `6/minute` (``RateLimit/init(parsing:)``).
struct RateArgument: CheckedArgument {
    /// The rate.
    let limit: RateLimit

    init(parsing text: String) throws(PolicyError) {
        limit = try RateLimit(parsing: text)
    }
}

extension Portctl {
    /// The error a value's own parser threw (a ``CheckedArgument``'s), which ArgumentParser keeps
    /// inside the error it throws; nil for every other parse error (ArgumentParser's message
    /// is used for those).
    static func valueError(in error: any Error) -> PolicyError? {
        func search(_ value: Any, depth: Int) -> PolicyError? {
            if let found = value as? PolicyError { return found }
            guard depth < 8 else { return nil }
            for child in Mirror(reflecting: value).children {
                if let found = search(child.value, depth: depth + 1) { return found }
            }
            return nil
        }
        return search(error, depth: 0)
    }

    /// When the parser refused a negative number where no value was due (`portctl open -5`: it
    /// reads `-5` as an unknown option), the line that names it; nil otherwise. Values that
    /// options take are the options' own to judge: they are parsed unconditionally, so
    /// `--comment "-5 relays"` is a comment and `--for -5m` an invalid duration.
    static func negativeNumberMessage(_ arguments: [String], parserMessage: String) -> String? {
        func isNegativeNumber(_ text: String) -> Bool {
            text.count > 1 && text.hasPrefix("-") && text.dropFirst().first!.isNumber
        }
        // ArgumentParser: "Unknown option '-5'", or "Missing expected argument '<ports>'" when
        // the number stood where the argument was due (after the command or another argument).
        let positional = arguments.indices.first { index in
            isNegativeNumber(arguments[index]) && index > 0 && !arguments[index - 1].hasPrefix("-")
        }.map { arguments[$0] }
        let unknown = arguments.first { isNegativeNumber($0) && parserMessage.hasPrefix("Unknown option '\($0.prefix(2))") }
        if let token = parserMessage.hasPrefix("Missing expected argument") ? positional : unknown {
            return "invalid value \(quoted(token)): ports run from 1 to 65535, and no argument is a negative number"
        }
        let counts = ["--warn-drops": "a number of packets, 0 or more", "--crit-drops": "a number of packets, 0 or more"]
        for (index, option) in arguments.enumerated().dropLast() where parserMessage.hasPrefix("Missing value for '\(option) ")
            && isNegativeNumber(arguments[index + 1]) {
            return "invalid \(option) \(quoted(arguments[index + 1])): use \(counts[option] ?? "a value that is not negative")"
        }
        return nil
    }
}

/// Whether a value reads as a long option someone meant: `--dry-run`, `--from=10.0.0.0/8`.
/// (`-h` and `--help` anywhere print the help before any value is read: nothing changes.)
func looksLikeAnOption(_ value: String) -> Bool {
    let name = value.split(separator: "=", maxSplits: 1).first.map(String.init) ?? value
    return name.count > 2 && name.hasPrefix("--") && name.dropFirst(2).allSatisfy { $0.isASCII && ($0.isLetter || $0 == "-") }
}

/// Refuses a free-text value given as its own word that looks like an option
/// (`--comment --dry-run`, `--comment --from=10.0.0.0/8`): options take their next word whatever it starts with (so
/// `--comment "-5 relays"` works), and taken as text it would silently drop the option the admin
/// meant. Attached with `=` (`--comment=--dry-run`) it is taken as written. `names` are the
/// option's spellings, the first being the one messages use.
func refuseOptionLike(_ value: String?, for names: String...) throws {
    guard let value, looksLikeAnOption(value),
          !names.contains(where: { CommandLine.arguments.contains("\($0)=\(value)") })
    else { return }
    throw ValidationError("\(names[0]) \(quoted(value)): that is an option, not a value; give the value (or write \(names[0])=\(value) to mean it)")
}
