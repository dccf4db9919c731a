// portctl-parser-bench: the hand-written readers (BlockYAML, the strict JSON reader, Timestamp)
// against the library readers that could replace them, each by itself (docs/benchmarks.md,
// "The hand-written readers, measured").
//
//   portctl-parser-bench warm [--rounds N] [--quick]  repeated runs in this process; samples as JSON
//   portctl-parser-bench cold NAME                    one first call in a fresh process; seconds as JSON
//   portctl-parser-bench cold-names                   the names `cold` takes, one a line
//   portctl-parser-bench check [--full]               what each reader accepts and refuses (markdown)
//   portctl-parser-bench loop PART INPUT READER N     one case N times (for `perf record`); names as in `warm`
//
// `scripts/bench --only parsers` builds it in release mode, runs it in several processes and
// prints the medians. Nothing here needs root or a kernel.
import Foundation
import PortPolicy
import Yams

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Inputs

/// Source number `i` of a large rule: 94% IPv4 hosts, 4% IPv4 /24s, 2% IPv6 /64s (every 50th),
/// in private and documentation ranges, distinct for every `i` below 500,000.
func source(_ i: Int) -> IPNetwork {
    let text: String
    if i % 50 == 49 {
        text = "2001:db8:\(String(i >> 16, radix: 16)):\(String(i & 0xffff, radix: 16))::/64"
    } else if i % 20 == 19 {
        let network = i / 20
        text = "10.\(128 + network >> 8).\(network & 255).0/24"
    } else {
        let value = 0x0A00_0000 + 2 * i
        text = "\(value >> 24).\((value >> 16) & 255).\((value >> 8) & 255).\(value & 255)"
    }
    return try! IPNetwork(parsing: text)
}

/// A policy as portctl keeps one: SSH, a web rule, a rate-limited and time-boxed opening, and
/// one rule whose sources number `sources` (the policy's size).
func policy(sources: Int) -> PortPolicy {
    var relays = PortRule(id: "relays", ports: [try! PortRange(26)], sources: (0..<sources).map(source),
                          comment: "mail relays")
    relays.log = true
    var temporary = PortRule(id: "vendor-vpn", ports: [try! PortRange(8443)], sources: [try! IPNetwork(parsing: "203.0.113.0/24")])
    temporary.limit = try! RateLimit(parsing: "10/minute")
    temporary.expires = Date(timeIntervalSince1970: 1_800_000_000)
    return PortPolicy(rules: [
        PortRule(id: "ssh", ports: [try! PortRange(22)], sources: [try! IPNetwork(parsing: "198.51.100.0/24")],
                 comment: "added on first run so the admin keeps access"),
        PortRule(id: "web", ports: [try! PortRange(80), try! PortRange(443), try! PortRange(8000, 8100)], proto: .both),
        temporary,
        relays,
    ])
}

/// The policy file portctl writes (``PolicyFile/encode(_:)``).
func yamlText(sources: Int) -> String { PolicyFile.encode(policy(sources: sources)) }

/// The policy file as JSON, in the shape `portctl list --json` prints and plan files embed.
func jsonText(sources: Int) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try! encoder.encode(policy(sources: sources)), as: UTF8.self) + "\n"
}

/// A hand-written policy from Examples/policies, when run from the repository.
func exampleText() -> String? {
    try? String(contentsOfFile: "Examples/policies/web-server.yaml", encoding: .utf8)
}

/// 100,000 distinct instants as files hold them: whole seconds in UTC, every 10th with an offset.
func timestampTexts() -> [String] {
    (0..<100_000).map { i in
        let date = Date(timeIntervalSince1970: 1_700_000_000 + Double(i) * 7_919)
        if i % 10 == 9 {
            // The same instant written two hours east of UTC.
            let text = Timestamp.format(date.addingTimeInterval(7_200))
            return text.dropLast() + "+02:00"
        }
        return Timestamp.format(date)
    }
}

func timestampDates() -> [Date] {
    (0..<100_000).map { Date(timeIntervalSince1970: 1_700_000_000 + Double($0) * 7_919) }
}

// MARK: - The alternatives to Timestamp

