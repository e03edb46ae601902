import Foundation
import SiphonTestSupport
import XCTest

/// `siphon run` against a real PostgreSQL: what lands in the events file.
final class ChangeCaptureTests: PostgresTestCase {
    func testInsertUpdateDeleteTruncateAcrossTransactions() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "never",
                                           setup: "CREATE TABLE orders (id bigint PRIMARY KEY, item text, qty int)")
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.sql("INSERT INTO orders VALUES (1, 'apple', 1), (2, 'pear', 2)")
        try pipeline.sql("BEGIN; UPDATE orders SET qty = 5 WHERE id = 1; DELETE FROM orders WHERE id = 2; COMMIT")
        try pipeline.sql("TRUNCATE orders")
        let rows = try pipeline.waitForRowEvents(5, process: process)
        try pipeline.stop(process)

        XCTAssertEqual(rows.map { $0["op"] as? String }, ["c", "c", "u", "d", "t"])
        XCTAssertEqual(rows[0][path: "after.item"] as? String, "apple")
        XCTAssertEqual(rows[0][path: "key.id"] as? Int, 1)
        XCTAssertTrue(rows[0]["before"] is NSNull)
        XCTAssertEqual(rows[2][path: "after.qty"] as? Int, 5)
        XCTAssertEqual(rows[3][path: "before.id"] as? Int, 2)
        XCTAssertTrue(rows[3]["after"] is NSNull)
        XCTAssertEqual(rows[4][path: "source.table"] as? String, "orders")
        for row in rows {
            XCTAssertEqual(row[path: "source.connector"] as? String, "postgresql")
            XCTAssertEqual(row[path: "source.db"] as? String, pipeline.database)
            XCTAssertEqual(row[path: "source.schema"] as? String, "public")
            XCTAssertEqual(row[path: "source.snapshot"] as? String, "false")
            XCTAssertEqual(row["schema_version"] as? Int, 1)
            XCTAssertNotNil(row[path: "source.lsn"] as? Int)
            XCTAssertNotNil(row["ts_ms"] as? Int)
        }
        // The two inserts share a transaction; the update and delete share the next one.
        XCTAssertEqual(rows[0][path: "transaction.id"] as? String, rows[1][path: "transaction.id"] as? String)
        XCTAssertEqual(rows[2][path: "transaction.id"] as? String, rows[3][path: "transaction.id"] as? String)
        XCTAssertNotEqual(rows[0][path: "transaction.id"] as? String, rows[2][path: "transaction.id"] as? String)
        XCTAssertEqual(rows[2][path: "source.txId"] as? Int,
                       Int((rows[2][path: "transaction.id"] as? String ?? "").split(separator: ":").first ?? ""),
                       "Debezium's transaction id: <txId>:<LSN>")
        XCTAssertEqual(rows[3][path: "transaction.total_order"] as? Int, 2)
        XCTAssertEqual(rows[0...1].map { $0[path: "transaction.total_order"] as? Int }, [1, 2],
                       "the table's schema event, in the same transaction, carries no transaction and is not counted")
        XCTAssertTrue(rows[3][path: "before.item"] is NSNull, "a delete's before: the key, every other column null")
        // Ids are unique and increase in file order.
        let ids = try pipeline.events().compactMap { $0["id"] as? String }
        XCTAssertEqual(ids, ids.sorted())
        XCTAssertEqual(Set(ids).count, ids.count)
        // The table's first schema event comes before its first row.
        let all = try pipeline.events()
        XCTAssertNotNil(all.first?["tableChanges"], "a schema change (it has no op)")
        XCTAssertNil(all.first?["op"])
        XCTAssertEqual(all.first?["schema_version"] as? Int, 1)
    }

    func testEveryTypeFamily() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "never", setup: """
            CREATE TYPE mood AS ENUM ('sad', 'happy');
            CREATE DOMAIN positive AS int CHECK (VALUE > 0);
            CREATE TABLE kinds (
              id int PRIMARY KEY, i2 smallint, i8 bigint, num numeric(30,10), f8 float8, f4 real,
              fnan float8, finf float8, fninf float8, b bool, t text, vc varchar(20), ch char(3),
              j json, jb jsonb, by bytea, d date, tm time, tmtz timetz, ts timestamp, tstz timestamptz,
              iv interval, u uuid, ai int[], at text[], an int[][], m mood, dom positive, inet_col inet, nul text)
            """)
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.sql("""
            INSERT INTO kinds VALUES (1, -32768, 9007199254740993, 12345678901234567890.0123456789, 1.5, 0.25,
              'NaN', 'Infinity', '-Infinity', true, E'line\\nbreak "quoted" é', 'short', 'ab',
              '{"a": [1, 2, {"b": null}]}', '{"k": "v", "n": 1.5}', '\\xdeadbeef', '2024-02-29', '13:45:00.5',
              '13:45:00+02', '2024-02-29 13:45:00.123456', '2024-02-29 13:45:00+05:30', '1 day 2 hours',
              'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}', '{"x,y","NULL",NULL}', '{{1,2},{3,4}}',
              'happy', 7, '10.0.0.1/8', NULL)
            """)
        let rows = try pipeline.waitForRowEvents(1, process: process)
        try pipeline.stop(process)
        let after = try XCTUnwrap(rows.first?["after"] as? [String: Any])
        let line = try XCTUnwrap(String(data: FileManager.default.contents(atPath: pipeline.outputPath)!, encoding: .utf8))
        XCTAssertTrue(line.contains("\"i8\":9007199254740993"), "int8 is an exact JSON number")
        XCTAssertEqual(after["i2"] as? Int, -32768)
        XCTAssertEqual(after["num"] as? String, "12345678901234567890.0123456789")
        XCTAssertEqual(after["f8"] as? Double, 1.5)
        XCTAssertEqual(after["f4"] as? Double, 0.25)
        XCTAssertEqual(after["fnan"] as? String, "NaN")
        XCTAssertEqual(after["finf"] as? String, "Infinity")
        XCTAssertEqual(after["fninf"] as? String, "-Infinity")
        XCTAssertEqual(after["b"] as? Bool, true)
        XCTAssertEqual(after["t"] as? String, "line\nbreak \"quoted\" é")
        XCTAssertEqual(after["vc"] as? String, "short")
        XCTAssertEqual(after["ch"] as? String, "ab ")
        XCTAssertEqual(after["j"] as? String, "{\"a\": [1, 2, {\"b\": null}]}", "json is a string holding its text, as Debezium writes it")
        XCTAssertEqual(after["jb"] as? String, "{\"k\": \"v\", \"n\": 1.5}")
        XCTAssertEqual(after["by"] as? String, Data([0xde, 0xad, 0xbe, 0xef]).base64EncodedString())
        XCTAssertEqual(after["d"] as? String, "2024-02-29Z")
        XCTAssertEqual(after["tm"] as? String, "13:45:00.5Z")
        XCTAssertEqual(after["tmtz"] as? String, "11:45:00Z", "time with time zone in UTC")
        XCTAssertEqual(after["ts"] as? String, "2024-02-29T13:45:00.123456Z")
        XCTAssertEqual(after["tstz"] as? String, "2024-02-29T08:15:00.000000Z")
        XCTAssertEqual(after["iv"] as? String, "P0Y0M1DT2H0M0S")
        XCTAssertEqual(after["u"] as? String, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        XCTAssertEqual((after["ai"] as? [Any])?.count, 3)
        XCTAssertTrue((after["ai"] as? [Any])?[1] is NSNull)
        XCTAssertEqual((after["at"] as? [Any])?[0] as? String, "x,y")
        XCTAssertEqual((after["at"] as? [Any])?[1] as? String, "NULL")
        XCTAssertTrue((after["at"] as? [Any])?[2] is NSNull)
        XCTAssertEqual(((after["an"] as? [Any])?[1] as? [Any])?[0] as? Int, 3)
        XCTAssertEqual(after["m"] as? String, "happy")
        XCTAssertEqual(after["dom"] as? Int, 7, "a domain renders as its base type")
        XCTAssertEqual(after["inet_col"] as? String, "10.0.0.1/8")
        XCTAssertTrue(after["nul"] is NSNull)
    }

    func testSchemaChangesGetVersionsAndEvents() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "never",
                                           setup: "CREATE TABLE items (id int PRIMARY KEY, name text, qty int)")
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.sql("INSERT INTO items VALUES (1, 'a', 1)")
        try pipeline.sql("ALTER TABLE items ADD COLUMN note text")
        try pipeline.sql("INSERT INTO items VALUES (2, 'b', 2, 'hello')")
        try pipeline.sql("ALTER TABLE items DROP COLUMN qty, ALTER COLUMN name TYPE varchar(40)")
        try pipeline.sql("UPDATE items SET note = 'changed' WHERE id = 1")
        let rows = try pipeline.waitForRowEvents(3, process: process)
        try pipeline.stop(process)
        XCTAssertEqual(rows.map { $0["schema_version"] as? Int }, [1, 2, 3])
        XCTAssertEqual(rows[1][path: "after.note"] as? String, "hello")
        XCTAssertNil(rows[2][path: "after.qty"])
        let schemaEvents = try pipeline.events().filter { $0["tableChanges"] != nil }
        XCTAssertEqual(schemaEvents.map { $0["schema_version"] as? Int }, [1, 2, 3])
        XCTAssertEqual(schemaEvents[1]["previous_version"] as? Int, 1)
        XCTAssertEqual(schemaEvents[1][path: "changes.added"] as? [String], ["note"])
        XCTAssertEqual(schemaEvents[2][path: "changes.dropped"] as? [String], ["qty"])
        let retyped = try XCTUnwrap(schemaEvents[2][path: "changes.retyped"] as? [[String: Any]])
        XCTAssertEqual(retyped.first?["name"] as? String, "name")
        XCTAssertEqual(retyped.first?["from"] as? String, "text")
        XCTAssertEqual(retyped.first?["to"] as? String, "character varying(40)")
        let change = try XCTUnwrap((schemaEvents[2]["tableChanges"] as? [[String: Any]])?.first)
        XCTAssertEqual(change["type"] as? String, "ALTER")
        XCTAssertEqual(change["id"] as? String, "\"public\".\"items\"")
        XCTAssertEqual(change[path: "table.primaryKeyColumnNames"] as? [String], ["id"])
        let columns = try XCTUnwrap(change[path: "table.columns"] as? [[String: Any]])
        XCTAssertEqual(columns.map { $0["name"] as? String }, ["id", "name", "note"])
        XCTAssertEqual(columns.map { $0["position"] as? Int }, [1, 2, 3])
        XCTAssertEqual(columns.map { $0["optional"] as? Bool }, [false, true, true])
        XCTAssertEqual(columns[1]["typeExpression"] as? String, "character varying(40)")
        XCTAssertEqual(columns[1]["length"] as? Int, 40)

        // A restart knows the versions: no new schema event, rows keep version 3.
        let again = try pipeline.start()
        try again.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.sql("INSERT INTO items VALUES (3, 'c', 'x')")
        let more = try pipeline.waitForRowEvents(4, process: again)
        try pipeline.stop(again)
        XCTAssertEqual(more.last?["schema_version"] as? Int, 3)
        XCTAssertEqual(try pipeline.events().filter { $0["tableChanges"] != nil }.count, 3)
    }

    /// Debezium's placeholder by default; `events.unchanged_toast: omit` leaves it out. Named in `unchanged` either way.
    func testUnchangedToastIsLeftOutAndNamed() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "never",
                                           setup: "CREATE TABLE docs (id int PRIMARY KEY, title text, body text)")
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.sql("INSERT INTO docs SELECT 1, 't', string_agg(md5(g::text), '') FROM generate_series(1, 400) g")
        try pipeline.sql("UPDATE docs SET title = 'new title' WHERE id = 1")
        let rows = try pipeline.waitForRowEvents(2, process: process)
        try pipeline.stop(process)
        XCTAssertEqual((rows[0][path: "after.body"] as? String)?.count, 400 * 32)
        let after = try XCTUnwrap(rows[1]["after"] as? [String: Any])
        XCTAssertEqual(after["title"] as? String, "new title")
        XCTAssertEqual(after["body"] as? String, "__debezium_unavailable_value", "Debezium's placeholder, never a fake value")
        XCTAssertEqual(rows[1]["unchanged"] as? [String], ["body"])

        let omitting = try PipelineHarness(server: server, snapshot: "never")
        try omitting.writeConfig(tables: ["public.docs"], snapshot: "never",
                                 url: "host=127.0.0.1 port=\(server.port) dbname=\(pipeline.database) user=postgres password=${TEST_PGPASSWORD}")
        let config = try String(contentsOfFile: omitting.configPath, encoding: .utf8)
        try (config + "events:\n  unchanged_toast: omit\n").write(toFile: omitting.configPath, atomically: true, encoding: .utf8)
        let second = try omitting.start()
        try second.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.sql("UPDATE docs SET title = 'newer' WHERE id = 1")
        let omitted = try omitting.waitForRowEvents(1, process: second)
        try omitting.stop(second)
        XCTAssertNil((omitted[0]["after"] as? [String: Any])?["body"], "left out")
        XCTAssertEqual(omitted[0]["unchanged"] as? [String], ["body"])
    }

    func testSnapshotThenStreamWithoutGapOrOverlap() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "initial", setup: """
            CREATE TABLE accounts (id int PRIMARY KEY, balance int);
            INSERT INTO accounts SELECT g, g FROM generate_series(1, 2000) g;
            CREATE TABLE nokey (a int);
            INSERT INTO nokey VALUES (1);
            """)
        let process = try pipeline.start()
        // Writes race with the snapshot: each must appear exactly once, as r or as c.
        for batch in 0..<10 {
            try pipeline.sql("INSERT INTO accounts SELECT g, g FROM generate_series(\(2001 + batch * 100), \(2100 + batch * 100)) g")
        }
        let rows = try pipeline.waitForRowEvents(3000, process: process)
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(30))
        try pipeline.sql("UPDATE accounts SET balance = 0 WHERE id = 1")
        let final = try pipeline.waitForRowEvents(3001, process: process)
        try pipeline.stop(process)
        let keys = rows.compactMap { $0[path: "key.id"] as? Int }
        XCTAssertEqual(keys.count, 3000)
        XCTAssertEqual(Set(keys), Set(1...3000), "no gap and no overlap between snapshot and stream")
        XCTAssertTrue(rows.prefix(2000).allSatisfy { $0["op"] as? String == "r" })
        // Debezium's snapshot markers: only accounts has rows (nokey is not captured), so it is the first and last table.
        let markers = rows.filter { $0["op"] as? String == "r" }.compactMap { $0[path: "source.snapshot"] as? String }
        XCTAssertGreaterThanOrEqual(markers.count, 2000)
        XCTAssertEqual(markers.first, "first")
        XCTAssertEqual(markers.last, "last")
        XCTAssertEqual(Set(markers.dropFirst().dropLast()), ["true"])
        XCTAssertEqual(final.last?["op"] as? String, "u")
        // A table without a key is not added to the publication, with a warning naming it.
        XCTAssertTrue(process.stderrText.contains("public.nokey"), process.stderrText)
        XCTAssertFalse(try pipeline.events().contains { $0[path: "source.table"] as? String == "nokey" })
        try pipeline.sql("UPDATE nokey SET a = 2")  // the application's UPDATE still works
    }

    func testIdleSlotDoesNotPinWAL() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "never", setup: "CREATE TABLE quiet (id int PRIMARY KEY)")
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        let busy = "busy_\(pipeline.name)"
        try server.createDatabase(busy)
        try server.psql("CREATE TABLE noise (id serial PRIMARY KEY, v text); INSERT INTO noise (v) SELECT md5(g::text) FROM generate_series(1, 20000) g", database: busy)
        let target = try server.psql("SELECT pg_current_wal_lsn()")
        try eventually(timeout: .seconds(30), "slot confirms past \(target)") {
            let behind = try server.psql("SELECT confirmed_flush_lsn < '\(target)'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'slot_\(pipeline.name)'")
            return behind == "f"
        }
        try pipeline.stop(process)
    }
}

