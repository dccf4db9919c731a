public import Foundation

/// The one JSON encoder setup portctl writes with: keys sorted, slashes left alone (CIDRs stay
/// readable), pretty for files and people, compact for logs and digests.
public enum JSONText {
    /// An encoder with portctl's settings.
    public static func encoder(pretty: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// The value as pretty JSON text with a final newline (empty when it cannot be encoded).
    public static func pretty(_ value: some Encodable) -> String {
        String(decoding: (try? encoder(pretty: true).encode(value)) ?? Data(), as: UTF8.self) + "\n"
    }

    /// The value as one line of JSON, without a newline.
    public static func line(_ value: some Encodable) throws -> String {
        String(decoding: try encoder(pretty: false).encode(value), as: UTF8.self)
    }
}
