import ArgumentParser
import Foundation
import PortPolicy
import PortctlDriver

/// portctl's documented exit codes.
enum ExitStatus: Int32 {
    case success = 0
    case failure = 1
    case changesPending = 2
    case highFinding = 3
    case usage = 64
    case invalidData = 65
    case needsPrivilege = 77
}

extension ExitStatus {
    /// The exit code of a library error's category.
    init(_ category: ErrorCategory) {
        self = switch category {
        case .usage: .usage
        case .invalidData: .invalidData
        case .needsPrivilege: .needsPrivilege
        case .runtime: .failure
        }
    }
}

/// An error the CLI reports as one line with its own exit code.
struct Failure: Error {
    let message: String
    let code: ExitStatus

    /// Classifies any error from the library into a message and an exit code. Errors in values
    /// typed on the command line are usage errors (64); errors in the policy file are data
    /// errors (65).
    static func from(_ error: any Error, verbose: Bool) -> Failure {
        switch error {
        case let failure as Failure: return failure
        case let error as NftablesError:
            let text = verbose ? error.description + "\n" + error.detail : error.description
            return Failure(message: text, code: ExitStatus(error.category))
        case let error as any PortctlError: return Failure(message: error.description, code: ExitStatus(error.category))
        default: return Failure(message: String(describing: error), code: .failure)
        }
    }
}


