import Foundation
import SiphonCore
@testable import SQLiteSource
import XCTest

/// `source.snapshot` of snapshot rows: Debezium's markers, with empty
/// tables taking no part, the last row settled only when the read after it
/// finds no more, and batches never handed over with an unsettled row.
final class SQLiteSnapshotMarkerTests: XCTestCase {
    /// The rule alone: rows per table in, markers out.
    private func marks(_ tables: [Int]) -> [[String]] {
        var marking = SnapshotMarking()
        var result: [[String]] = []
        for rows in tables {
            var table = (0..<rows).map { _ in marking.nextRow().rawValue }
            if let marker = marking.tableEnded() { table[table.count - 1] = marker.rawValue }
            result.append(table)
        }
        if let marker = marking.snapshotEnded(), let last = result.indices.last(where: { !result[$0].isEmpty }) {
            result[last][result[last].count - 1] = marker.rawValue
        }
        return result
    }

    func testDebeziumsRule() {
        XCTAssertEqual(marks([3]), [["first", "true", "last"]])
        XCTAssertEqual(marks([1]), [["last"]], "the only row: last wins over first")
        XCTAssertEqual(marks([2, 3, 2]), [["first", "last_in_data_collection"],
                                          ["first_in_data_collection", "true", "last_in_data_collection"],
                                          ["first_in_data_collection", "last"]])
        XCTAssertEqual(marks([1, 1, 1]), [["first"], ["last_in_data_collection"], ["last"]],
                       "one-row tables: first wins for the first table, last for the last, last_in_data_collection between")
        XCTAssertEqual(marks([0, 2, 0, 1, 0]), [[], ["first", "last_in_data_collection"], [], ["last"], []],
                       "empty tables take no part")
        XCTAssertEqual(marks([0, 0]), [[], []])
    }

    /// Tables are read in name order. Every batch size, down to one row per
    /// batch, gives the same markers, in Debezium's envelope and in
    /// CloudEvents (where `iodebeziumsnapshot` follows).
    func testMarkersOfARealSnapshot() async throws {
        let setup = """
            CREATE TABLE a_empty (id INTEGER PRIMARY KEY);
            CREATE TABLE b_three (id INTEGER PRIMARY KEY, v TEXT);
            INSERT INTO b_three VALUES (1, 'x'), (2, 'y'), (3, 'z');
            CREATE TABLE c_one (k TEXT PRIMARY KEY);
            INSERT INTO c_one VALUES ('only');
            CREATE TABLE d_empty (v);
            CREATE TABLE e_two (body TEXT);
            INSERT INTO e_two VALUES ('p'), ('q');
            CREATE TABLE f_empty (id INTEGER PRIMARY KEY);
            """
        let expected = ["b_three first", "b_three true", "b_three last_in_data_collection",
                        "c_one last_in_data_collection",
                        "e_two first_in_data_collection", "e_two last"]
        for format in EventOptions.Envelope.allCases {
            for batchSize in [1, 2, 3, 5000] {
                let run = try SourceRun(setup: setup)
                _ = try await run.start(batchSize: batchSize, events: EventOptions(envelope: format))
                // Six schema events (one per table) come first, then the rows.
                let events = try await run.waitForEvents(12)
                await run.stop()
                let rows = events.dropFirst(6).map { event in
                    format == .cloudevents ? SourceRun.Event(position: event.position, endsTransaction: event.endsTransaction,
                                                             line: event.line, json: event.json["data"] as? [String: Any] ?? [:]) : event
                }
                let context = "\(format), batch_size \(batchSize)"
                XCTAssertEqual(rows.map { "\($0["source.table"] ?? "?") \($0["source.snapshot"] ?? "?")" }, expected, context)
                XCTAssertEqual(rows.map { $0["op"] as? String }, Array(repeating: "r", count: 6), context)
                if format == .cloudevents {
                    XCTAssertEqual(events.dropFirst(6).map { $0.json["iodebeziumsnapshot"] as? String },
                                   rows.map { $0["source.snapshot"] as? String }, context)
                }
                // Positions: (changelog end, 2...), after the schema events at (1...6, 0).
                XCTAssertEqual(rows.map(\.position), (2...7).map { Position(high: 6, low: UInt64($0)) }, context)
                XCTAssertTrue(rows.allSatisfy(\.endsTransaction), "a snapshot's rows stand alone")
                XCTAssertTrue(rows.allSatisfy { $0["transaction"] is NSNull }, context)
                XCTAssertTrue(events.prefix(6).allSatisfy { $0["source.snapshot"] as? String ?? $0["data.source.snapshot"] as? String == "false" })
            }
        }
    }

    /// Many one-row tables: each row waits for the next table to settle its
    /// marker, yet batches leave at `batch_size`, not at the snapshot's end.
    func testManySmallTablesStillMakeBoundedBatches() async throws {
        let run = try SourceRun(setup: (0..<10).map { "CREATE TABLE t\($0) (id INTEGER PRIMARY KEY); INSERT INTO t\($0) VALUES (\($0));" }.joined())
        _ = try await run.start(batchSize: 3)
        let rows = try await run.waitForEvents(20).dropFirst(10)
        await run.stop()
        XCTAssertEqual(rows.map { $0["source.snapshot"] as? String },
                       ["first"] + Array(repeating: "last_in_data_collection", count: 8) + ["last"])
        XCTAssertEqual(rows.map { $0["key.id"] as? Int }, Array(0..<10))
        XCTAssertLessThanOrEqual(run.batchSizes.dropFirst().max() ?? 0, 3, "\(run.batchSizes)")
        XCTAssertGreaterThan(run.batchSizes.count, 4, "\(run.batchSizes)")
    }

    /// A snapshot with only empty tables has no rows to mark; the next
    /// table created gets a snapshot of its own, with its own first and last.
    func testEachSnapshotHasItsOwnFirstAndLast() async throws {
        let run = try SourceRun(setup: "CREATE TABLE empty (id INTEGER PRIMARY KEY);")
        _ = try await run.start()
        try await run.waitForEvents(1)
        try await run.expectNoMoreEvents()
        try run.sql("BEGIN; CREATE TABLE later (id INTEGER PRIMARY KEY); INSERT INTO later VALUES (1); COMMIT;")
        // Created with its row in one transaction: no trigger saw the row.
        let events = try await run.waitForEvents(3)
        await run.stop()
        XCTAssertEqual(events.last?["op"] as? String, "r")
        XCTAssertEqual(events.last?["source.snapshot"] as? String, "last", "the only row of a snapshot")

        let again = try SourceRun(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2);")
        _ = try await again.start()
        try await again.waitForEvents(3)
        try again.sql("BEGIN; CREATE TABLE u (id INTEGER PRIMARY KEY); INSERT INTO u VALUES (1), (2); COMMIT;")
        let more = try await again.waitForEvents(6)
        await again.stop()
        XCTAssertEqual(more.filter { $0["op"] as? String == "r" }.map { "\($0["source.table"] ?? "") \($0["source.snapshot"] ?? "")" },
                       ["t first", "t last", "u first", "u last"])
    }
}
