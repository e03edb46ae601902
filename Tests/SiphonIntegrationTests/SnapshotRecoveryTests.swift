import Foundation
import SiphonTestSupport
import XCTest

/// An initial snapshot interrupted at a chosen moment. Siphon is paused
/// (SIGSTOP) as soon as it says it took the slot, while it reads the first
/// and largest table, so whatever the test does then happens before the
/// snapshot ends; a lock held on the last table read keeps the snapshot
/// there for as long as the test needs (Siphon's COPY waits, as any reader).
final class SnapshotRecoveryTests: PostgresTestCase {
    private static let rows = 30_000

    /// `a` (read first, many rows) and `z` (read last), in a publication made
    /// beforehand so that no DDL of Siphon's ever waits for a lock the test holds.
    private func makePipeline() throws -> PipelineHarness {
        let pipeline = try PipelineHarness(server: server, snapshot: "initial", setup: """
            CREATE TABLE a (id int PRIMARY KEY, v text);
            INSERT INTO a SELECT g, 'row ' || g FROM generate_series(1, \(Self.rows)) g;
            CREATE TABLE z (id int PRIMARY KEY);
            INSERT INTO z SELECT generate_series(1, 10);
            """)
        try pipeline.sql("CREATE PUBLICATION pub_\(pipeline.name) FOR TABLE a, z")
        return pipeline
    }

