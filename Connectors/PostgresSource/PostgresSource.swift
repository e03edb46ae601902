import Logging
import SiphonCore

/// Captures changes from PostgreSQL through logical replication (pgoutput).
///
/// Each connection's lifetime is a `ReplicationSession`; this type owns
/// the retry loop around them: transient failures (server restart, network,
/// the slot still held by a dying connection) reconnect with capped
/// exponential backoff and resume from the last acknowledged position.
public final class PostgresSource: ReportsSourceActivity {
    private let configuration: PostgresSourceConfiguration
    private let pipeline: String
    let state: StateDirectory
    private let logger: Logger
    private let acknowledged = AcknowledgedPosition()
    /// Reconnects, positions (LSNs), snapshot progress, the slot's retained WAL.
    public let activity: SourceActivity

    /// How events are written (`events:`).
    let events: EventOptions
    /// Where schema versions are kept: the state folder, or with `lease:`
    /// the source database (`DatabaseSchemaHistory`).
    let historyStore: any SchemaHistoryStore

    public init(configuration: PostgresSourceConfiguration, pipeline: String, state: StateDirectory, logger: Logger,
                events: EventOptions = EventOptions(), historyInDatabase: Bool = false) {
        self.configuration = configuration
        self.events = events
        if historyInDatabase, let target = try? ConnectionTarget(configuration.url) {
            historyStore = DatabaseSchemaHistory(target: target, slot: configuration.slot, pipeline: pipeline)
        } else {
            historyStore = StateFolderSchemaHistory(directory: state)
        }
        self.pipeline = pipeline
        self.state = state
        activity = SourceActivity(pipeline: pipeline)
        var logger = logger
        logger[metadataKey: "source"] = "postgres"
        self.logger = logger
    }

    public func acknowledge(_ position: Position) {
        acknowledged.advance(to: position)
        // The commit LSN of the last durable event.
        activity.durable(position.high)
    }

    /// The latest acknowledged position (read by the session's loop).
    func acknowledgedPosition() -> Position? { acknowledged.current }

    /// A position's commit LSN beyond the end of the server's WAL cannot be
    /// this database's (see `Source.verifyProduced`).
    public func verifyProduced(_ position: Position) async throws {
        let target: ConnectionTarget
        do {
            target = try ConnectionTarget(configuration.url)
        } catch {
            throw SiphonError(.configuration, "source.url: \(error.text)")
        }
        let end: LSN
        do {
            let connection = try await PostgresConnection.connect(target, replication: false)
            defer { connection.close() }
            let rows = try await connection.query(
                "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END")
            guard let text = rows.first?.first ?? nil, let lsn = LSN(text) else { return }
            end = lsn
        } catch {
            throw Self.classify(error)
        }
        let commit = LSN(rawValue: position.high)
        guard commit > end else { return }
        throw SiphonError(.resume, "the sink or the checkpoint holds event \(position) (commit LSN \(commit)), but the WAL of \(target.display) ends at \(end): that event cannot come from this database. The sink's data or the state folder belongs to another database, or this one was restored from an older backup; resuming would skip every change up to \(commit). Point the pipeline at a sink and state folder of its own (for Kafka, a new sink.prefix or sink.topic), or, for a restored database, start over with `siphon offsets reset --config <file> --to beginning --yes` and a sink emptied of the old events")
    }

    public func run(resumingAfter position: Position?, output: EventQueue) async throws {
        let target: ConnectionTarget
        do {
            target = try ConnectionTarget(configuration.url)
        } catch {
            throw SiphonError(.configuration, "source.url: \(error.text)")
        }
        if let position { acknowledge(position) }
        // Cleared for good by the first BinaryModeFallback: sessions after it stream text.
        var binaryAllowed = configuration.binary
        // An initial snapshot handed whole to `output` by a session of this
        // run. Kept per run, not per object: the pipeline loses nothing it was
        // given within one run, and it ends the run when its sink fails.
        var snapshotHandedOver: SnapshotState?
        let reconnector = Reconnector(initialDelay: configuration.retryDelay, maxDelay: configuration.maxRetryDelay,
                                      action: "reconnecting")
        let activity = activity
        // A transient failure here is a reconnect, which the pipeline never sees.
        let classify = { (error: any Error) -> SiphonError in
            let failure = Self.classify(error)
            if failure.isTransient { activity.reconnecting(after: failure) }
            return failure
        }
        try await reconnector.run(logger: logger, classify: classify) {
            while true {
                let session = ReplicationSession(configuration: configuration, target: target, pipeline: pipeline,
                                                 state: state, logger: logger, source: self, binaryAllowed: binaryAllowed,
                                                 snapshotHandedOver: snapshotHandedOver)
                defer { snapshotHandedOver = session.snapshotHandedOver }
                do {
                    try await session.run(resumingAfter: acknowledgedPosition(), output: output)
                    return
                } catch let fallback as BinaryModeFallback {
                    // Not a failure: reconnect at once, in text mode.
                    binaryAllowed = false
                    logger.warning("\(fallback)", metadata: [
                        "table": .string(fallback.table.description), "column": .string(fallback.column),
                    ])
                }
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
}
