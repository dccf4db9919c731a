import Testing
@testable import PortPolicy

let services = ServiceTable(parsing: """
ssh             22/tcp                          # SSH Remote Login Protocol
smtp            25/tcp          mail
domain          53/tcp                          # Domain Name Server
domain          53/udp
http-alt        8080/tcp        webcache
""")

@Suite struct AddressParsing {
    @Test(arguments: [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("198.51.100.7", "198.51.100.7"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::/0", "::/0"),
        ("::1", "::1"),
        ("2001:db8:0:1:0:0:0:0/64", "2001:db8:0:1::/64"),
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
    ])
    func valid(_ text: String, _ canonical: String) throws {
        #expect(try IPNetwork(parsing: text).description == canonical)
    }

    @Test(arguments: [
        ("10.0.0.0/33", "prefix length must be a number from 0 to 32"),
        ("300.1.1.1", "not an IPv4 or IPv6 address"),
        ("10.0.0.1/8", "did you mean 10.0.0.0/8?"),
        ("::/129", "prefix length must be a number from 0 to 128"),
        ("2001:db8:::1", "not an IPv4 or IPv6 address"),
        ("10.0.0.0/-1", "prefix length"),
        ("", "expected an IPv4 or IPv6 address"),
        ("10.0.0", "not an IPv4"),
        ("010.0.0.1", "not an IPv4"),
        ("fe80::1%eth0", "not an IPv4"),
        ("1:2:3:4:5:6:7:8:9", "not an IPv4"),
        ("10.0.0.0/", "prefix length"),
        ("example.com", "not an IPv4"),
        ("2001:db8::/32/1", "prefix length"),
        ("::ffff:198.51.100.1", "never matches: IPv4 traffic is matched by its IPv4 address; write 198.51.100.1"),
    ])
    func invalid(_ text: String, _ fragment: String) {
        #expect {
            try IPNetwork(parsing: text)
        } throws: { error in
            let message = (error as? PolicyError)?.description ?? ""
            return message.contains(fragment) && message.contains("\"\(text)\"") && !message.contains("\n")
        }
    }

    @Test func mergingCollapsesOverlapsAndAdjacentBlocks() throws {
        let input = try ["10.0.0.0/9", "10.128.0.0/9", "10.1.2.3", "192.0.2.0/25", "192.0.2.128/26",
                         "2001:db8::/33", "2001:db8:8000::/33", "2001:db8::1"].map { try IPNetwork(parsing: $0) }
        #expect(IPNetwork.merged(input).map(\.description) == ["10.0.0.0/8", "192.0.2.0/25", "192.0.2.128/26", "2001:db8::/32"])
    }

    @Test func mergingSplitsUnalignedRangesIntoCIDRs() throws {
        let input = try ["198.51.100.1", "198.51.100.2", "198.51.100.3"].map { try IPNetwork(parsing: $0) }
        #expect(IPNetwork.merged(input).map(\.description) == ["198.51.100.1", "198.51.100.2/31"])
        let everything = try [IPNetwork(parsing: "0.0.0.0/1"), IPNetwork(parsing: "128.0.0.0/1"), IPNetwork(parsing: "::/0")]
        #expect(IPNetwork.merged(everything).map(\.description) == ["0.0.0.0/0", "::/0"])
    }
}

@Suite struct PortParsing {
    @Test(arguments: [
        ("26", "26/tcp"), ("26/tcp", "26/tcp"), ("53/udp", "53/udp"), ("53/both", "53/both"),
        ("8000-8100/tcp", "8000-8100/tcp"), ("25,26,587/tcp", "25,26,587/tcp"), ("smtp", "25/tcp"),
        ("domain/udp", "53/udp"), ("domain/both", "53/both"), ("26,25", "25,26/tcp"), ("25,26,27", "25,26,27/tcp"), ("26,8000-8100,8050", "26,8000-8100/tcp"),
        ("65535", "65535/tcp"), ("1-65535/udp", "1-65535/udp"), ("http-alt", "8080/tcp"), ("26/TCP", "26/tcp"),
    ])
    func valid(_ text: String, _ expected: String) throws {
        let spec = try PortSpec(parsing: text, services: services)
        #expect(PortRule(id: "x", ports: spec.ports, proto: spec.proto).portsDescription == expected)
    }

    @Test(arguments: [
        ("0", "ports run from 1 to 65535"), ("65536", "ports run from 1 to 65535"),
        ("-1", "expected a port"), ("abc", "unknown service"), ("26/tcpx", "use tcp, udp or both"),
        ("10-5", "like 5-10"), ("1:2", "dash"), (",26", "separated by commas"), ("26,", "separated by commas"),
        ("", "expected a port"), ("99999999999999999999", "ports run from 1 to 65535"), ("26/", "invalid protocol"),
        ("smtp/udp", "unknown service"), ("1-2-3", "expected a port"), ("2 6", "expected a port"),
        ("26/tcp,26/udp", "one protocol ends the whole list"), ("26/tcp/udp", "one protocol ends the whole list"),
    ])
    func invalid(_ text: String, _ fragment: String) {
        #expect {
            try PortSpec(parsing: text, services: services)
        } throws: { error in
            let message = (error as? PolicyError)?.description ?? ""
            return message.contains(fragment) && !message.contains("\n")
        }
    }
}