    /// Starts Siphon and pauses it while it reads the snapshot's first table.
    private func startPausedInSnapshot(_ pipeline: PipelineHarness) throws -> SiphonProcess {
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "taking the initial snapshot", timeout: .seconds(60))
        process.signal(SIGSTOP)
        guard !process.stderrText.contains("initial snapshot read") else {
            process.signal(SIGCONT)
            throw TestSupportError("the snapshot ended before Siphon could be paused; the test needs a larger table a")
        }
        return process
    }

    func testConnectionLostRightAfterTheSnapshotKeepsTheSlot() throws {
        let pipeline = try makePipeline()
        let process = try startPausedInSnapshot(pipeline)
        let lock = try pipeline.lockTable("z")
        process.signal(SIGCONT)
        // The exported snapshot is in use (it lives only until the replication
        // connection's next command), and the snapshot waits at `z`.
        try pipeline.waitForCopyBlockedByLock(process: process)
        // After the slot's consistent point: these are changes, not snapshot rows.
        try pipeline.sql("INSERT INTO a VALUES (\(Self.rows + 1), 'meanwhile')")
        try pipeline.sql("UPDATE a SET v = 'changed' WHERE id = 1")
        // The replication connection drops while the snapshot is still being
        // read; Siphon notices when it starts streaming, just after handing
        // the whole snapshot to the sink.
        try pipeline.terminateWalsender()
        try lock.end()
        try process.waitFor(stderrContaining: "reconnecting", timeout: .seconds(120))
        try pipeline.sql("INSERT INTO a VALUES (\(Self.rows + 2), 'after')")
        try pipeline.waitForFile(containing: #""v":"after""#, process: process)
        try pipeline.stop(process)

        let rows = try pipeline.rowEvents()
        let read = rows.filter { $0["op"] as? String == "r" }
        let readKeys = read.map { "\($0[path: "source.table"] ?? "")/\($0[path: "key.id"] ?? "")" }
        XCTAssertEqual(readKeys.count, Self.rows + 10, "each row is read once")
        XCTAssertEqual(Set(readKeys).count, readKeys.count, "no row is read twice")
        let changes = rows.filter { $0["op"] as? String != "r" }
        XCTAssertEqual(changes.map { $0["op"] as? String }, ["c", "u", "c"])
        XCTAssertEqual(changes.compactMap { $0[path: "key.id"] as? Int }, [Self.rows + 1, 1, Self.rows + 2])
        XCTAssertFalse(process.stderrText.contains("taking it again"), process.stderrText)
        let ids = try pipeline.events().compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(ids).count, ids.count)
    }

    func testConnectionLostBeforeTheSnapshotIsImportedTakesItAgain() throws {
        let pipeline = try makePipeline()
        // A transaction with an xid keeps CREATE_REPLICATION_SLOT waiting for its consistent point.
        let writer = try BackgroundSession(server: server, database: pipeline.database, name: "xid_\(pipeline.name)",
                                           sql: "BEGIN; SELECT txid_current(); SELECT pg_sleep(600);")
        try eventually(timeout: .seconds(30), "the open transaction has an xid") {
            try pipeline.sql(returning: "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'xid_\(pipeline.name)' AND backend_xid IS NOT NULL") == "1"
        }
        let walsender = "SELECT wait_event_type, state FROM pg_stat_activity WHERE backend_type = 'walsender' AND datname = '\(pipeline.database)'"
        let process = try pipeline.start()
        try eventually(timeout: .seconds(60), "the slot's creation to wait") { try pipeline.sql(returning: walsender) == "Lock|active" }
        // Paused before it can import the snapshot; the slot is then created
        // and its connection lost, and the exported snapshot with it.
        process.signal(SIGSTOP)
        try writer.end()
        try eventually(timeout: .seconds(60), "the slot to be created") { try pipeline.sql(returning: walsender).hasSuffix("idle in transaction") }
        try pipeline.terminateWalsender()
        process.signal(SIGCONT)
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(120))
        try pipeline.sql("INSERT INTO a VALUES (\(Self.rows + 1), 'after')")
        try pipeline.waitForFile(containing: #""v":"after""#, process: process)
        try pipeline.stop(process)

        XCTAssertTrue(process.stderrText.contains("taking it again"), process.stderrText.suffix(3000).description)
        let rows = try pipeline.rowEvents()
        XCTAssertEqual(rows.filter { $0["op"] as? String == "r" }.count, Self.rows + 10)
        XCTAssertEqual(rows.filter { $0["op"] as? String == "c" }.compactMap { $0[path: "key.id"] as? Int }, [Self.rows + 1])
    }

    func testRetakenSnapshotWritesTheSchemaEventsItsRowsNeed() throws {
        let pipeline = try makePipeline()
        let first = try startPausedInSnapshot(pipeline)
        let lock = try pipeline.lockTable("z")
        first.signal(SIGCONT)
        try pipeline.waitForCopyBlockedByLock(process: first)
        // Part of `a` is in the file; `z`'s schema version is recorded, its event not yet written.
        try eventually(timeout: .seconds(60), "a first batch of a's rows in the file") {
            try DeliveryTests.lineCount(pipeline.outputPath) > 2048
        }
        first.signal(SIGKILL)
        _ = try first.waitForExit(timeout: .seconds(10))
        try lock.end()

        let second = try pipeline.start()
        try second.waitFor(stderrContaining: "streaming changes", timeout: .seconds(120))
        try pipeline.sql("INSERT INTO a VALUES (0, 'after')")
        try pipeline.waitForFile(containing: #""v":"after""#, process: second)
        try pipeline.stop(second)
        XCTAssertEqual(try pipeline.rowEvents().filter { $0[path: "source.table"] as? String == "z" }.count, 10)
        XCTAssertTrue(second.stderrText.contains("taking it again"), second.stderrText)

        // Every version a row carries was announced by a schema event of its table before it.
        var announced: Set<String> = []
        for event in try pipeline.events() {
            let table = event[path: "source.table"] as? String ?? ""
            let version = event["schema_version"] as? Int ?? 0
            if event["tableChanges"] != nil {
                announced.insert("\(table) v\(version)")
            } else {
                XCTAssertTrue(announced.contains("\(table) v\(version)"), "\(table) row \(event["id"] ?? "") carries version \(version), never announced")
                if !announced.contains("\(table) v\(version)") { break }
            }
        }
        XCTAssertTrue(announced.contains("z v1"), "\(announced)")
    }
}

extension PipelineHarness {
    /// Waits until the events file contains `text` (cheaper than parsing a large file again and again).
    func waitForFile(containing text: String, timeout: Duration = .seconds(120), process: SiphonProcess) throws {
        let needle = Data(text.utf8)
        try eventually(timeout: timeout, interval: .milliseconds(250), "\(text) in \(outputPath)") {
            if !process.isRunning { throw TestSupportError("siphon exited:\n\(process.stderrText.suffix(3000))") }
            return FileManager.default.contents(atPath: outputPath)?.range(of: needle) != nil
        }
    }
}
