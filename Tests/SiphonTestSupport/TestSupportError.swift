import Foundation

/// The one error type of the test-support module: a message with enough context
/// (command, exit status, stderr or log tail) to diagnose a failing test from CI output.
public struct TestSupportError: Error, CustomStringConvertible, Sendable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

extension Duration {
    /// The duration in seconds, for APIs that take `TimeInterval`.
    var timeInterval: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}

/// The last `maxLines` lines of `text`, for error messages that quote logs.
func tail(_ text: String, maxLines: Int = 40) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).suffix(maxLines).joined(separator: "\n")
}

/// Creates (or truncates) a file, throwing if that fails.
func createFile(atPath path: String, contents: Data = Data()) throws {
    guard FileManager.default.createFile(atPath: path, contents: contents) else {
        throw TestSupportError("could not create \(path)")
    }
}
