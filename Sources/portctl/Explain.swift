import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl explain`: which rule decides a packet, from the policy alone.
    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "explain",
            abstract: "Say what the policy does with a new inbound packet from ADDRESS to PORT, and which rule decides it.",
            discussion: """
            Evaluates the policy exactly as the rendered input chain does (loopback, then deny and \
            reject rules, then allow rules, then the default), with no kernel and no root. Use \
            --policy to explain a proposed policy file before it is applied, or --plan to explain \
            the policy inside a saved plan. With root it also says when a table publishes the port \
            by DNAT (a container's published port): the same rules govern it.

            Example: portctl explain 203.0.113.5 26
              203.0.113.5 -> 26/tcp: drop (default drop: no rule allows 203.0.113.5; rule smtp-alt allows only 10.0.0.0/8)
            """
        )

        @Argument(help: "The source address (IPv4 or IPv6).")
        var address: String
        @Argument(help: ArgumentHelp("The destination port: 26, 26/tcp, 53/udp or a service name.", valueName: "port[/proto]"), transform: PortsArgument.parse)
        var port: PortsArgument
        @Option(name: [.customLong("in-interface"), .customLong("interface")], parsing: .unconditional, help: ArgumentHelp("The interface the packet arrives on (rules may be limited to one).", valueName: "name"))
        var interface: String?
        @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Explain a packet this host would route to this address (not to this host): route rules and the routed default decide.", valueName: "addr"))
        var to: String?
        @Option(name: .customLong("out-interface"), parsing: .unconditional, help: ArgumentHelp("With --to: the interface the routed packet leaves by.", valueName: "name"))
        var outInterface: String?
        // Refused with the new name, not kept as an alias: --out means an outbound rule elsewhere.
        @Option(name: .customLong("out"), parsing: .unconditional, help: .hidden)
        var oldOut: String?
        @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Explain against the policy inside this saved plan instead of the policy file.", valueName: "file"))
        var plan: String?
        @Flag(name: .long, help: "Print the explanation as JSON.")
        var json = false
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            try refuseRenamed("--out", oldOut, now: "--out-interface")
            try refuseOptionLike(interface, for: "--in-interface", "--interface")
            try refuseOptionLike(outInterface, for: "--out-interface")
            if outInterface != nil && to == nil {
                throw ValidationError("--out-interface goes with --to (a packet this host routes); a packet to this host arrives by --in-interface")
            }
        }

        func run() throws {
            try global.reporting {
                guard let source = IPAddress(address) else {
                    throw PolicyError.invalidSource(address, reason: "expected one IPv4 or IPv6 address, like 203.0.113.5 or 2001:db8::5")
                }
                let spec = port.spec
                _ = try port.single(for: "explain")
                guard spec.proto != .both else {
                    throw PolicyError.invalidProtocol("both")
                }
                if let interface { try PortRule.validateInterface(interface) }
                let policy: PortPolicy
                if let plan {
                    // Trusted like a plan apply reads: root's, a regular file, in root's folders.
                    guard let data = try TrustedFiles.read(plan, what: "plan file", maximumSize: 4 * PolicyStore.maximumFileSize) else {
                        throw Failure(message: "cannot read plan file \(plan): no such file", code: .failure)
                    }
                    let document: PlanDocument
                    do {
                        document = try PlanDocument.decode(data)
                    } catch {
                        throw Failure(message: "\(plan): \(error)", code: .invalidData)
                    }
                    // What apply refuses is not explained as if it were valid.
                    guard document.isIntact else {
                        throw Failure(message: "plan \(plan) was edited after it was saved (its digest does not match its contents); apply refuses it, so it is not explained (run 'portctl plan -o' again)", code: .invalidData)
                    }
                    do {
                        // What apply would make the policy: a proposal's own text (never the
                        // document's copy for readers), else the plan's policy; address files are
                        // read as they are now (a saved plan keeps their paths).
                        if let text = document.newPolicy {
                            policy = try PolicyStore.decode(text)
                        } else {
                            var saved = document.policy
                            try saved.resolveSourceFiles(PolicyStore.readSourceFile)
                            policy = saved
                        }
                        try policy.validate()
                    } catch {
                        throw Failure(message: "\(plan): \(error)", code: .invalidData)
                    }
                } else {
                    policy = try global.loadExisting()
                }
                if let to {
                    guard let destination = IPAddress(to), destination.family == source.family else {
                        throw PolicyError.invalidSource(to, reason: "expected one address of the source's family, like 203.0.113.2")
                    }
                    let (verdict, rule) = policy.evaluate(routed: RoutedPacket(source: source, destination: destination, port: spec.ports[0].first,
                                                                                proto: spec.proto, inInterface: interface, outInterface: outInterface))
                    let reason = rule.map { "rule \($0.id): \($0.summary)" } ?? "routed default \(policy.routed.rawValue): no route rule matches"
                    let message = "\(source) -> \(destination) port \(spec.ports[0].first)/\(spec.proto.rawValue), routed: \(verdict.rawValue) (\(reason))"
                    if json {
                        struct Routed: Encodable { var source, destination: String; var port: UInt16; var `protocol`, verdict: String; var rule: String?; var message: String }
                        print(jsonText(Routed(source: source.description, destination: destination.description, port: spec.ports[0].first,
                                              protocol: spec.proto.rawValue, verdict: verdict.rawValue, rule: rule?.id, message: message)))
                    } else {
                        say(message)
                    }
                    return
                }
                var explanation = policy.explain(Packet(source: source, port: spec.ports[0].first, proto: spec.proto, interface: interface))
                // A ban (state, not policy) drops it before any rule: the state folder says, when
                // readable. Without root it is not: the answer is the policy's alone, and says so.
                var bans: [Ban] = []
                do {
                    bans = try BanStore(directory: global.paths.stateDirectory).load()
                } catch let error as BanStateError where error.needsPrivilege {
                    FileHandle.standardError.write(Data("note: the bans could not be read (\(global.paths.stateDirectory) is root's): this answer is the policy's alone; a banned source is dropped before any rule (run as root to include bans)\n".utf8))
                }
                if let ban = bans.first(where: { $0.parsed?.contains(source) ?? false }) {
                    explanation.verdict = .drop
                    explanation.rule = nil
                    explanation.message = "\(source) -> \(spec.ports[0].first)/\(spec.proto.rawValue): drop (banned: \(ban.network)\(ban.expires.map { " until \($0)" } ?? "")\(ban.comment.map { ", \($0)" } ?? ""); bans come before every rule)"
                    if json { print(jsonText(explanation)) } else { say(explanation.message) }
                    return
                }
                // Whether some table publishes the port by DNAT: only the kernel knows.
                let published = Privilege.hasNetAdmin ? (try? global.control.firewall.publishedPorts(excluding: policy.table))?
                    .first(where: { $0.proto == spec.proto && $0.ports.contains(spec.ports[0].first) }) : nil
                if let published, let redirected = published.redirectedTo {
                    // A redirect to this host: the rules for the new port decide.
                    explanation = policy.explain(Packet(source: source, port: redirected, proto: spec.proto, interface: interface))
                    explanation.published = published.description
                    explanation.message += " (port \(spec.ports[0].first) is redirected to this host's port \(redirected): \(published.via))"
                } else if let published {
                    explanation.published = published.description
                    explanation.message += policy.published == .filter
                        ? "; the port is published (\(published.via)) and the same rules govern it"
                        : "; but the port is published (\(published.via)) and defaults.published is accept: its publisher decides, not this policy"
                }
                if json {
                    print(jsonText(explanation))
                } else {
                    say(explanation.message)
                }
            }
        }
    }
}
