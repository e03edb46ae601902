import Logging
import SiphonCore

/// Keeps a live copy of the captured tables in a PostgreSQL database.
///
/// Row events become set-based upserts and deletes, collapsed per key, in
/// target transactions that hold whole source transactions and, in the same
/// transaction, the pipeline's position in `_siphon_offsets`
/// (`TransactionApplier`). `open` reads that position back: the sink is the
/// resume authority (`SinkPosition.tracked`), so nothing is applied twice
/// and nothing is lost, whatever the moment of a crash. Schema-change
/// events create and alter tables (`PostgresTarget+Schema`).
public final class PostgresSink: Sink, @unchecked Sendable {
    private let applier: TransactionApplier
    private let logger: Logger

    public init(configuration: PostgresSinkConfiguration, pipeline: String, logger: Logger) {
        var logger = logger
        logger[metadataKey: "sink"] = "postgres"
        self.logger = logger
        // Each batch's commit is sent without waiting and confirmed at the
        // next, so the target applies one batch while the next is read.
        applier = TransactionApplier(target: PostgresTarget(configuration: configuration, pipeline: pipeline, logger: logger),
                                     maxEvents: configuration.batchMaxEvents, maxDelay: configuration.batchMaxDelay,
                                     commitsEachBatch: true)
    }

    public func open() async throws -> SinkPosition { try await applier.open() }
    public func write(_ batch: EventBatch) async throws { try await applier.write(batch) }
    public func flush() async throws -> Position? { try await applier.flush() }
    public func close() async throws { await applier.close() }
}
