// A Swift tool that embeds portctl's library: it builds a policy in code, renders the nftables
// table, plans the change against a table it pretends is live, and explains a packet.
// Nothing here needs root or touches a kernel; to apply, use PortctlDriver's Firewall.
import PortPolicy

var policy = PortPolicy(inbound: .drop)
do {
    try policy.open(PortRequest(spec: PortSpec(ports: [try PortRange(22)], proto: .tcp),
                                sources: [try IPNetwork(parsing: "198.51.100.0/24")], id: "ssh"))
    let before = Renderer.model(policy)
    try policy.open(PortRequest(spec: PortSpec(ports: [try PortRange(26)], proto: .tcp),
                                sources: [try IPNetwork(parsing: "10.0.0.0/8")], comment: "mail relays", id: "smtp-alt"))
    try policy.validate()

    print("# the table the policy renders to")
    print(Renderer.table(policy), terminator: "")

    print("\n# the plan from the table before smtp-alt was added")
    let plan = Planner.plan(policy, live: before)
    for change in plan.changes {
        if case let .addRule(id, summary) = change { print("+ \(id): \(summary)") } else { print(change) }
    }

    print("\n# explain")
    for source in ["203.0.113.5", "10.1.2.3"] {
        print(policy.explain(Packet(source: IPAddress(source)!, port: 26)).message)
    }
} catch {
    print("error: \(error)")
}