/// `Date.ISO8601FormatStyle` as it is: `yyyy-MM-dd'T'HH:mm:ssZ` in UTC; parsing also takes a
/// fraction and offsets.
let isoStyle = Date.ISO8601FormatStyle()

/// ISO8601FormatStyle made as strict as ``Timestamp/parse(_:)``: the style alone takes
/// `2026-02-29`, `2026-11-31`, hour 24, `+1:00`, `GMT` and trailing text, and refuses RFC 3339's
/// `t`, `z` and space separator. This checks the shape and the calendar first, normalizes the
/// separators, and leaves the arithmetic to the style.
func strictISOParse(_ text: String) -> Date? {
    var bytes = Array(text.utf8)
    func digit(_ at: Int) -> Int? {
        at < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[at]) ? Int(bytes[at] - UInt8(ascii: "0")) : nil
    }
    func number(_ at: Int, _ width: Int) -> Int? {
        var value = 0
        for offset in 0..<width {
            guard let d = digit(at + offset) else { return nil }
            value = value * 10 + d
        }
        return value
    }
    guard bytes.count >= 20, let year = number(0, 4), bytes[4] == UInt8(ascii: "-"), let month = number(5, 2),
          bytes[7] == UInt8(ascii: "-"), let day = number(8, 2), "Tt ".utf8.contains(bytes[10]),
          let hour = number(11, 2), bytes[13] == UInt8(ascii: ":"), let minute = number(14, 2),
          bytes[16] == UInt8(ascii: ":"), let second = number(17, 2)
    else { return nil }
    var index = 19
    if bytes[index] == UInt8(ascii: ".") {
        index += 1
        let start = index
        while digit(index) != nil { index += 1 }
        if index == start { return nil }
    }
    guard index < bytes.count else { return nil }
    if bytes[index] == UInt8(ascii: "Z") || bytes[index] == UInt8(ascii: "z") {
        bytes[index] = UInt8(ascii: "Z")
        index += 1
    } else if bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
        guard let hours = number(index + 1, 2), index + 3 < bytes.count, bytes[index + 3] == UInt8(ascii: ":"),
              let minutes = number(index + 4, 2), hours < 24, minutes < 60
        else { return nil }
        index += 6
    } else {
        return nil
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    guard index == bytes.count, (1...12).contains(month), day >= 1, day <= days[month - 1], hour < 24, minute < 60,
          second < 61
    else { return nil }
    bytes[10] = UInt8(ascii: "T")
    return try? isoStyle.parse(String(decoding: bytes, as: UTF8.self))
}

/// What portctl used before ``Timestamp``: ISO8601DateFormatter (ICU), whole seconds first,
/// then with a fraction. `nonisolated(unsafe)`: a formatter is not Sendable, and this program
/// runs on one thread.
nonisolated(unsafe) let formatterWhole: ISO8601DateFormatter = {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter
}()
nonisolated(unsafe) let formatterFraction: ISO8601DateFormatter = {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter
}()

func formatterParse(_ text: String) -> Date? {
    formatterWhole.date(from: text) ?? formatterFraction.date(from: text)
}

// MARK: - Cases

/// One thing to time: `run` does it once and returns a number that depends on the result.
struct Case {
    var part: String
    var input: String
    var reader: String
    var run: () throws -> Int
}

func yamlCases(_ label: String, _ text: String, withAlternatives: Bool = true) -> [Case] {
    // The shortcut gives up at once on an explicit document start, so `---` makes the whole load
    // go through libyaml: the same file, read as it would be without BlockYAML.
    let throughYams = "---\n" + text
    var cases = [
        Case(part: "yaml", input: label, reader: "BlockYAML (hand-written)") { ParserBench.blockYAML(text)!.count },
        Case(part: "yaml", input: label, reader: "Yams.compose, default resolver + document tree") { try ParserBench.yamsNodes(text).count },
        Case(part: "yaml", input: label, reader: "Yams.compose, basic resolver + document tree (the fallback)") { try ParserBench.yamsNodesBasic(text).count },
    ]
    if withAlternatives {
        cases += [
            Case(part: "yaml", input: label, reader: "YAMLDecoder into the document tree (Codable)") { try ParserBench.yamsDecoder(text).count },
            Case(part: "yaml", input: label, reader: "Yams.compose alone (Node tree)") { try Yams.compose(yaml: text) == nil ? 0 : 1 },
            Case(part: "yaml", input: label, reader: "Yams.load alone (Any)") { try Yams.load(yaml: text) == nil ? 0 : 1 },
            Case(part: "yaml", input: label, reader: "PolicyFile.decode, whole load (BlockYAML)") { try PolicyFile.decode(text).rules.count },
            Case(part: "yaml", input: label, reader: "PolicyFile.decode, whole load (through Yams)") { try PolicyFile.decode(throughYams).rules.count },
        ]
    }
    return cases
}