/// Several pipelines from one folder run side by side.
final class MultiPipelineTests: PostgresTestCase {
    func testFolderOfPipelinesRunsSideBySide() throws {
        let first = try PipelineHarness(server: server, snapshot: "never", setup: "CREATE TABLE a (id int PRIMARY KEY)")
        let second = try PipelineHarness(server: server, snapshot: "never", setup: "CREATE TABLE b (id int PRIMARY KEY)")
        let folder = try TemporaryDirectory()
        try FileManager.default.copyItem(atPath: first.configPath, toPath: folder.path + "/first.yaml")
        try FileManager.default.copyItem(atPath: second.configPath, toPath: folder.path + "/second.yaml")
        let process = try SiphonProcess(arguments: ["run", "--config", folder.path], environment: PipelineHarness.environment)
        try eventually(timeout: .seconds(60), "both pipelines streaming") {
            process.stderrText.components(separatedBy: "streaming changes").count == 3
        }
        try first.sql("INSERT INTO a VALUES (1)")
        try second.sql("INSERT INTO b VALUES (2)")
        XCTAssertEqual(try first.waitForRowEvents(1, process: process).first?[path: "key.id"] as? Int, 1)
        XCTAssertEqual(try second.waitForRowEvents(1, process: process).first?[path: "key.id"] as? Int, 2)
        try first.stop(process)
    }
}
