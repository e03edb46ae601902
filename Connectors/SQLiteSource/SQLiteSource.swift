import CSQLite
import Glibc
import Logging
import SiphonCore

/// Captures changes from an SQLite database that another program writes,
/// through triggers that record each change in a changelog table.
///
/// This type checks the database once (errors a person must fix end the
/// pipeline with a configuration error) and owns the retry loop around
/// `CaptureSession`: a transient failure (a lock held too long, an I/O
/// error) reopens the database and resumes from the last acknowledged
/// position.
public final class SQLiteSource: ReportsSourceActivity {
    private let configuration: SQLiteSourceConfiguration
    private let pipeline: String
    /// How events are written (`events:`), fixed for the pipeline.
    private let envelope: EventEnvelope
    private let state: StateDirectory
    private let logger: Logger
    private let acknowledged = AcknowledgedPosition()
    /// Reopens, positions (changelog sequences), snapshot progress, the changelog's backlog.
    public let activity: SourceActivity

    public init(configuration: SQLiteSourceConfiguration, pipeline: String, events: EventOptions, state: StateDirectory,
                logger: Logger) {
        self.configuration = configuration
        self.pipeline = pipeline
        envelope = EventEnvelope(options: events, connector: "sqlite", pipeline: pipeline)
        self.state = state
        activity = SourceActivity(pipeline: pipeline, backlogLabel: "siphon_sqlite_changelog_backlog")
        var logger = logger
        logger[metadataKey: "source"] = "sqlite"
        self.logger = logger
    }

    public func acknowledge(_ position: Position) {
        acknowledged.advance(to: position)
        // The changelog sequence of the last durable event.
        activity.durable(position.high)
    }

    func acknowledgedPosition() -> Position? { acknowledged.current }

    public func run(resumingAfter position: Position?, output: EventQueue) async throws {
        if let position { acknowledge(position) }
        let reconnector = Reconnector(initialDelay: .milliseconds(200), maxDelay: .seconds(30), action: "reopening the database")
        // The capture session reads changelog rows in bulk and waits with
        // timers, not on a socket: it runs on the shared pool, where it
        // decodes while the sink writes on the pipeline's thread (on that
        // thread a 1,000,000-row drain ran at 0.6x the speed).
        try await withTaskExecutorPreference(globalConcurrentExecutor) {
            try await capture(reconnector: reconnector, output: output)
        }
    }

    private func capture(reconnector: Reconnector, output: EventQueue) async throws {
        let activity = activity, path = configuration.path
        // A transient failure here is a reopen, which the pipeline never sees.
        let classify = { (error: any Error) -> SiphonError in
            let failure = Self.classify(error, path: path)
            if failure.isTransient { activity.reconnecting(after: failure) }
            return failure
        }
        try await reconnector.run(logger: logger, classify: classify) {
            let connection = try Self.open(configuration, logger: logger)
            let session = try CaptureSession(configuration: configuration, connection: connection, pipeline: pipeline,
                                             envelope: envelope, state: state, logger: logger, source: self)
            try await session.run(resumingAfter: acknowledgedPosition(), output: output)
        }
    }

    static func classify(_ error: any Error, path: String) -> SiphonError {
        switch error {
        case let error as SiphonError: return error
        case let error as SQLiteError: return error.siphonError(path: path)
        default: return SiphonError(.sourceFatal, "\(error)")
        }
    }

    /// Opens the database after the checks that need a person: first
    /// `staticProblems()` (the file exists, is SQLite, is readable and
    /// writable, is in WAL mode or may be switched), then SQLite's own word
    /// on the journal mode, which it switches when `enable_wal` allows.
    static func open(_ configuration: SQLiteSourceConfiguration, logger: Logger) throws -> SQLiteConnection {
        let path = configuration.path
        if let problem = configuration.staticProblems().first {
            throw SiphonError(.configuration, "source.\(problem.key): \(problem.message)")
        }
        let connection: SQLiteConnection
        do {
            connection = try SQLiteConnection(path: path)
            _ = try connection.integer("PRAGMA schema_version")
        } catch let error as SQLiteError {
            throw error.siphonError(path: path)
        }
        let mode = try connection.prepare("PRAGMA journal_mode")
        let journal = try mode.step() ? (mode.string(0) ?? "") : ""
        mode.reset()
        if journal.lowercased() != "wal" {
            guard configuration.enableWAL else {
                throw SiphonError(.configuration, "source.path: " + DatabaseFileProblem.notWAL(path, journalMode: journal))
            }
            let switched = try connection.prepare("PRAGMA journal_mode=WAL")
            let now = try switched.step() ? (switched.string(0) ?? "") : ""
            guard now.lowercased() == "wal" else {
                throw SiphonError(.sourceSetup, "could not switch \(path) to WAL (journal_mode is still \(now)); close the application's connections once and try again", transient: true)
            }
            logger.notice("switched \(path) from journal_mode=\(journal) to WAL (source.enable_wal)")
        }
        // Siphon's own commits (cleanup) need no fsync: losing one only means deleting again.
        try connection.execute("PRAGMA synchronous=NORMAL")
        return connection
    }
}