func jsonCases(_ label: String, _ text: String) -> [Case] {
    [
        Case(part: "json", input: label, reader: "strict JSON reader (hand-written)") { try ParserBench.strictJSON(text).count },
        Case(part: "json", input: label, reader: "JSONSerialization + duplicate-key scan + tree") { try ParserBench.foundationJSON(text).count },
        Case(part: "json", input: label, reader: "JSONDecoder into the tree + duplicate-key scan") { try ParserBench.jsonDecoder(text).count },
        Case(part: "json", input: label, reader: "JSONSerialization alone (Any)") {
            (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?.count ?? 0
        },
        Case(part: "json", input: label, reader: "PolicyFile.decode, whole load (strict reader)") { try PolicyFile.decode(text).rules.count },
    ]
}

func timestampCases(quick: Bool) -> [Case] {
    let texts = timestampTexts(), dates = timestampDates()
    func parseAll(_ parse: (String) -> Date?) -> Int {
        var total = 0
        for text in texts { total &+= Int(parse(text)!.timeIntervalSince1970) }
        return total
    }
    func formatAll(_ format: (Date) -> String) -> Int {
        var total = 0
        for date in dates { total &+= format(date).utf8.count }
        return total
    }
    let input = "100,000 instants"
    return [
        Case(part: "timestamp parse", input: input, reader: "Timestamp.parse (hand-written)") { parseAll(Timestamp.parse) },
        Case(part: "timestamp parse", input: input, reader: "Date.ISO8601FormatStyle (as is: lenient)") { parseAll { try? isoStyle.parse($0) } },
        Case(part: "timestamp parse", input: input, reader: "Date.ISO8601FormatStyle + Timestamp's checks") { parseAll(strictISOParse) },
        Case(part: "timestamp parse", input: input, reader: "ISO8601DateFormatter (before Timestamp)") { parseAll(formatterParse) },
        Case(part: "timestamp format", input: input, reader: "Timestamp.format (hand-written)") { formatAll(Timestamp.format) },
        Case(part: "timestamp format", input: input, reader: "Date.ISO8601FormatStyle") { formatAll { isoStyle.format($0) } },
        Case(part: "timestamp format", input: input, reader: "ISO8601DateFormatter (before Timestamp)") { formatAll { formatterWhole.string(from: $0) } },
    ]
}

func allCases(quick: Bool) -> [Case] {
    let sizes = quick ? [10, 1_000, 10_000] : [10, 1_000, 100_000]
    var cases: [Case] = []
    if let example = exampleText() {
        cases += yamlCases("Examples/policies/web-server.yaml", example)
    }
    for size in sizes {
        cases += yamlCases("\(size.formatted(.number.grouping(.automatic))) sources", yamlText(sources: size))
    }
    for size in sizes {
        cases += jsonCases("\(size.formatted(.number.grouping(.automatic))) sources", jsonText(sources: size))
    }
    cases += timestampCases(quick: quick)
    return cases
}

// MARK: - Timing

func nanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Runs every case `rounds` times, the cases interleaved so that a noisy minute falls on all of
/// them alike. A sample repeats a fast case until it has taken at least 20 ms and reports the
/// time of one run.
func warm(rounds: Int, quick: Bool) throws {
    let cases = allCases(quick: quick)
    var sink = 0
    var iterations: [Int] = []
    for item in cases {
        sink &+= try item.run()  // warm-up, and a check that it reads the input at all
        let start = nanoseconds()
        sink &+= try item.run()
        let once = max(nanoseconds() - start, 1)
        iterations.append(max(1, min(10_000, Int(20_000_000 / once))))
    }
    var samples = Array(repeating: [Double](), count: cases.count)
    for _ in 0..<rounds {
        for (index, item) in cases.enumerated() {
            let count = iterations[index]
            let start = nanoseconds()
            for _ in 0..<count { sink &+= try item.run() }
            samples[index].append(Double(nanoseconds() - start) / 1e9 / Double(count))
        }
    }
    let rows: [[String: Any]] = cases.enumerated().map { index, item in
        ["part": item.part, "input": item.input, "reader": item.reader, "iterations": iterations[index],
         "samples": samples[index]]
    }
    let data = try JSONSerialization.data(withJSONObject: ["cases": rows, "sink": sink], options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

/// The first call of a reader in a fresh process: what one CLI run pays for it, one-time setup
/// (time zone data, caches, code paged in) included. The input is made before the clock starts.
let coldCases: [String: () -> () throws -> Int] = [
    "timestamp parse: Timestamp.parse": { { Int(Timestamp.parse("2026-11-29T05:00:00Z")!.timeIntervalSince1970) } },
    "timestamp parse: Date.ISO8601FormatStyle": { { Int(try isoStyle.parse("2026-11-29T05:00:00Z").timeIntervalSince1970) } },
    "timestamp parse: Date.ISO8601FormatStyle + checks": { { Int(strictISOParse("2026-11-29T05:00:00Z")!.timeIntervalSince1970) } },
    "timestamp parse: ISO8601DateFormatter": { { Int(formatterParse("2026-11-29T05:00:00Z")!.timeIntervalSince1970) } },
    "timestamp format: Timestamp.format": { { Timestamp.format(Date(timeIntervalSince1970: 1_795_928_400)).utf8.count } },
    "timestamp format: Date.ISO8601FormatStyle": { { isoStyle.format(Date(timeIntervalSince1970: 1_795_928_400)).utf8.count } },
    "timestamp format: ISO8601DateFormatter": { { formatterWhole.string(from: Date(timeIntervalSince1970: 1_795_928_400)).utf8.count } },
    "yaml, 10 sources: BlockYAML": { let text = yamlText(sources: 10); return { ParserBench.blockYAML(text)!.count } },
    "yaml, 10 sources: Yams.compose + tree": { let text = yamlText(sources: 10); return { try ParserBench.yamsNodes(text).count } },
    "yaml, 10 sources: Yams.compose, basic resolver + tree": { let text = yamlText(sources: 10); return { try ParserBench.yamsNodesBasic(text).count } },
    "yaml, web-server.yaml: BlockYAML": { let text = exampleText() ?? ""; return { ParserBench.blockYAML(text)!.count } },
    "yaml, web-server.yaml: Yams.compose + tree": { let text = exampleText() ?? ""; return { try ParserBench.yamsNodes(text).count } },
    "json, 10 sources: strict JSON reader": { let text = jsonText(sources: 10); return { try ParserBench.strictJSON(text).count } },
    "json, 10 sources: JSONSerialization + scan": { let text = jsonText(sources: 10); return { try ParserBench.foundationJSON(text).count } },
]

@MainActor func cold(_ name: String) throws {
    guard let make = coldCases[name] else {
        FileHandle.standardError.write(Data("portctl-parser-bench: no cold case \(name.debugDescription)\n".utf8))
        exit(64)
    }
    let work = make()
    let start = nanoseconds()
    let sink = try work()
    let seconds = Double(nanoseconds() - start) / 1e9
    let data = try JSONSerialization.data(withJSONObject: ["name": name, "seconds": seconds, "sink": sink], options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

// MARK: - What each reader accepts

func describe(_ body: () throws -> ParserBench.Tree?, against reference: ParserBench.Tree?) -> String {
    do {
        guard let tree = try body() else { return "gives up (libyaml reads it)" }
        guard let reference else { return "reads it" }
        if tree == reference { return "same" }
        if tree.sorted == reference.sorted { return "same (keys sorted)" }
        return "reads it differently"
    } catch {
        let text = String(describing: error).split(separator: "\n").joined(separator: " ")
        return "refuses: " + String(text.prefix(messageLimit()))
    }
}

/// "same policy", the rules of a different one, or the error.
func describePolicy(_ body: () throws -> PortPolicy, against reference: PortPolicy?) -> String {
    do {
        let policy = try body()
        if policy == reference { return "same policy" }
        return "a different policy: " + policy.rules.map { "\($0.id) \($0.portsDescription)\($0.log ? " log" : "")" }.joined(separator: ", ")
    } catch {
        let text = String(describing: error).split(separator: "\n").joined(separator: " ")
        return "refuses: " + String(text.prefix(messageLimit()))
    }
}

/// How much of an error message a table cell shows (`check --full`: all of it).
func messageLimit() -> Int { CommandLine.arguments.contains("--full") ? 2_000 : 110 }

func cell(_ text: String) -> String {
    text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: "\\n")
}

func check() {
    print("### YAML: the tree of each reader, and the policy read through it\n")
    print("| input | BlockYAML, else Yams.compose with the basic resolver (today): tree | Yams.compose, default resolver: tree | Yams.compose, basic resolver: tree | YAMLDecoder: tree | policy through Yams.compose alone | policy through YAMLDecoder |")
    print("|---|---|---|---|---|---|---|")
    let yamlInputs = [
        yamlText(sources: 1_000), "rules:\n  - id: a\n    ports: 026\n", "rules:\n  - id: a\n    ports: 26\n    log: \"yes\"\n",
        "rules:\n  - id: a\n    ports: 26\n    ports: 27\n", "rules:\n  - id: a\n    ports: &p 26\n  - id: b\n    ports: *p\n", "version: 1\nrules: []\n",
        "1: a\n\"1\": b\n",
    ]
    for text in yamlInputs {
        let reference = try? ParserBench.yamsNodes(text)
        let today: () throws -> ParserBench.Tree? = { try ParserBench.blockYAML(text) ?? ParserBench.yamsNodesBasic(text) }
        let policy = try? PolicyFile.decode(text)
        let label = text.count > 200 ? "portctl's own file, 1,000 sources" : "`\(text.debugDescription)`"
        let columns = [
            describe(today, against: reference), describe({ try ParserBench.yamsNodes(text) }, against: reference),
            describe({ try ParserBench.yamsNodesBasic(text) }, against: reference),
            describe({ try ParserBench.yamsDecoder(text) }, against: reference),
            describePolicy({ try PolicyFile.decode("---\n" + text) }, against: policy),
            describePolicy({ try YAMLDecoder().decode(PortPolicy.self, from: text) }, against: policy),
        ]
        print("| \(cell(label)) | " + columns.map(cell).joined(separator: " | ") + " |")
    }
    print("\n### JSON: the strict reader against JSONSerialization and JSONDecoder, each with the duplicate-key scan\n")
    print("| input | strict JSON reader | JSONSerialization + scan | JSONDecoder + scan |")
    print("|---|---|---|---|")
    let jsonInputs = [
        jsonText(sources: 1_000), #"{"version": 1, "rules": [],}"#, #"{"rules": [1, 2,]}"#, "{\"version\": 1,\n \"version\": 1}",
        #"{"a": 1, "\u0061": 2}"#, #"{"version": 01}"#, #"{"version": 1e0}"#, #"{"a": -0}"#, #"{"a": 1.0}"#,
        "{\"a\": \"tab\there\"}", #"{"a": "\ud800"}"#, #"{"a": "\udc00"}"#, #"{"a": "\u0000"}"#, #"{"version": 1} x"#,
        #"{"version": 1, /* no */ "rules": []}"#, #"{"a": NaN}"#, #"{"a": 1e400}"#, "{\"a\":\u{0C}1}",
        String(repeating: "[", count: 100) + String(repeating: "]", count: 100), "\u{FEFF}{\"a\": 1}",
        "{\"version\": 1,\n\"rules\": [\n{\"id\": \"a\"\n\"ports\": 26}]}",
    ]
    for text in jsonInputs {
        let reference = try? ParserBench.strictJSON(text)
        let label = text.count > 200 ? "`portctl list --json`-shaped file, 1,000 sources" : "`\(text.debugDescription)`"
        print("| \(cell(label)) | \(cell(describe({ try ParserBench.strictJSON(text) }, against: reference))) | \(cell(describe({ try ParserBench.foundationJSON(text) }, against: reference))) | \(cell(describe({ try ParserBench.jsonDecoder(text) }, against: reference))) |")
    }
    print("\n### Timestamps: Timestamp.parse against Date.ISO8601FormatStyle (seconds since 1970, or refused)\n")
    print("| input | Timestamp.parse | ISO8601FormatStyle | ISO8601FormatStyle + checks |")
    print("|---|---|---|---|")
    let stamps = ["2026-11-29T05:00:00Z", "2026-11-29T06:30:00+01:30", "2026-11-29T05:00:00.250Z", "2024-02-29T00:00:00Z",
                  "2026-11-29t05:00:00z", "2026-11-29 05:00:00Z", "2026-11-29T05:00:00", "2026-11-29", "2026-02-29T00:00:00Z",
                  "2026-11-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-29T24:00:00Z", "2026-11-29T05:00:60Z",
                  "2026-11-29T05:00:00+1:00", "2026-11-29T05:00:00+0100", "2026-11-29T05:00:00GMT", "2026-11-29T05:00:00Zjunk",
                  "26-11-29T05:00:00Z", "2026-11-29T05:00:00.Z", ""]
    func show(_ date: Date?) -> String { date.map { String(format: "%.2f", $0.timeIntervalSince1970) } ?? "refused" }
    for text in stamps {
        print("| `\(text.debugDescription)` | \(show(Timestamp.parse(text))) | \(show(try? isoStyle.parse(text))) | \(show(strictISOParse(text))) |")
    }
    var formatsAgree = true
    var seconds: Int64 = -2_208_988_800
    while seconds < 13_569_465_600 {
        let date = Date(timeIntervalSince1970: Double(seconds) + 0.75)
        if Timestamp.format(date) != isoStyle.format(date) { formatsAgree = false }
        seconds += 86_400 * 37 + 3_607
    }
    print("\nTimestamp.format and ISO8601FormatStyle.format agree from 1900 to 2400 (every 37 days and an hour, with a fraction): \(formatsAgree)")
    var treesAgree = true
    for size in [10, 1_000, 100_000] {
        let yaml = yamlText(sources: size), json = jsonText(sources: size)
        let block = ParserBench.blockYAML(yaml), nodes = try? ParserBench.yamsNodes(yaml), basic = try? ParserBench.yamsNodesBasic(yaml)
        let strict = try? ParserBench.strictJSON(json), foundation = try? ParserBench.foundationJSON(json)
        let decoder = try? ParserBench.jsonDecoder(json)
        if block == nil || block != nodes || basic != nodes || strict?.sorted != foundation || strict?.sorted != decoder?.sorted { treesAgree = false }
    }
    print("The benchmark inputs (10, 1,000, 100,000 sources) read to the same trees through every reader of their format: \(treesAgree)")
    print("The 100,000 sources are distinct: \(Set((0..<100_000).map(source)).count == 100_000)")
}

// MARK: - Main

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "warm":
    let rounds = arguments.firstIndex(of: "--rounds").flatMap { Int(arguments[$0 + 1]) } ?? 5
    try warm(rounds: rounds, quick: arguments.contains("--quick"))
case "cold":
    try cold(arguments.dropFirst().joined(separator: " "))
case "cold-names":
    for name in coldCases.keys.sorted() { print(name) }
case "check":
    check()
case "loop" where arguments.count == 5:
    // Matches by prefix, so `loop json "100,000" strict 50` is enough.
    let found = allCases(quick: false).first {
        $0.part.hasPrefix(arguments[1]) && $0.input.hasPrefix(arguments[2]) && $0.reader.hasPrefix(arguments[3])
    }
    guard let found, let count = Int(arguments[4]) else {
        FileHandle.standardError.write(Data("portctl-parser-bench: no such case\n".utf8))
        exit(64)
    }
    var sink = 0
    for _ in 0..<count { sink &+= try found.run() }
    print(sink)
default:
    FileHandle.standardError.write(Data("usage: portctl-parser-bench warm [--rounds N] [--quick] | cold NAME | cold-names | check [--full] | loop PART INPUT READER N\n".utf8))
    exit(64)
}
