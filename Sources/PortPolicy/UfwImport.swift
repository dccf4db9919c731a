/// Translates a ufw configuration into a portctl policy, and lists what it could not translate.
///
/// The input is text: the `### tuple ###` lines ufw writes to `user.rules` and `user6.rules`,
/// `ufw.conf`, `/etc/default/ufw` and the application profiles of `applications.d`. The output is
/// a ``PortPolicy`` and one ``Finding`` per difference. No I/O: PortctlDriver's `UfwFolder` reads
/// the files.
///
/// ufw decides by the first rule that matches, in order; a portctl policy is a set in which deny
/// and reject rules win over allows. The translation keeps ufw's outcome: a block that comes
/// after an allow for some of the same traffic leaves that traffic out (as ufw never reached the
/// block for it), and rules are merged into one portctl rule only where the order cannot matter.
public enum UfwImport {
    /// The texts of one ufw configuration.
    public struct Configuration: Sendable, Hashable {
        /// `user.rules`: the IPv4 rules (and the route rules for IPv4).
        public var userRules: String
        /// `user6.rules`: the IPv6 rules; nil when there is no such file.
        public var user6Rules: String?
        /// `ufw.conf` (`ENABLED`, `LOGLEVEL`); nil when there is no such file.
        public var ufwConf: String?
        /// `/etc/default/ufw` (`IPV6`, `DEFAULT_INPUT_POLICY`, `DEFAULT_OUTPUT_POLICY`,
        /// `DEFAULT_FORWARD_POLICY`); nil when there is no such file.
        public var defaults: String?
        /// The application profiles: the text of each file of `applications.d`, by file name.
        public var applications: [String: String]
        /// ufw's built-in rule files (`before.rules`, ...) that differ from the copies ufw ships:
        /// their changes are not translated, and each is reported.
        public var editedFiles: [String]

        /// Makes a configuration from the files' texts.
        public init(userRules: String, user6Rules: String? = nil, ufwConf: String? = nil, defaults: String? = nil,
                    applications: [String: String] = [:], editedFiles: [String] = []) {
            self.userRules = userRules
            self.user6Rules = user6Rules
            self.ufwConf = ufwConf
            self.defaults = defaults
            self.applications = applications
            self.editedFiles = editedFiles
        }
    }

    /// The rate ufw's `limit` rules become unless told otherwise: 10 new connections a minute per
    /// source. ufw refuses a source's sixth new connection within 30 seconds, so a source that
    /// keeps under ufw's limit opens at most five every 30 seconds: ten a minute.
    public static let defaultLimit = try! RateLimit(count: 10, per: .minute)

    /// Choices the translation cannot take from ufw's files.
    public struct Options: Sendable, Hashable {
        /// The per-source rate that ufw's `limit` rules become.
        public var limit: RateLimit
        /// Service names, for ports a hand-edited tuple names (`smtp`); ufw itself writes numbers.
        public var services: ServiceTable

        /// Makes options; by default ``UfwImport/defaultLimit`` and numbers only.
        public init(limit: RateLimit = UfwImport.defaultLimit, services: ServiceTable = ServiceTable()) {
            self.limit = limit
            self.services = services
        }
    }

    /// One rule as ufw keeps it: the fields of its `### tuple ###` line.
    public struct Rule: Sendable, Hashable {
        /// The rule's number in `ufw status numbered`: the IPv4 rules first, then the IPv6 ones.
        public var number: Int
        /// IPv4 (`user.rules`) or IPv6 (`user6.rules`).
        public var family: IPFamily
        /// `allow`, `deny`, `reject` or `limit`.
        public var action: String
        /// `log`, `log-all`, or empty.
        public var logType: String
        /// Whether it is a `ufw route` rule (forwarded traffic).
        public var isRoute: Bool
        /// `tcp`, `udp`, `any`, or a portless protocol such as `esp`.
        public var proto: String
        /// `any`, `22`, `80,443` or `8000:8100`.
        public var destinationPort: String
        /// The destination address or network (`0.0.0.0/0` or `::/0` for any).
        public var destination: String
        /// The source port, `any` unless ufw was told `from ... port N`.
        public var sourcePort: String
        /// The source address or network.
        public var source: String
        /// The application profile that named the destination ports, if any (`WWW Full`).
        public var destinationApp: String?
        /// The application profile that named the source ports, if any.
        public var sourceApp: String?
        /// `in` or `out`.
        public var direction: String
        /// The interface traffic arrives on (`in on eth0`), if any.
        public var inInterface: String?
        /// The interface traffic leaves by (`out on eth0`), if any.
        public var outInterface: String?
        /// The rule's comment, decoded from ufw's hex.
        public var comment: String?

