import Foundation
public import PortPolicy

/// The machine's services database.
public enum SystemServices {
    /// Reads `/etc/services`; an empty table when it is missing (numbers still work).
    public static func load(path: String = "/etc/services") -> ServiceTable {
        guard let data = FileManager.default.contents(atPath: path),
              let text = String(data: data, encoding: .utf8) else { return ServiceTable() }
        return ServiceTable(parsing: text)
    }
}
