import Foundation
import Logging
import SQLiteSink
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import XCTest

/// The SQLite sink keeps every promise of the sink conformance suite, on
/// real files. As for PostgreSQL, what the file holds is read as the events
/// up to the position in its `_siphon_offsets`, after checking with the
/// sqlite3 shell that table t's rows are exactly the keys those events wrote.
final class SQLiteSinkConformanceTests: XCTestCase {
    struct Subject: SinkConformanceSubject {
        var exactlyOnce: Bool { true }
        var tracksPosition: Bool { true }
        func makeDestination() throws -> any ConformanceDestination { try Destination() }
    }

    final class Destination: ConformanceDestination, @unchecked Sendable {
        let folder: TemporaryDirectory
        let side: Side
        var path: String { folder.appending("target.db") }
        /// A second connection holding the write lock (the transient failure).
        private var locker: SiphonProcess?
        static let sent = MemorySource(pipeline: "conformance", transactions: MemorySource.randomTransactions(120)).events

        init() throws {
            folder = try TemporaryDirectory()
            side = .sqlite(path: folder.appending("target.db"))
            try side.sql("PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY);")
        }

        func makeSink(pipeline: String) throws -> any Sink {
            SQLiteSink(configuration: SQLiteSinkConfiguration(path: path, batchMaxEvents: 50, batchMaxDelay: .milliseconds(20)),
                       pipeline: pipeline, logger: Logger(label: "conformance"))
        }

        func storedEvents() throws -> [ConformanceEvent] {
            let text = try side.sql("SELECT position FROM _siphon_offsets WHERE pipeline = 'conformance'")
            let held = Position(text).map { last in Self.sent.filter { $0.position <= last } } ?? []
            let rows = try side.sql("SELECT coalesce(group_concat(id, ','), '') FROM (SELECT id FROM t ORDER BY id)")
            let expected = Set(held.map(\.key)).sorted().map(String.init).joined(separator: ",")
            guard rows == expected else {
                throw TestSupportError("the rows of t (\(rows)) are not those of the events up to the recorded position \(text) (\(expected))")
            }
            return held.map { ConformanceEvent(position: $0.position, key: String($0.key)) }
        }

        /// Another connection holds the write lock (BEGIN IMMEDIATE) until cleared:
        /// the sink's transaction waits its busy timeout, then fails transiently.
        func induceTransientFailure() throws -> Bool {
            locker = try SiphonProcess(executable: URL(fileURLWithPath: "/usr/bin/sqlite3"),
                                       arguments: [path, "BEGIN IMMEDIATE; INSERT INTO t VALUES (-1);", ".shell sleep 600"])
            // Until another writer is refused, the lock is not taken yet.
            try eventually(timeout: .seconds(10), "the write lock to be held") {
                let probe = try SiphonProcess.run(executable: "/usr/bin/sqlite3", arguments: [path, "BEGIN IMMEDIATE; ROLLBACK;"])
                return probe.status != 0
            }
            return true
        }

        func clearTransientFailure() throws {
            guard let locker else { return }
            // Killed, the shell never commits its row.
            locker.signal(SIGKILL)
            _ = try locker.waitForExit(timeout: .seconds(10))
            self.locker = nil
        }

        /// The file is not a database.
        func inducePermanentFailure() throws -> Bool {
            try FileManager.default.removeItem(atPath: path)
            try Data(String(repeating: "not a database ", count: 100).utf8).write(to: URL(fileURLWithPath: path))
            return true
        }

        func simulateCrashDamage() throws {}
    }

    var suite: SinkConformance { SinkConformance(subject: Subject()) }

    func testDeliversEveryEventInOrderPerKey() async throws { try await suite.deliversEveryEventInOrderPerKey() }
    func testAcknowledgesOnlyWhatIsDurable() async throws { try await suite.acknowledgesOnlyWhatIsDurable() }
    func testResumesAfterACrash() async throws { try await suite.resumesAfterACrash() }
    func testRefusesACheckpointAheadOfTheSink() async throws { try await suite.refusesACheckpointAheadOfTheSink() }
    func testStopsOnPermanentErrors() async throws { try await suite.stopsOnPermanentErrors() }
    func testRecoversFromTransientErrors() async throws { try await suite.recoversFromTransientErrors() }
}
