import Logging

/// Capped exponential backoff around a source's connection (or open
/// database): transient failures log one line and try again, errors a
/// person must fix end the source.
public struct Reconnector: Sendable {
    public var initialDelay: Duration
    public var maxDelay: Duration
    /// "reconnecting", "reopening the database": the log line's verb.
    public var action: String

    public init(initialDelay: Duration, maxDelay: Duration, action: String) {
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.action = action
    }

    /// Runs `session` until it returns or the task is cancelled. Errors go
    /// through `classify`; a transient one waits (doubling, capped; back to
    /// the first delay after a session that lasted 30 s) and runs
    /// `session` again, any other is thrown.
    public func run(logger: Logger, classify: (any Error) -> SiphonError,
                    _ session: () async throws -> Void) async throws {
        var delay = initialDelay
        var attempt = 0
        while true {
            try Task.checkCancellation()
            let started = ContinuousClock.now
            do {
                try await session()
                return
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                let failure = classify(error)
                guard failure.isTransient else { throw failure }
                if ContinuousClock.now - started > .seconds(30) { delay = initialDelay }
                attempt += 1
                logger.warning("\(failure.message); \(action) in \(Self.format(delay)) (attempt \(attempt))")
                try await Task.sleep(for: delay)
                delay = min(delay * 2, maxDelay)
            }
        }
    }

    public static func format(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }
}
