import Foundation

/// An error a person has to act on: what failed, and what to do about it.
///
/// `description` is one line meant for logs and terminals. It must never
/// hold a secret: connectors pass messages through `Secrets.redact` first.
public struct SiphonError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Bad pipeline configuration: exit code 2.
        public static let configuration = Code("configuration")
        /// The database refuses us until someone changes it (wal_level, grants, password).
        public static let sourceSetup = Code("source-setup")
        /// The source stream cannot go on (a slot was dropped, data is gone).
        public static let sourceFatal = Code("source-fatal")
        /// The sink cannot write or make its data durable.
        public static let sink = Code("sink")
        /// The state folder cannot be read or written.
        public static let state = Code("state")
        /// The sink and the state folder disagree about where to resume.
        public static let resume = Code("resume")
    }

    public var code: Code
    public var message: String
    /// Whether retrying after a pause may help (a lost connection, a busy database).
    public var isTransient: Bool

    public init(_ code: Code, _ message: String, transient: Bool = false) {
        self.code = code
        self.message = message
        self.isTransient = transient
    }

    public var description: String { message }
}

/// Keeps secrets out of text that reaches logs, errors or events.
public enum Secrets {
    /// Replaces every occurrence of each secret in `text` with `***`.
    public static func redact(_ text: String, secrets: [String]) -> String {
        var result = text
        for secret in secrets where !secret.isEmpty {
            result = result.replacingAll(secret, with: "***")
        }
        return result
    }
}

extension String {
    /// Replaces every occurrence of `target` (no Foundation regex or options involved).
    public func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }
}
