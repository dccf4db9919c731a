import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl probe`: is the port open, from here?
    struct Probe: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "probe",
            abstract: "Probe TCP ports of a host: open (handshake), closed (reset) or filtered (silence or ICMP unreachable), like an nmap connect scan.")

        @Argument(help: "The host: an IPv4 or IPv6 address, or a name.")
        var host: String
        @Argument(help: "The TCP ports: 26, 22,25,587, 8000-8100.")
        var ports: String
        @Option(name: .long, help: "Seconds to wait for each port (all ports are probed at once).")
        var timeout: Double = 2
        @Flag(name: .long, help: "Print the results as JSON.")
        var json = false

        func run() throws {
            guard timeout > 0 && timeout <= 60 else {
                throw Failure(message: "invalid --timeout \"\(timeout)\": give seconds from 0.1 to 60", code: .usage)
            }
            let ranges: [PortRange]
            do {
                ranges = try PortRange.parseList(ports)
            } catch {
                throw Failure(message: error.description, code: .usage)
            }
            guard let address = HostResolver.resolve(host) else {
                throw Failure(message: "invalid host \"\(host)\": not an address, and the name does not resolve", code: .usage)
            }
            var list: [UInt16] = []
            var seen: Set<UInt16> = []
            for range in ranges { for port in range.first...range.last where seen.insert(port).inserted { list.append(port) } }
            let results: [(port: UInt16, state: PortState)]
            do {
                results = try PortProbe.run(host: address, ports: list, timeout: timeout)
            } catch {
                throw Failure(message: error.description, code: .failure)
            }
            if json {
                struct Result: Encodable { var port: UInt16; var proto = "tcp"; var state: PortState
                    enum CodingKeys: String, CodingKey { case port, proto = "protocol", state } }
                struct Report: Encodable { var host: String; var address: String; var ports: [Result] }
                print(jsonText(Report(host: host, address: address.description, ports: results.map { Result(port: $0.port, state: $0.state) })))
            } else {
                for result in results { say("\(result.port)/tcp \(result.state.rawValue)") }
            }
        }
    }
}