        /// The rule as the ufw command that makes it, as `ufw show added` writes it:
        /// `ufw allow from 198.51.100.0/24 to any port 26 proto tcp`.
        public var command: String {
            var text = (isRoute ? "route " : "") + action
            let noteText = comment.map { " comment '\(UfwImport.printable($0))'" } ?? ""
            if Self.isAnywhere(destination) && Self.isAnywhere(source) && sourcePort == "any" && sourceApp == nil
                && inInterface == nil && outInterface == nil && destinationPort != "any" {
                if direction == "out" { text += " out" }
                if !logType.isEmpty { text += " " + logType }
                if let app = destinationApp {
                    text += app.contains(" ") ? " '\(app)'" : " \(app)"
                } else {
                    text += " " + destinationPort + (proto == "any" ? "" : "/" + proto)
                }
                return "ufw " + text + noteText
            }
            if let inInterface { text += " in on \(inInterface)" }
            if let outInterface {
                text += " out on \(outInterface)"
            } else if direction == "out" {
                text += " out"
            }
            if !logType.isEmpty { text += " " + logType }
            for (word, address, port, app) in [("from", source, sourcePort, sourceApp), ("to", destination, destinationPort, destinationApp)] {
                let place = Self.isAnywhere(address) ? "any" : address
                guard place != "any" || port != "any" || app != nil else { continue }
                text += " \(word) \(place)"
                if let app {
                    text += app.contains(" ") ? " app '\(app)'" : " app \(app)"
                } else if port != "any" {
                    text += " port \(port)"
                }
            }
            if !text.contains(" to ") && !text.contains(" from ") && inInterface == nil && outInterface == nil {
                text += " to any"
            }
            if proto != "any" && destinationApp == nil && sourceApp == nil { text += " proto \(proto)" }
            return "ufw " + text + noteText
        }

        /// What ufw tells application rules apart by (`get_app_tuple`); nil for other rules.
        var appKey: String? {
            guard destinationApp != nil || sourceApp != nil else { return nil }
            let place = inInterface == nil && outInterface == nil ? direction
                : [inInterface.map { "in_" + $0 }, outInterface.map { "out_" + $0 }].compactMap { $0 }.joined(separator: " ")
            return [destinationApp ?? destinationPort, destination, sourceApp ?? sourcePort, source, place, isRoute ? "route" : ""]
                .joined(separator: " ")
        }

        /// `[13] ufw allow 22/tcp`: how findings name the rule.
        public var label: String { "[\(number)] \(command)" }

        /// ufw's "anywhere" in either family.
        static func isAnywhere(_ address: String) -> Bool {
            address == "0.0.0.0/0" || address == "::/0" || address == "any"
        }
    }

    /// Something of ufw's that the policy does not reproduce exactly, in one line.
    public struct Finding: Sendable, Hashable, Codable, CustomStringConvertible {
        /// How much it matters.
        public enum Kind: String, Sendable, Hashable, Codable {
            /// Left out, or reproduced only in part: the policy does not do what ufw did.
            /// `portctl import ufw` refuses to write the policy unless `--partial`.
            case untranslated
            /// Translated to the nearest thing portctl has, with a difference the message names.
            case approximated
            /// Translated exactly, but worth knowing (ufw never applied part of a rule, ufw was off).
            case note
        }

        /// How much it matters.
        public var kind: Kind
        /// What it is about: rules (`[2], [17] ufw limit 22/tcp`: the IPv4 and IPv6 twins of one
        /// ufw command share a finding), a setting or a file.
        public var subject: String
        /// What happened to it.
        public var message: String
        /// The numbers of the ufw rules it is about (`ufw status numbered`); empty for a setting.
        public var rules: [Int]

        /// Makes a finding.
        public init(_ kind: Kind, _ subject: String, _ message: String, rules: [Int] = []) {
            self.kind = kind
            self.subject = subject
            self.message = message
            self.rules = rules
        }

        /// `SUBJECT: MESSAGE`.
        public var description: String { "\(subject): \(message)" }
    }

    /// What ``translate(_:options:)`` made.
    public struct Result: Sendable, Hashable {
        /// The policy: ufw's defaults and rules in portctl's terms.
        public var policy: PortPolicy
        /// Every difference, in the order of ufw's rules, after the settings.
        public var findings: [Finding]
        /// The ufw rules read, in `ufw status numbered` order.
        public var rules: [Rule]
        /// `ENABLED` of `ufw.conf`, or nil when it does not say.
        public var enabled: Bool?

        /// The findings that `portctl import ufw` refuses to write without `--partial`.
        public var untranslated: [Finding] { findings.filter { $0.kind == .untranslated } }
    }

    /// Translates a configuration. Never fails: whatever cannot be translated is left out of the
    /// policy and named in the findings.
    public static func translate(_ configuration: Configuration, options: Options = Options()) -> Result {
        var translation = UfwTranslation(options: options)
        return translation.run(configuration)
    }
}
