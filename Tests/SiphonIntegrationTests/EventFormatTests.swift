import Foundation
import SiphonTestSupport
import XCTest

/// Event format 2 beyond the Debezium reference run: snapshot markers,
/// key changes, the key of a REPLICA IDENTITY FULL table, messages, and
/// the CloudEvents envelope.
final class EventFormatTests: PostgresTestCase {
    private func appendToConfig(_ pipeline: PipelineHarness, _ yaml: String) throws {
        let config = try String(contentsOfFile: pipeline.configPath, encoding: .utf8)
        try (config + yaml).write(toFile: pipeline.configPath, atomically: true, encoding: .utf8)
    }

    /// Debezium's markers and precedence: the snapshot's last row, its first,
    /// a table's last, a table's first, any other row; an empty table has
    /// none, and a one-row table in the middle is its table's last.
    func testSnapshotMarkers() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "initial", setup: """
            CREATE TABLE a (id int PRIMARY KEY); INSERT INTO a VALUES (1), (2), (3);
            CREATE TABLE b (id int PRIMARY KEY); INSERT INTO b VALUES (1);
            CREATE TABLE c (id int PRIMARY KEY);
            CREATE TABLE d (id int PRIMARY KEY); INSERT INTO d VALUES (1), (2);
            """)
        let process = try pipeline.start()
        let rows = try pipeline.waitForRowEvents(6, process: process)
        try pipeline.stop(process)
        let markers = rows.map { "\($0[path: "source.table"] ?? "?") \($0[path: "source.snapshot"] ?? "?")" }
        XCTAssertEqual(markers, ["a first", "a true", "a last_in_data_collection", "b last_in_data_collection",
                                 "d first_in_data_collection", "d last"])
    }

    /// An update of the primary key is a delete of the old key then a
    /// create of the new row, under either replica identity; a FULL
    /// table's key is its primary key, and an unchanged TOAST value in its
    /// update comes from the old row.
    func testKeyChangesAndReplicaIdentityFull() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "never", setup: """
            CREATE TABLE plain (id int PRIMARY KEY, v text);
            CREATE TABLE full_rows (id int PRIMARY KEY, v text, body text);
            ALTER TABLE full_rows REPLICA IDENTITY FULL;
            """)
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.sql("INSERT INTO plain VALUES (1, 'x'); INSERT INTO full_rows SELECT 1, 'x', string_agg(md5(g::text), '') FROM generate_series(1, 400) g")
        try pipeline.sql("UPDATE plain SET id = 10 WHERE id = 1")
        try pipeline.sql("UPDATE full_rows SET id = 10 WHERE id = 1")
        try pipeline.sql("UPDATE full_rows SET v = 'y' WHERE id = 10")
        let rows = try pipeline.waitForRowEvents(7, process: process)
        try pipeline.stop(process)
        XCTAssertEqual(rows.map { "\($0[path: "source.table"] ?? "?") \($0["op"] ?? "?")" },
                       ["plain c", "full_rows c", "plain d", "plain c", "full_rows d", "full_rows c", "full_rows u"])
        XCTAssertEqual(rows[2][path: "key.id"] as? Int, 1)
        XCTAssertEqual(rows[2][path: "before.id"] as? Int, 1)
        XCTAssertTrue(rows[2][path: "before.v"] is NSNull, "DEFAULT identity: only the key's values")
        XCTAssertEqual(rows[3][path: "key.id"] as? Int, 10)
        XCTAssertEqual(rows[2][path: "transaction.id"] as? String, rows[3][path: "transaction.id"] as? String)
        XCTAssertEqual(rows[4][path: "before.v"] as? String, "x", "FULL identity: the whole old row")
        XCTAssertEqual(rows[6]["key"] as? [String: Int], ["id": 10], "FULL identity: keyed by the primary key")
        XCTAssertEqual((rows[6][path: "after.body"] as? String)?.count, 400 * 32, "the unchanged TOAST value, from the old row")
        XCTAssertNil(rows[6]["unchanged"])
    }

    /// Logical decoding messages are `op: "m"` events by default; `messages: false` leaves them out.
    func testMessagesAndTurningThemOff() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "never", setup: "CREATE TABLE t (id int PRIMARY KEY)")
        let quiet = try PipelineHarness(server: server, snapshot: "never", extraSource: "  messages: false")
        try quiet.writeConfig(tables: ["public.*"], snapshot: "never", extraSource: "  messages: false",
                              url: "host=127.0.0.1 port=\(server.port) dbname=\(pipeline.database) user=postgres password=${TEST_PGPASSWORD}")
        let first = try pipeline.start()
        let second = try quiet.start()
        try first.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try second.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.sql("SELECT pg_logical_emit_message(true, 'audit', 'who: me'); INSERT INTO t VALUES (1)")
        _ = try pipeline.waitForRowEvents(1, process: first)
        _ = try quiet.waitForRowEvents(1, process: second)
        try pipeline.stop(first)
        try quiet.stop(second)
        let message = try XCTUnwrap(try pipeline.events().first { $0["op"] as? String == "m" })
        XCTAssertEqual(message[path: "message.prefix"] as? String, "audit")
        XCTAssertEqual(message[path: "message.content"] as? String, Data("who: me".utf8).base64EncodedString())
        XCTAssertEqual(message["key"] as? [String: String], ["prefix": "audit"])
        XCTAssertEqual(message[path: "source.table"] as? String, "")
        XCTAssertFalse(try quiet.events().contains { $0["op"] as? String == "m" })
    }

    /// `events: {format: cloudevents}`: each line a CloudEvents 1.0
    /// structured event, with Debezium's attributes and the event as
    /// `data`, and the file sink still resumes from it exactly.
    func testCloudEventsEnvelope() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "never", setup: "CREATE TABLE t (id int PRIMARY KEY, v text)")
        try appendToConfig(pipeline, "events:\n  format: cloudevents\n")
        var process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.sql("INSERT INTO t VALUES (1, 'a')")
        try eventually(timeout: .seconds(30), "two lines") { try pipeline.events().count >= 2 }
        try pipeline.stop(process)
        process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.sql("UPDATE t SET v = 'b' WHERE id = 1")
        try eventually(timeout: .seconds(30), "three lines") { try pipeline.events().count >= 3 }
        try pipeline.stop(process)

        let lines = try String(contentsOfFile: pipeline.outputPath, encoding: .utf8).split(separator: "\n")
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("{\"id\":\"") }, "the position first, for the file sink")
        let events = try pipeline.events()
        XCTAssertEqual(events.count, 3, "nothing repeated across the restart")
        for event in events {
            XCTAssertEqual(event["specversion"] as? String, "1.0")
            XCTAssertEqual(event["source"] as? String, "/debezium/postgresql/\(pipeline.name)")
            XCTAssertEqual(event["datacontenttype"] as? String, "application/json")
            XCTAssertEqual(event["iodebeziumconnector"] as? String, "postgresql")
            XCTAssertEqual(event["iodebeziumname"] as? String, pipeline.name)
            XCTAssertEqual(event["iodebeziumdb"] as? String, pipeline.database)
            XCTAssertEqual(event["iodebeziumtable"] as? String, "t")
            XCTAssertTrue((event["time"] as? String)?.hasSuffix("Z") == true)
            XCTAssertNotNil(event["data"] as? [String: Any])
        }
        XCTAssertEqual(events[0]["type"] as? String, "io.debezium.connector.postgresql.SchemaChangeEvent")
        XCTAssertEqual(events[1]["type"] as? String, "io.debezium.connector.postgresql.DataChangeEvent")
        XCTAssertEqual(events[1]["iodebeziumop"] as? String, "c")
        XCTAssertEqual(events[1][path: "data.after.v"] as? String, "a")
        XCTAssertEqual(events[1][path: "data.op"] as? String, "c")
        XCTAssertEqual(events[1]["partitionkey"] as? String, "{\"id\":1}")
        XCTAssertEqual(events[2]["iodebeziumop"] as? String, "u")
        XCTAssertEqual(events[2]["iodebeziumtxid"] as? String, (events[2][path: "data.source.txId"] as? Int).map(String.init))
    }
}
