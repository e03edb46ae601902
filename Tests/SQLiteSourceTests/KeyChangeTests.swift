import Foundation
import SiphonCore
@testable import SQLiteSource
import XCTest

/// An update that changes a row's key is two events, as Debezium writes it
/// for PostgreSQL: a delete of the old key, then a create of the new row, at
/// positions (seq, 0) and (seq, 1) of the one changelog row.
final class SQLiteKeyChangeTests: XCTestCase {
    func testAKeyChangeIsADeleteThenACreate() async throws {
        let run = try SourceRun(setup: """
            CREATE TABLE stock (warehouse TEXT, sku INT, level REAL, PRIMARY KEY (warehouse, sku)) WITHOUT ROWID;
            CREATE TABLE notes (body TEXT);
            """)
        _ = try await run.start()
        try await run.waitForEvents(2)
        try run.sql("""
            BEGIN;
            INSERT INTO stock VALUES ('north', 7, 1.5);
            UPDATE stock SET level = 2 WHERE sku = 7;
            UPDATE stock SET sku = '7' WHERE sku = 7;
            UPDATE stock SET warehouse = 'south', level = 3 WHERE sku = 7;
            INSERT INTO notes VALUES ('n');
            UPDATE notes SET rowid = 10;
            COMMIT;
            """)
        let events = Array(try await run.waitForEvents(2 + 8).dropFirst(2))
        await run.stop()
        XCTAssertEqual(events.map { $0["op"] as? String }, ["c", "u", "u", "d", "c", "c", "d", "c"],
                       "'7' is the integer 7 to SQLite's INT column: no key change; south is one")
        let seqs = events.map { $0.position.high }
        XCTAssertEqual(events.map(\.position.low), [0, 0, 0, 0, 1, 0, 0, 1])
        XCTAssertEqual(seqs[3], seqs[4], "the two halves share the changelog row's sequence")
        XCTAssertEqual(seqs[6], seqs[7])

        let (delete, create) = (events[3], events[4])
        XCTAssertEqual(delete["before"] as? NSDictionary, ["warehouse": "north", "sku": 7, "level": 2])
        XCTAssertTrue(delete["after"] is NSNull)
        XCTAssertEqual(delete["key"] as? NSDictionary, ["warehouse": "north", "sku": 7])
        XCTAssertTrue(create["before"] is NSNull)
        XCTAssertEqual(create["after"] as? NSDictionary, ["warehouse": "south", "sku": 7, "level": 3])
        XCTAssertEqual(create["key"] as? NSDictionary, ["warehouse": "south", "sku": 7])
        XCTAssertEqual(events[6]["key.rowid"] as? Int, 1)
        XCTAssertEqual(events[7]["key.rowid"] as? Int, 10, "a rowid is a key too")
        XCTAssertEqual(events[7]["after"] as? NSDictionary, ["body": "n"])

        // One transaction: every event counts in it, each table on its own.
        XCTAssertEqual(Set(events.compactMap { $0["transaction.id"] as? String }).count, 1)
        XCTAssertEqual(events.map { $0["transaction.total_order"] as? Int }, Array(1...8))
        XCTAssertEqual(events.map { $0["transaction.data_collection_order"] as? Int }, [1, 2, 3, 4, 5, 1, 2, 3])
        XCTAssertEqual(events.map(\.endsTransaction), [false, false, false, false, false, false, false, true])
    }

    /// A pipeline stopped between the halves (the sink holds the delete)
    /// gets the create when it resumes; cleanup keeps the changelog row
    /// until both are acknowledged.
    func testResumingBetweenTheHalves() async throws {
        let run = try SourceRun(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a');")
        let source = try await run.start(snapshot: .never, acknowledge: false)
        try await run.waitForEvents(1)
        try run.sql("UPDATE t SET id = 2; INSERT INTO t VALUES (3, 'c');")
        let events = try await run.waitForEvents(4)
        let (delete, create) = (events[1].position, events[2].position)
        XCTAssertEqual(create, Position(high: delete.high, low: 1))

        source.acknowledge(delete)
        try await Task.sleep(for: .milliseconds(300))
        let seq = Int64(delete.high)
        XCTAssertEqual(try count("seq = \(seq)", in: run), 1, "the changelog row of a half-delivered key change is kept")
        XCTAssertEqual(try count("seq < \(seq)", in: run), 0, "what came before it is cleaned up")

        let resumed = try await run.start(snapshot: .never, resumingAfter: delete, acknowledge: false)
        let after = try await run.waitForEvents(events.count + 3).dropFirst(events.count)
        XCTAssertEqual(after.filter { $0.position > delete }.map(\.position), [create, events[3].position],
                       "the create half, then what followed; the delete half again is for the pipeline to skip")
        XCTAssertEqual(after.filter { $0.position > delete }.first?["key.id"] as? Int, 2)

        resumed.acknowledge(create)
        try await Task.sleep(for: .milliseconds(300))
        await run.stop()
        XCTAssertEqual(try count("seq = \(seq)", in: run), 0, "deleted once both halves are acknowledged")
    }

    private func count(_ condition: String, in run: SourceRun) throws -> Int64 {
        try SQLiteConnection(path: run.database, readOnly: true).integer("SELECT count(*) FROM _siphon_changelog WHERE \(condition)")
    }

    func testPositionsSayWhatTheyAre() {
        XCTAssertEqual(SQLitePosition.describe(Position(high: 7, low: 0)), "changelog seq 7")
        XCTAssertEqual(SQLitePosition.describe(Position(high: 7, low: 1)), "changelog seq 7, the new row of a key change")
        XCTAssertEqual(SQLitePosition.describe(SQLitePosition.snapshotRow(at: 7, index: 1)), "snapshot at changelog seq 7, row 1")
        XCTAssertEqual(SQLitePosition.complete(through: Position(high: 7, low: 0)), 6)
        XCTAssertEqual(SQLitePosition.complete(through: Position(high: 7, low: 1)), 7)
        XCTAssertEqual(SQLitePosition.complete(through: SQLitePosition.snapshotRow(at: 7, index: 3)), 7)
        XCTAssertLessThan(Position(high: 7, low: SQLitePosition.newKeyLow), SQLitePosition.snapshotRow(at: 7, index: 1),
                          "a snapshot taken right after a key change comes after both halves")
    }
}
