import Foundation
import Logging
@testable import PostgresSource
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import XCTest

/// What a sink that applies changes is told: `endsTransaction` is set on
/// the last event of every source transaction and on nothing else, however
/// the source cut its batches (a large transaction handed over in pieces, a
/// streamed one replayed at commit, a trickle of small ones), and on every
/// snapshot event.
final class TransactionBoundaryTests: XCTestCase {
    func testEveryTransactionEndIsMarkedAndNothingElse() async throws {
        let server = try PostgresServer.start(settings: ["logical_decoding_work_mem": "64kB"])
        try server.createDatabase("bounds")
        try server.psql("""
            CREATE TABLE t (id int PRIMARY KEY, body text);
            INSERT INTO t SELECT g, 'snapshot' FROM generate_series(1, 300) g;
            """, database: "bounds")
        let state = try TemporaryDirectory()
        let configuration = PostgresSourceConfiguration(
            url: server.conninfo(database: "bounds"), slot: "bounds", tables: ["public.t"], snapshot: .initial,
            statusInterval: .milliseconds(200), retryDelay: .milliseconds(50))
        let source = PostgresSource(configuration: configuration, pipeline: "bounds",
                                    state: try StateDirectory(path: state.appending("state")), logger: Logger(label: "test"))
        let destination = MemoryDestination()
        let store = CheckpointStore(directory: try StateDirectory(path: state.appending("state")), pipeline: "bounds")
        var options = PipelineOptions()
        options.flushInterval = .milliseconds(50)
        let pipeline = Pipeline(name: "bounds", source: source,
                                sink: MemorySink(destination: destination, committingTransactions: true),
                                checkpoints: store, options: options, logger: Logger(label: "test"))
        let running = Task { try await pipeline.run() }
        defer { pipeline.stop() }

        let snapshotRead = ContinuousClock.now + .seconds(60)
        while destination.durable.withLock({ $0.count }) < 301, ContinuousClock.now < snapshotRead {
            try await Task.sleep(for: .milliseconds(20))
        }
        // Small transactions; one streamed before it commits (64 kB of decoding
        // memory) and replayed in exactly two full batches of 2,048 events, so
        // that its last event fills a batch; and one of 20,000 rows.
        for id in 301...350 { _ = try server.psql("INSERT INTO t VALUES (\(id), 'small')", database: "bounds") }
        _ = try server.psql("INSERT INTO t SELECT g, 'streamed' FROM generate_series(351, 4446) g", database: "bounds")
        _ = try server.psql("INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(4447, 24446) g", database: "bounds")
        _ = try server.psql("""
            BEGIN;
            UPDATE t SET body = 'two' WHERE id <= 10;
            DELETE FROM t WHERE id BETWEEN 11 AND 20;
            COMMIT;
            """, database: "bounds")
        let expected = 1 + 300 + 50 + 4_096 + 20_000 + 20
        let deadline = ContinuousClock.now + .seconds(120)
        while destination.durable.withLock({ $0.count }) < expected, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        pipeline.stop()
        try await running.value
        let events = destination.durable.withLock { $0 }
        XCTAssertEqual(events.count, expected)
        // Streamed changes (commit LSN in `high`) group by transaction; snapshot events sit below the consistent point.
        let snapshotHigh = events.first!.position.high
        var byTransaction: [UInt64: [MemoryDestination.Stored]] = [:]
        for event in events where event.position.high != snapshotHigh { byTransaction[event.position.high, default: []].append(event) }
        XCTAssertEqual(byTransaction.count, 50 + 1 + 1 + 1, "\(byTransaction.values.map(\.count).sorted()) snapshot \(events.filter { $0.position.high == snapshotHigh }.count)")
        for (high, group) in byTransaction {
            XCTAssertTrue(group.last!.endsTransaction, "the last event of transaction \(high) is not marked")
            XCTAssertEqual(group.dropLast().filter(\.endsTransaction).count, 0, "an event inside transaction \(high) is marked")
        }
        XCTAssertTrue(events.filter { $0.position.high == snapshotHigh }.allSatisfy(\.endsTransaction), "every snapshot event stands alone")
        let large = byTransaction.values.first { $0.count == 20_000 }
        XCTAssertNotNil(large)
    }
}
