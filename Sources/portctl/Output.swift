import Foundation
import PortPolicy

/// Prints a line to standard output.
func say(_ line: String) {
    print(line)
}

/// Prints a warning line to standard error.
func warn(_ line: String) {
    FileHandle.standardError.write(Data("warning: \(line)\n".utf8))
}

/// Encodes a value as pretty, key-sorted JSON text (no final newline: `print` adds one).
func jsonText(_ value: some Encodable) -> String {
    String(JSONText.pretty(value).dropLast())
}

/// Prints rows as aligned columns (the last column is not padded).
func printTable(_ rows: [[String]]) {
    guard let first = rows.first else { return }
    let widths = first.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
    for row in rows {
        let cells = row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }
        say(cells.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
    }
}
