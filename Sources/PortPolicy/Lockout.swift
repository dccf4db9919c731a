public import Foundation

/// The SSH connection portctl is running over, from `SSH_CONNECTION`
/// (`CLIENT_ADDRESS CLIENT_PORT SERVER_ADDRESS SERVER_PORT`).
public struct SSHConnection: Sendable, Hashable {
    /// The admin's address.
    public var client: IPAddress
    /// This host's address the admin connected to.
    public var server: IPAddress
    /// The SSH port on this host.
    public var port: UInt16
    /// The interface named by a link-local server address's zone (`fe80::1%eth0`), if any.
    public var zone: String?

    /// Parses the variable's value; nil when it is not in the expected shape. Link-local
    /// addresses may carry a zone (`fe80::2%eth0`); IPv4 clients of a dual-stack socket may be
    /// written `::ffff:a.b.c.d`.
    public init?(environmentValue: String) {
        let fields = environmentValue.split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 4, let (client, _) = Self.address(fields[0]), let (server, zone) = Self.address(fields[2]),
              fields[1].allSatisfy(\.isASCII), let clientPort = UInt16(fields[1]), clientPort > 0,
              fields[3].allSatisfy(\.isASCII), let port = UInt16(fields[3]), port > 0
        else { return nil }
        self.client = client
        self.server = server
        self.port = port
        self.zone = zone
    }

    private static func address(_ field: Substring) -> (IPAddress, String?)? {
        var text = field
        var zone: String?
        if let percent = text.firstIndex(of: "%") {
            zone = String(text[text.index(after: percent)...])
            text = text[..<percent]
            guard let name = zone, !name.isEmpty, name.utf8.count < 16 else { return nil }
        }
        guard let address = IPAddress(unmapped(text)) else { return nil }
        return (address, zone)
    }

    /// sshd reports IPv4 clients of a dual-stack socket as `::ffff:a.b.c.d`; nftables sees IPv4.
    private static func unmapped(_ text: Substring) -> String {
        text.lowercased().hasPrefix("::ffff:") && text.contains(".") ? String(text.dropFirst(7)) : String(text)
    }
}

/// Refuses changes that would stop the admin from logging in again over the connection they are
/// using. Established connections survive any change (the baseline accepts them); the next login
/// would not, which is what this guards.
public enum LockoutGuard {
    /// The decision that would block a new login over `connection`, or nil when the policy
    /// accepts it. `interface` is the interface holding the server address, when known.
    ///
    /// Only allows that last count: an allow rule that expires (`--for`) counts only when it
    /// expires after `deadline` (the `--confirm` deadline); without one, it does not count, since
    /// the admin would be locked out when it expires.
    public static func blockingDecision(_ policy: PortPolicy, connection: SSHConnection, interface: String?,
                                        now: Date = Date(), deadline: Date? = nil) -> Decision? {
        let decision = lasting(policy, now: now, deadline: deadline).evaluate(packet(connection, interface), at: now)
        // A forward accepts the login only to send it to another host: this host's sshd never
        // sees it, which locks the admin out as surely as a drop.
        if case .forward = decision.cause { return decision }
        return decision.verdict == .accept ? nil : decision
    }

    /// The policy without the allows that expire before `deadline` (all expiring allows without one).
    static func lasting(_ policy: PortPolicy, now: Date, deadline: Date?) -> PortPolicy {
        var lasting = policy.effective(at: now)
        lasting.rules.removeAll { rule in
            guard rule.action == .allow, let expires = rule.expires else { return false }
            return deadline.map { expires <= $0 } ?? true
        }
        return lasting
    }

    /// The rule that admits the login now but expires (so ``blockingDecision(_:connection:interface:now:deadline:)`` refused it).
    public static func expiringAllow(_ policy: PortPolicy, connection: SSHConnection, interface: String?,
                                     now: Date = Date()) -> PortRule? {
        let decision = policy.evaluate(packet(connection, interface), at: now)
        guard decision.verdict == .accept, case let .rule(rule) = decision.cause, rule.expires != nil else { return nil }
        return rule
    }

    /// A warning when the rule that admits the login limits new connections so tightly that a
    /// second login soon after may be dropped (slower than one a minute per source).
    public static func tightLimit(_ policy: PortPolicy, connection: SSHConnection, interface: String?,
                                  now: Date = Date(), deadline: Date? = nil) -> String? {
        let decision = lasting(policy, now: now, deadline: deadline).evaluate(packet(connection, interface), at: now)
        guard decision.verdict == .accept, case let .rule(rule) = decision.cause, let limit = rule.limit,
              limit.count * 60 < limit.unit.seconds else { return nil }
        return "rule \(quoted(rule.id)) lets \(connection.client) open only \(limit) new connections to SSH port \(connection.port): a login after that is dropped until the limit refills"
    }

    static func packet(_ connection: SSHConnection, _ interface: String?) -> Packet {
        Packet(source: connection.client, port: connection.port, proto: .tcp, interface: interface ?? connection.zone)
    }

    /// The one-line refusal for a blocking decision. `expiring` is the rule that admits the
    /// login until it expires, if that is why the change is refused.
    public static func refusal(_ decision: Decision, connection: SSHConnection, expiring: PortRule? = nil) -> String {
        let cause: String = switch decision.cause {
        case let .rule(rule): "rule \(quoted(rule.id)) (\(rule.summary)) would \(decision.verdict == .drop ? "drop" : "reject") it"
        case let .default(value): "no rule would allow it, so the inbound default \(value.rawValue) would apply"
        case let .baseline(reason): reason
        case let .forward(forward): "rule \(quoted(forward.id)) would forward it to \(forward.target), away from this host's SSH server"
        }
        let when = expiring.flatMap(\.expires).map { " once rule \(quoted(expiring!.id)) expires at \(PolicyFile.timestamp($0))" } ?? ""
        let wayOut = switch decision.cause {
        case .rule, .forward: "narrow or remove that rule, or add --force"
        default: "open it first (portctl open \(connection.port) --from \(connection.client)) or add --force"
        }
        return "refusing: this change would block new SSH logins from \(connection.client) to port \(connection.port)\(when): \(cause); \(wayOut)"
    }
}
