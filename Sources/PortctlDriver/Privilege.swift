import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the process may do.
public enum Privilege {
    /// Whether the process has CAP_NET_ADMIN (effective), read from `/proc/self/status`.
    public static var hasNetAdmin: Bool {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return geteuid() == 0 }
        return mask & (1 << 12) != 0
    }
}
