/// The SSH connection portctl is running over, from `SSH_CONNECTION`
/// (`CLIENT_ADDRESS CLIENT_PORT SERVER_ADDRESS SERVER_PORT`).
public struct SSHConnection: Sendable, Hashable {
    /// The admin's address.
    public var client: IPAddress
    /// This host's address the admin connected to.
    public var server: IPAddress
    /// The SSH port on this host.
    public var port: UInt16

    /// Parses the variable's value; nil when it is not in the expected shape.
    public init?(environmentValue: String) {
        let fields = environmentValue.split(separator: " ")
        guard fields.count == 4, let client = IPAddress(Self.unmapped(fields[0])),
              let server = IPAddress(Self.unmapped(fields[2])), let port = UInt16(fields[3]), port > 0
        else { return nil }
        self.client = client
        self.server = server
        self.port = port
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
    public static func blockingDecision(_ policy: PortPolicy, connection: SSHConnection, interface: String?) -> Decision? {
        let decision = policy.evaluate(Packet(source: connection.client, port: connection.port, proto: .tcp, interface: interface))
        return decision.verdict == .accept ? nil : decision
    }

    /// The one-line refusal for a blocking decision.
    public static func refusal(_ decision: Decision, connection: SSHConnection) -> String {
        let cause: String = switch decision.cause {
        case let .rule(rule): "rule \(quoted(rule.id)) (\(rule.summary)) would \(decision.verdict == .drop ? "drop" : "reject") it"
        case let .default(value): "no rule would allow it, so the inbound default \(value.rawValue) would apply"
        case let .baseline(reason): reason
        }
        let wayOut = if case .rule = decision.cause {
            "narrow or remove that rule, or add --force"
        } else {
            "open it first (portctl open \(connection.port) --from \(connection.client)) or add --force"
        }
        return "refusing: this change would block new SSH logins from \(connection.client) to port \(connection.port): \(cause); \(wayOut)"
    }
}
