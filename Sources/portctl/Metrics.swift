import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

extension Portctl {
    /// `portctl metrics`: the counters and state for Prometheus.
    struct Metrics: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "metrics",
            abstract: "Print Prometheus metrics: every rule's packets and bytes, the defaults, in sync or not, audit findings.",
            discussion: """
            The text exposition format, for node_exporter's textfile collector (--textfile) or \
            any scraper. Reading takes no lock and, while nothing has been committed since \
            portctl last saw its table match, lists no set elements. See docs/monitoring.md for \
            the metrics, the alert rules and the systemd timer.
            """
        )

        @Option(name: .long, help: ArgumentHelp("Write DIR/portctl.prom atomically (mode 0644) for node_exporter's textfile collector instead of printing.", valueName: "dir"))
        var textfile: String?
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.reporting {
                var folder: OutputFolder?
                if let textfile {
                    var isFolder: ObjCBool = false
                    guard FileManager.default.fileExists(atPath: textfile, isDirectory: &isFolder), isFolder.boolValue else {
                        throw Failure(message: "--textfile \(textfile) is not a folder (node_exporter's --collector.textfile.directory)", code: .usage)
                    }
                    // Root writes there what monitoring believes: only root may be able to change it.
                    folder = try TrustedFiles.openOutputFolder(textfile, what: "--textfile \(textfile)")
                }
                let text: String
                do {
                    let policy = try global.loadExisting()
                    try requireNetAdmin("reading the kernel's counters")
                    try global.refuseUntrustedStateFolder()
                    text = try global.control.firewall.metrics(for: policy, stateDirectory: global.paths.stateDirectory).snapshot.text
                } catch {
                    // The last good file must not go on saying "in sync": it becomes portctl_up 0.
                    try? folder?.write(MetricsSnapshot.failed, to: "portctl.prom")
                    throw error
                }
                if let folder {
                    try folder.write(text, to: "portctl.prom")
                } else {
                    print(text, terminator: "")
                }
            }
        }
    }
}
