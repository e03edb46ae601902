import Foundation

/// One thing wrong with a configuration file, located by file and key path.
///
/// `message` never contains the value of an environment variable: readers do not quote
/// scalars that came from `${VAR}` expansion, and ``ConfigProblems`` masks known secret
/// values as a second line of defence.
public struct ConfigProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file as the user named it, or as found inside a named folder (`pipes/orders.yaml`).
    public var file: String
    /// Where in the file: `source.slot`, `source.tables[2]`; empty for the file as a whole.
    public var keyPath: String
    /// What is wrong, phrased so the user can fix it.
    public var message: String

    public init(file: String, keyPath: String, message: String) {
        self.file = file
        self.keyPath = keyPath
        self.message = message
    }

    /// `<file>: <keyPath>: <message>`, or `<file>: <message>` when the key path is empty.
    public var description: String {
        keyPath.isEmpty ? "\(file): \(message)" : "\(file): \(keyPath): \(message)"
    }
}

/// Collects every problem found while loading and validating configuration, in the order found.
///
/// Shared by the loader and every ``ConfigReader``, possibly across tasks; a lock guards it.
public final class ConfigProblems: @unchecked Sendable {
    private let lock = NSLock()
    private var problems: [ConfigProblem] = []
    private var secrets: Set<String> = []

    public init() {}

    /// Records a problem. Any registered secret inside its message is replaced with `***`.
    public func add(_ problem: ConfigProblem) {
        lock.lock()
        defer { lock.unlock() }
        var problem = problem
        // Longest first, so a secret that contains another is masked whole.
        for secret in secrets.sorted(by: { $0.count > $1.count }) {
            problem.message = problem.message.replacingOccurrences(of: secret, with: "***")
        }
        problems.append(problem)
    }

    /// Every problem recorded so far, in the order recorded.
    public var all: [ConfigProblem] {
        lock.lock()
        defer { lock.unlock() }
        return problems
    }

    /// True when nothing has been recorded.
    public var isEmpty: Bool {
        lock.lock()
        defer { lock.unlock() }
        return problems.isEmpty
    }

    /// Values that must never appear in a message, such as the values of environment variables
    /// substituted into the configuration. Values shorter than 4 characters are not masked,
    /// because masking `1` or `yes` would garble ordinary messages.
    func registerSecrets<S: Sequence<String>>(_ values: S) {
        lock.lock()
        defer { lock.unlock() }
        for value in values where value.count >= 4 {
            secrets.insert(value)
        }
    }
}
