import Logging
import SiphonCore
import Synchronization

/// Captures changes from PostgreSQL through logical replication (pgoutput).
///
/// Each connection's lifetime is a `ReplicationSession`; this type owns
/// the retry loop around them: transient failures (server restart, network,
/// the slot still held by a dying connection) reconnect with capped
/// exponential backoff and resume from the last acknowledged position.
public final class PostgresSource: Source {
    private let configuration: PostgresSourceConfiguration
    private let pipeline: String
    private let state: StateDirectory
    private let logger: Logger
    private let acknowledged = Mutex<Position?>(nil)

    public init(configuration: PostgresSourceConfiguration, pipeline: String, state: StateDirectory, logger: Logger) {
        self.configuration = configuration
        self.pipeline = pipeline
        self.state = state
        var logger = logger
        logger[metadataKey: "source"] = "postgres"
        self.logger = logger
    }

    public func acknowledge(_ position: Position) {
        acknowledged.withLock { current in
            if current.map({ position > $0 }) ?? true { current = position }
        }
    }

    /// The latest acknowledged position (read by the session's loop).
    func acknowledgedPosition() -> Position? { acknowledged.withLock { $0 } }

    public func run(resumingAfter position: Position?, output: EventQueue) async throws {
        let target: ConnectionTarget
        do {
            target = try ConnectionTarget(configuration.url)
        } catch {
            throw SiphonError(.configuration, "source.url: \(error.text)")
        }
        if let position { acknowledge(position) }
        var delay = configuration.retryDelay
        var attempt = 0
        // Cleared for good by the first BinaryModeFallback: sessions after it stream text.
        var binaryAllowed = configuration.binary
        while true {
            try Task.checkCancellation()
            let started = ContinuousClock.now
            do {
                let resume = acknowledgedPosition()
                let session = ReplicationSession(configuration: configuration, target: target, pipeline: pipeline,
                                                 state: state, logger: logger, source: self, binaryAllowed: binaryAllowed)
                try await session.run(resumingAfter: resume, output: output)
                return
            } catch is CancellationError {
                return
            } catch let fallback as BinaryModeFallback {
                if Task.isCancelled { return }
                // Not a failure: reconnect at once, in text mode.
                binaryAllowed = false
                logger.warning("\(fallback)", metadata: [
                    "table": .string(fallback.table.description), "column": .string(fallback.column),
                ])
            } catch {
                if Task.isCancelled { return }
                let failure = Self.classify(error)
                guard failure.isTransient else { throw failure }
                if ContinuousClock.now - started > .seconds(30) { delay = configuration.retryDelay }
                attempt += 1
                logger.warning("\(failure.message); reconnecting in \(Self.format(delay)) (attempt \(attempt))")
                try await Task.sleep(for: delay)
                delay = min(delay * 2, configuration.maxRetryDelay)
            }
        }
    }

    static func classify(_ error: any Error) -> SiphonError {
        switch error {
        case let error as SiphonError: return error
        case let error as PostgresError: return error.siphonError
        case let error as BinaryModeFallback:
            return SiphonError(.sourceSetup, "\(error)", transient: true)
        case let error as PgOutputDecodingError:
            return SiphonError(.sourceFatal, "cannot decode a pgoutput message: \(error)")
        default: return SiphonError(.sourceFatal, "\(error)")
        }
    }

    static func format(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }
}
