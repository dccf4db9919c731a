import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A failure of the machine rather than of the input: a file that cannot be read or written, a
/// lock that cannot be taken.
public struct SystemError: Error, Sendable, CustomStringConvertible {
    /// The one-line message.
    public let description: String

    /// Makes an error from a message.
    public init(_ description: String) { self.description = description }

    /// Makes an error from an errno value and what was being done.
    static func errno(_ code: Int32, _ doing: String) -> SystemError {
        SystemError("\(doing): \(String(cString: strerror(code)))")
    }
}
