import Foundation
import Logging
import SiphonCore
import SiphonTestSupport
import SiphonTesting
@testable import SQLiteSource
import XCTest

/// What a sink that applies changes is told by the SQLite source: the last
/// event of each application transaction ends it, including one read in
/// several pieces (more rows than a read takes), and nothing inside one does.
final class SQLiteTransactionBoundaryTests: XCTestCase {
    func testTransactionEndsAreMarkedAcrossPartialReads() async throws {
        let folder = try TemporaryDirectory()
        let database = folder.appending("app.db")
        try sqlite(database, "PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);")
        let configuration = SQLiteSourceConfiguration(path: database, snapshot: .never, batchSize: 100)
        let state = try StateDirectory(path: folder.appending("state"))
        let source = SQLiteSource(configuration: configuration, pipeline: "bounds", events: EventOptions(), state: state, logger: Logger(label: "test"))
        let destination = MemoryDestination()
        var options = PipelineOptions()
        options.flushInterval = .milliseconds(20)
        let pipeline = Pipeline(name: "bounds", source: source,
                                sink: MemorySink(destination: destination, committingTransactions: true),
                                checkpoints: CheckpointStore(directory: state, pipeline: "bounds"), options: options,
                                logger: Logger(label: "test"))
        let running = Task { try await pipeline.run() }
        defer { pipeline.stop() }
        // The schema event of the table comes first, on its own.
        try await waitFor(count: 1, in: destination)
        let sizes = [1, 5, 1_000, 3, 250, 1]
        var next = 1
        var expectedEnds: [Int] = []
        for size in sizes {
            try sqlite(database, "INSERT INTO t SELECT value, 'x' FROM generate_series(\(next), \(next + size - 1));")
            next += size
            expectedEnds.append(next - 1)
            // One transaction per read: wait until it is all applied.
            try await waitFor(count: 1 + next - 1, in: destination)
        }
        pipeline.stop()
        try await running.value
        let rows = destination.durable.withLock { $0 }.dropFirst()
        XCTAssertEqual(rows.count, next - 1)
        let markedKeys = rows.filter(\.endsTransaction).map(\.key)
        XCTAssertEqual(markedKeys, expectedEnds.map { "{\"id\":\($0)}" }, "the ends of the six transactions, and nothing else")
    }

    private func waitFor(count: Int, in destination: MemoryDestination) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while destination.durable.withLock({ $0.count }) < count {
            guard ContinuousClock.now < deadline else {
                throw TestSupportError("\(destination.durable.withLock { $0.count }) of \(count) events after 60 s")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    private func sqlite(_ path: String, _ sql: String) throws {
        let result = try SiphonProcess.run(executable: "/usr/bin/sqlite3", arguments: ["-cmd", ".timeout 10000", path, sql])
        guard result.status == 0 else { throw TestSupportError("sqlite3: \(result.stderr)") }
    }
}
