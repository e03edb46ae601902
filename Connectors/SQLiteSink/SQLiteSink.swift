import Logging
import SiphonCore

/// Keeps a live copy of the captured tables in an SQLite database file.
///
/// As the PostgreSQL sink: row events collapsed per key, target
/// transactions holding whole source transactions with the pipeline's
/// position in `_siphon_offsets` in the same file (`TransactionApplier`),
/// read back by `open` (the sink is the resume authority). Statements are
/// prepared once and run per row: SQLite is in-process, so a row costs no
/// round trip. Calls are short and local, on the pipeline's thread.
public final class SQLiteSink: Sink, @unchecked Sendable {
    private let applier: TransactionApplier

    public init(configuration: SQLiteSinkConfiguration, pipeline: String, logger: Logger) {
        var logger = logger
        logger[metadataKey: "sink"] = "sqlite"
        applier = TransactionApplier(target: SQLiteTarget(configuration: configuration, pipeline: pipeline, logger: logger),
                                     maxEvents: configuration.batchMaxEvents, maxDelay: configuration.batchMaxDelay)
    }

    public func open() async throws -> SinkPosition { try await applier.open() }
    public func write(_ batch: EventBatch) async throws { try await applier.write(batch) }
    public func flush() async throws -> Position? { try await applier.flush() }
    public func close() async throws { await applier.close() }
}
