import Foundation
import SiphonCore
import SiphonTestSupport
import XCTest

/// The SQLite source end to end: `siphon run` on a database that the sqlite3
/// shell writes from another process.
final class SQLiteCaptureTests: XCTestCase {
    func testSnapshotThenEveryOperationAndType() throws {
        let harness = try SQLiteHarness(setup: """
            CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INT, price REAL, data BLOB, note);
            INSERT INTO items VALUES (1, 'coffee', 2, 3.5, x'00FF10', NULL);
            CREATE TABLE notes (body TEXT);
            INSERT INTO notes VALUES ('first');
            CREATE TABLE stock (warehouse TEXT, sku INT, level REAL, PRIMARY KEY (warehouse, sku)) WITHOUT ROWID;
            INSERT INTO stock VALUES ('north', 7, 1.25);
            """)
        let process = try harness.start()
        let snapshot = try harness.waitForRowEvents(3, process: process)
        XCTAssertEqual(snapshot.map { $0["op"] as? String }, ["r", "r", "r"])
        // Tables in name order, one row each: first, between, last.
        XCTAssertEqual(snapshot.map { "\($0[path: "source.table"] ?? "") \($0[path: "source.snapshot"] ?? "")" },
                       ["items first", "notes last_in_data_collection", "stock last"])
        let coffee = try XCTUnwrap(snapshot.first { $0[path: "source.table"] as? String == "items" })
        XCTAssertEqual(coffee[path: "after.data"] as? String, "AP8Q")
        XCTAssertEqual(coffee[path: "key.id"] as? Int, 1)
        XCTAssertTrue(coffee["transaction"] is NSNull)
        XCTAssertEqual(coffee[path: "source.connector"] as? String, "sqlite")
        XCTAssertEqual(coffee[path: "source.name"] as? String, harness.name)
        XCTAssertEqual(coffee[path: "source.db"] as? String, "app.db")
        XCTAssertEqual(coffee[path: "source.schema"] as? String, "main")
        XCTAssertEqual((coffee[path: "source.version"] as? String)?.hasPrefix("siphon-"), true)
        XCTAssertEqual((coffee[path: "source.ts_us"] as? Int).map { $0 / 1000 }, coffee[path: "source.ts_ms"] as? Int)
        XCTAssertEqual((coffee["ts_ns"] as? Int).map { $0 / 1_000_000 }, coffee["ts_ms"] as? Int)
        let note = try XCTUnwrap(snapshot.first { $0[path: "source.table"] as? String == "notes" })
        XCTAssertEqual(note[path: "key.rowid"] as? Int, 1, "a rowid table without a primary key is keyed by rowid")
        let stock = try XCTUnwrap(snapshot.first { $0[path: "source.table"] as? String == "stock" })
        XCTAssertEqual(stock["key"] as? NSDictionary, ["warehouse": "north", "sku": 7])

        try harness.sql("""
            BEGIN;
            INSERT INTO items VALUES (2, 'tea "green", ünïcode
            line', 9223372036854775807, 1e999, x'', 'x');
            INSERT INTO items (id, price) VALUES (3, -1e999);
            UPDATE items SET qty = 5, note = 3.25 WHERE id = 1;
            DELETE FROM notes;
            COMMIT;
            INSERT INTO stock VALUES ('south', 8, 0.5);
            UPDATE stock SET level = 2 WHERE warehouse = 'north' AND sku = 7;
            DELETE FROM stock WHERE warehouse = 'south';
            UPDATE stock SET sku = 9 WHERE warehouse = 'north';
            """)
        let rows = try harness.waitForRowEvents(12, process: process)
        try harness.stop(process)
        let changes = Array(rows.dropFirst(3))
        XCTAssertEqual(changes.map { $0["op"] as? String }, ["c", "c", "u", "d", "c", "u", "d", "d", "c"])

        let tea = changes[0]
        XCTAssertEqual(tea[path: "after.name"] as? String, "tea \"green\", ünïcode\nline")
        XCTAssertEqual((tea[path: "after.qty"] as? NSNumber)?.int64Value, Int64.max, "64-bit integers stay exact")
        XCTAssertEqual(tea[path: "after.price"] as? String, "Infinity", "an infinite REAL is a string, not invalid JSON")
        XCTAssertEqual(tea[path: "after.data"] as? String, "", "an empty BLOB is an empty base64 string")
        XCTAssertEqual(changes[1][path: "after.price"] as? String, "-Infinity")
        XCTAssertTrue(changes[1][path: "after.name"] is NSNull)

        let update = changes[2]
        XCTAssertEqual(update[path: "before.qty"] as? Int, 2)
        XCTAssertEqual(update[path: "after.qty"] as? Int, 5)
        XCTAssertEqual(update[path: "after.note"] as? Double, 3.25, "columns without a declared type keep the value's type")
        XCTAssertEqual(update[path: "after.data"] as? String, "AP8Q")
        XCTAssertEqual(changes[3][path: "before.body"] as? String, "first")
        XCTAssertTrue(changes[3]["after"] is NSNull)
        XCTAssertEqual(changes[3][path: "key.rowid"] as? Int, 1)
        XCTAssertEqual(changes[5]["key"] as? NSDictionary, ["warehouse": "north", "sku": 7])
        XCTAssertEqual(changes[5][path: "after.level"] as? Double, 2)
        // A key change: the old key deleted (the whole old row), the new row created.
        XCTAssertEqual(changes[7]["key"] as? NSDictionary, ["warehouse": "north", "sku": 7])
        XCTAssertEqual(changes[7]["before"] as? NSDictionary, ["warehouse": "north", "sku": 7, "level": 2])
        XCTAssertEqual(changes[8]["key"] as? NSDictionary, ["warehouse": "north", "sku": 9])
        XCTAssertTrue(changes[8]["before"] is NSNull)
        let halves = changes[7...8].compactMap { ($0["id"] as? String).flatMap { Position($0) } }
        XCTAssertEqual(halves.map(\.low), [0, 1])
        XCTAssertEqual(halves.map(\.high), [halves[0].high, halves[0].high], "one changelog row, two positions")

        // The four changes of the first transaction share its id, in order.
        let first = changes[0..<4].map { $0[path: "transaction.id"] as? String }
        XCTAssertEqual(Set(first).count, 1, "\(first)")
        XCTAssertEqual(changes[0..<4].map { $0[path: "transaction.total_order"] as? Int }, [1, 2, 3, 4])
        XCTAssertEqual(changes[0..<4].map { $0[path: "transaction.data_collection_order"] as? Int }, [1, 2, 3, 1])
        XCTAssertEqual(changes.map { $0[path: "source.snapshot"] as? String }, Array(repeating: "false", count: 9))
        XCTAssertTrue(changes.allSatisfy { ($0[path: "source.seq"] as? Int).map(UInt64.init) == ($0["id"] as? String).flatMap { Position($0) }?.high })
        XCTAssertEqual(Set(rows.compactMap { $0["schema_version"] as? Int }), [1])
        let ids = try harness.events().compactMap { $0["id"] as? String }
        XCTAssertEqual(ids, ids.sorted())
        XCTAssertEqual(Set(ids).count, ids.count)
    }

    func testSchemaChangesMidStreamAndRestart() throws {
        let harness = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT NOT NULL DEFAULT 'none', b INT);")
        var process = try harness.start()
        _ = try harness.waitForEvents("schema event of t", process: process) { $0.contains { $0["tableChanges"] != nil } }
        try harness.sql("INSERT INTO t VALUES (1, 'one', 1);")
        _ = try harness.waitForRowEvents(1, process: process)

        func schemaEvents(_ events: [[String: Any]]) -> [[String: Any]] {
            events.filter { $0["tableChanges"] != nil && $0[path: "source.table"] as? String == "t" }
        }
        try harness.sql("ALTER TABLE t ADD COLUMN c REAL DEFAULT 1.5;")
        _ = try harness.waitForEvents("version 2", process: process) { schemaEvents($0).count == 2 }
        try harness.sql("INSERT INTO t VALUES (2, 'two', 2, 2.5);")
        try harness.sql("ALTER TABLE t RENAME COLUMN a TO title;")
        _ = try harness.waitForEvents("version 3", process: process) { schemaEvents($0).count == 3 }
        try harness.sql("UPDATE t SET title = 'uno' WHERE id = 1;")

        // SQLite refuses to drop a column that a trigger names; `siphon sqlite exec`
        // runs the migration and rebuilds the triggers in one transaction.
        let refused = try harness.trySQL("ALTER TABLE t DROP COLUMN b;")
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("_siphon_t_"), refused.stderr)
        let exec = try harness.siphon(["sqlite", "exec", "--config", harness.configPath, "--sql", "ALTER TABLE t DROP COLUMN b"])
        XCTAssertEqual(exec.status, 0, exec.stderr)
        try harness.sql("INSERT INTO t VALUES (3, 'three', 3.5);")

        // A table created mid-stream is captured, with a snapshot of its rows.
        try harness.sql("CREATE TABLE late (k TEXT PRIMARY KEY, v INT); INSERT INTO late VALUES ('x', 1);")
        var events = try harness.waitForEvents("the new table's row", process: process) { events in
            events.contains { $0[path: "source.table"] as? String == "late" && ["c", "r"].contains($0["op"] as? String ?? "") }
        }
        try harness.sql("INSERT INTO late VALUES ('y', 2); DROP TABLE late;")
        events = try harness.waitForEvents("the drop of late", process: process) { events in
            events.contains { $0[path: "changes.table_dropped"] as? Bool == true }
        }

        let versions = schemaEvents(events)
        XCTAssertTrue(versions.allSatisfy { $0["op"] == nil && $0["before"] == nil }, "Debezium's schema-change shape has no op")
        XCTAssertEqual(versions.map { $0["schema_version"] as? Int }, [1, 2, 3, 4])
        XCTAssertEqual(versions.map { $0["previous_version"] as? Int }, [nil, 1, 2, 3])
        XCTAssertEqual(versions[1][path: "changes.added"] as? [String], ["c"])
        XCTAssertEqual((versions[2][path: "changes.renamed"] as? [[String: String]])?.first, ["from": "a", "to": "title"])
        XCTAssertEqual(versions[3][path: "changes.dropped"] as? [String], ["b"])
        func tableChange(_ event: [String: Any]) -> [String: Any] {
            (event["tableChanges"] as? [[String: Any]])?.first ?? [:]
        }
        func columns(_ event: [String: Any]) -> [[String: Any]] {
            tableChange(event)[path: "table.columns"] as? [[String: Any]] ?? []
        }
        XCTAssertEqual(versions.map { tableChange($0)["type"] as? String }, ["CREATE", "ALTER", "ALTER", "ALTER"])
        XCTAssertEqual(tableChange(versions[0])["id"] as? String, #""main"."t""#)
        XCTAssertEqual(versions.map { $0["databaseName"] as? String }, Array(repeating: "app.db", count: 4))
        XCTAssertEqual(versions.map { $0["schemaName"] as? String }, Array(repeating: "main", count: 4))
        XCTAssertEqual(columns(versions[3]).compactMap { $0["name"] as? String }, ["id", "title", "c"])
        XCTAssertEqual(columns(versions[3]).compactMap { $0["position"] as? Int }, [1, 2, 3])
        XCTAssertEqual(tableChange(versions[3])[path: "table.primaryKeyColumnNames"] as? [String], ["id"])
        XCTAssertEqual(columns(versions[1]).map { $0["optional"] as? Bool }, [false, false, true, true])
        XCTAssertEqual(columns(versions[1]).map { $0["defaultValueExpression"] as? String }, [nil, "'none'", nil, "1.5"])
        XCTAssertEqual(columns(versions[1]).map { $0["autoIncremented"] as? Bool }, [true, false, false, false])
        XCTAssertEqual(columns(versions[1]).map { $0["typeName"] as? String }, ["INTEGER", "TEXT", "INT", "REAL"])
        XCTAssertEqual(versions[0]["ddl"] as? String, "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT NOT NULL DEFAULT 'none', b INT)")
        XCTAssertEqual((versions[1]["ddl"] as? String)?.hasSuffix(", c REAL DEFAULT 1.5)"), true, "\(versions[1]["ddl"] ?? "nil")")
        XCTAssertEqual((versions[2]["ddl"] as? String)?.contains("title TEXT NOT NULL"), true, "SQLite rewrites the statement on RENAME")
        XCTAssertEqual((versions[3]["ddl"] as? String)?.contains(" b INT"), false)
        // The drop describes the table as it was; SQLite keeps no statement for it.
        let drop = try XCTUnwrap(events.first { $0[path: "changes.table_dropped"] as? Bool == true })
        XCTAssertEqual(tableChange(drop)["type"] as? String, "DROP")
        XCTAssertTrue(drop["ddl"] is NSNull)
        XCTAssertEqual(columns(drop).compactMap { $0["name"] as? String }, ["k", "v"])
        XCTAssertEqual(tableChange(drop)[path: "table.primaryKeyColumnNames"] as? [String], ["k"])

        func row(_ id: Int, _ op: String) -> [String: Any]? {
            events.first { $0[path: "source.table"] as? String == "t" && $0["op"] as? String == op && $0[path: "key.id"] as? Int == id }
        }
        XCTAssertEqual(row(2, "c")?["schema_version"] as? Int, 2)
        XCTAssertEqual(row(2, "c")?[path: "after.c"] as? Double, 2.5)
        XCTAssertEqual(row(1, "u")?[path: "after.title"] as? String, "uno")
        XCTAssertEqual(row(1, "u")?["schema_version"] as? Int, 3)
        let three = try XCTUnwrap(row(3, "c"))
        XCTAssertEqual(three["schema_version"] as? Int, 4)
        XCTAssertEqual((three["after"] as? [String: Any]).map { Set($0.keys) }, ["id", "title", "c"])
        // Every event comes after the schema event of its version.
        let index = { (event: [String: Any]) in events.firstIndex { ($0["id"] as? String) == (event["id"] as? String) }! }
        XCTAssertLessThan(index(versions[3]), index(three))

        // Restart: versions are remembered, nothing is emitted again.
        try harness.stop(process)
        let before = try harness.events().count
        process = try harness.start()
        try harness.sql("INSERT INTO t VALUES (4, 'four', 4.5);")
        events = try harness.waitForEvents("row 4", process: process) { $0.contains { $0[path: "key.id"] as? Int == 4 } }
        try harness.stop(process)
        XCTAssertEqual(events.count, before + 1, "only the new row after a restart")
        XCTAssertEqual(events.last?["schema_version"] as? Int, 4)
    }

    func testKillNineInALoopWhileAWriterRuns() throws {
        let harness = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY, v INT);", snapshot: "never")
        // The writer: many short sqlite3 processes, each one transaction of
        // three inserts, an update of one of them, a delete of another and a
        // change of the third's key (two events at one changelog row: a kill
        // may fall between them).
        let rounds = 400
        let script = folderScript(harness, rounds: rounds)
        var process = try harness.start()
        // Changes made before the triggers exist are not captured (the snapshot covers those).
        try process.waitFor(stderrContaining: "capturing", timeout: .seconds(30))
        let writer = try SiphonProcess(executable: URL(fileURLWithPath: "/bin/bash"), arguments: [script])
        process = try harness.killNine(process, times: 8) { 0.3 + Double($0 % 3) * 0.2 }
        XCTAssertEqual(try writer.waitForExit(timeout: .seconds(180)), 0, writer.stderrText)
        let expected = rounds * 7
        _ = try harness.waitForRowEvents(expected, process: process, timeout: .seconds(60))
        // Acknowledged rows are cleaned up once the source is idle (the last
        // checkpoint, made as siphon stops, is cleaned up on the next start);
        // the highest row is kept so sequences never go back.
        var left = ""
        try eventually(timeout: .seconds(30), "the changelog cleaned up") {
            left = try harness.sql("SELECT count(*) FROM _siphon_changelog;").trimmingCharacters(in: .whitespacesAndNewlines)
            return (Int(left) ?? 99) <= 1
        }
        try harness.stop(process)
        let events = try harness.rowEvents()
        XCTAssertEqual(events.count, expected, "no loss and no duplicate")
        let ids = events.compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(ids).count, ids.count, "an event id is repeated in the file")
        XCTAssertEqual(ids, ids.sorted())
        XCTAssertEqual(Set(events.filter { $0["op"] as? String == "c" }.compactMap { $0[path: "key.id"] as? Int }),
                       Set(1...(rounds * 3)).union((1...rounds).map { $0 * 3 + 1_000_000 }))
        XCTAssertEqual(events.filter { ($0["id"] as? String).flatMap { Position($0) }?.low == 1 }.count, rounds)
    }

    /// A snapshot killed half-way is read again on restart, at the same
    /// positions (nothing changed in between), in key order: the rows the
    /// file already holds are skipped and every row ends up there once.
    /// The text key makes rowid order differ from key order.
    func testSnapshotKilledHalfWayResumesWithoutLossOrDuplicate() throws {
        let rows = 100_000
        let harness = try SQLiteHarness(setup: """
            CREATE TABLE codes (code TEXT PRIMARY KEY, n INT);
            WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < \(rows))
            INSERT INTO codes SELECT printf('c%06d', \(rows) + 1 - i), i FROM k;
            """)
        var process = try harness.start()
        try eventually(timeout: .seconds(60), interval: .milliseconds(2), "the snapshot under way") {
            guard process.isRunning else { throw TestSupportError("siphon exited early:\n\(process.stderrText.suffix(3000))") }
            let size = (try? FileManager.default.attributesOfItem(atPath: harness.outputPath)[.size] as? Int) ?? 0
            return size >= 256 * 1024
        }
        process.signal(SIGKILL)
        _ = try process.waitForExit(timeout: .seconds(10))
        let written = try XCTUnwrap(FileManager.default.contents(atPath: harness.outputPath)).reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
        XCTAssertLessThan(written, rows, "killed before the snapshot was all in the file")

        process = try harness.start()
        _ = try harness.waitForRowEvents(rows, process: process, timeout: .seconds(120))
        try harness.stop(process)
        let events = try harness.rowEvents()
        XCTAssertEqual(events.count, rows, "no loss and no duplicate")
        let codes = events.compactMap { $0[path: "key.code"] as? String }
        XCTAssertEqual(Set(codes).count, rows)
        XCTAssertEqual(codes, codes.sorted(), "rows are read in key order")
        let ids = events.compactMap { $0["id"] as? String }
        XCTAssertEqual(ids, ids.sorted())
    }

    private func folderScript(_ harness: SQLiteHarness, rounds: Int) -> String {
        let path = harness.folder.path + "/writer.sh"
        let script = """
            set -e
            for i in $(seq 0 \(rounds - 1)); do
              a=$((i * 3 + 1)); b=$((a + 1)); c=$((a + 2))
              \(SQLiteHarness.shell) -cmd '.timeout 10000' '\(harness.databasePath)' \
                "BEGIN; INSERT INTO t VALUES ($a, 0); INSERT INTO t VALUES ($b, 0); INSERT INTO t VALUES ($c, 0); UPDATE t SET v = 1 WHERE id = $a; DELETE FROM t WHERE id = $b; UPDATE t SET id = $c + 1000000 WHERE id = $c; COMMIT;" >/dev/null
            done
            """
        try? script.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// `events: {format: cloudevents}`: each line is a CloudEvents structured
    /// event with the id first (the file sink resumes by it), Debezium's
    /// attributes, and the event as `data`.
    func testCloudEventsEnvelope() throws {
        let harness = try SQLiteHarness(setup: """
            CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
            INSERT INTO t VALUES (1, 'a'), (2, 'b');
            """, events: "format: cloudevents")
        func data(_ events: [[String: Any]]) -> [[String: Any]] { events.compactMap { $0["data"] as? [String: Any] } }
        func rows(_ events: [[String: Any]]) -> [[String: Any]] { data(events).filter { $0["op"] != nil } }
        var process = try harness.start()
        _ = try harness.waitForEvents("the snapshot", process: process) { rows($0).count == 2 }
        try harness.sql("UPDATE t SET v = 'A' WHERE id = 1; UPDATE t SET id = 3 WHERE id = 2;")
        _ = try harness.waitForEvents("the changes", process: process) { rows($0).count == 5 }
        try harness.stop(process)
        process = try harness.start()
        try harness.sql("INSERT INTO t VALUES (4, 'd');")
        let events = try harness.waitForEvents("after a restart", process: process) { rows($0).count == 6 }
        try harness.stop(process)

        let lines = try XCTUnwrap(String(data: try XCTUnwrap(FileManager.default.contents(atPath: harness.outputPath)), encoding: .utf8))
            .split(separator: "\n")
        XCTAssertEqual(lines.count, 7, "a schema event and six row events, none twice after the restart")
        for (line, event) in zip(lines, events) {
            XCTAssertTrue(line.hasPrefix("{\"id\":\""), String(line))
            XCTAssertEqual(event["specversion"] as? String, "1.0")
            XCTAssertEqual(event["source"] as? String, "/debezium/sqlite/\(harness.name)")
            XCTAssertEqual(event["datacontenttype"] as? String, "application/json")
            XCTAssertEqual(event["iodebeziumconnector"] as? String, "sqlite")
            XCTAssertEqual(event["iodebeziumdb"] as? String, "app.db")
            let time = try XCTUnwrap(event["time"] as? String)
            XCTAssertNotNil(time.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression), time)
            let inner = try XCTUnwrap(event["data"] as? [String: Any])
            XCTAssertEqual(event["iodebeziumsnapshot"] as? String, inner[path: "source.snapshot"] as? String)
            XCTAssertEqual(event["iodebeziumtable"] as? String, "t")
            XCTAssertNil(inner["id"], "the id is the CloudEvent's")
            if inner["tableChanges"] != nil {
                XCTAssertEqual(event["type"] as? String, "io.debezium.connector.sqlite.SchemaChangeEvent")
            } else {
                XCTAssertEqual(event["type"] as? String, "io.debezium.connector.sqlite.DataChangeEvent")
                XCTAssertEqual(event["iodebeziumop"] as? String, inner["op"] as? String)
                let key = try XCTUnwrap(inner["key"] as? [String: Any])
                XCTAssertEqual(event["partitionkey"] as? String, "{\"id\":\(key["id"] ?? "")}")
            }
        }
        let ids = events.compactMap { $0["id"] as? String }
        XCTAssertEqual(ids, ids.sorted())
        XCTAssertEqual(Set(ids).count, ids.count)
        let changes = rows(events)
        XCTAssertEqual(changes.map { $0["op"] as? String }, ["r", "r", "u", "d", "c", "c"])
        XCTAssertEqual(changes.map { $0[path: "source.snapshot"] as? String }, ["first", "last", "false", "false", "false", "false"])
        XCTAssertEqual(changes.map { $0[path: "key.id"] as? Int }, [1, 2, 1, 2, 3, 4])
    }

    func testUninstallLeavesTheDatabaseAsBefore() throws {
        let harness = try SQLiteHarness(setup: """
            CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);
            CREATE TABLE b (x, y, PRIMARY KEY (x, y)) WITHOUT ROWID;
            CREATE INDEX a_v ON a (v);
            CREATE TRIGGER app_trigger AFTER INSERT ON a BEGIN INSERT INTO b VALUES (NEW.id, NEW.v); END;
            INSERT INTO a VALUES (1, 'one');
            """)
        let schemaQuery = "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name;"
        let original = try harness.sql(schemaQuery)
        let process = try harness.start()
        _ = try harness.waitForRowEvents(2, process: process)
        try harness.sql("INSERT INTO a VALUES (2, 'two');")
        _ = try harness.waitForRowEvents(4, process: process)
        try harness.stop(process)
        XCTAssertNotEqual(try harness.sql(schemaQuery), original, "siphon installed its objects")

        let result = try harness.siphon(["sqlite", "uninstall", "--config", harness.configPath])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("removed 6 triggers"), result.stdout)
        XCTAssertEqual(try harness.sql(schemaQuery), original)
        XCTAssertEqual(try harness.sql("SELECT id, v FROM a ORDER BY id; SELECT x, y FROM b ORDER BY x;"), "1|one\n2|two\n1|one\n2|two\n")
    }

    func testASecondProcessOnTheSameStateIsRefused() throws {
        let harness = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY);")
        let first = try harness.start()
        try first.waitFor(stderrContaining: "capturing", timeout: .seconds(30))
        let second = try SiphonProcess.run(["run", "--config", harness.configPath], timeout: .seconds(30))
        XCTAssertEqual(second.status, 2, second.stderr)
        XCTAssertTrue(second.stderr.contains("is in use by another siphon process (pid \(first.pid))"), second.stderr)
        XCTAssertTrue(first.isRunning)
        try harness.stop(first)
    }

    func testBadInputGivesOneClearLineAndExitTwo() throws {
        let harness = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY);", tables: ["t", "missing_*"])
        func run() throws -> (status: Int32, stderr: String) {
            let result = try SiphonProcess.run(["run", "--config", harness.configPath], timeout: .seconds(30))
            return (result.status, result.stderr)
        }

        try harness.writeConfig(tables: ["*"], snapshot: "initial", path: harness.folder.path + "/nope.db")
        var result = try run()
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("source.path: \(harness.folder.path)/nope.db does not exist"), result.stderr)

        let text = harness.folder.path + "/notes.txt"
        try String(repeating: "not a database\n", count: 200).write(toFile: text, atomically: true, encoding: .utf8)
        try harness.writeConfig(tables: ["*"], snapshot: "initial", path: text)
        result = try run()
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("is not an SQLite database"), result.stderr)

        let rollback = harness.folder.path + "/rollback.db"
        _ = try SiphonProcess.run(executable: SQLiteHarness.shell, arguments: [rollback, "CREATE TABLE t (id INTEGER PRIMARY KEY);"])
        try harness.writeConfig(tables: ["*"], snapshot: "initial", path: rollback)
        result = try run()
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("journal_mode=delete, not WAL"), result.stderr)
        XCTAssertTrue(result.stderr.contains("PRAGMA journal_mode=WAL"), result.stderr)

        chmod(harness.databasePath, 0o444)
        try harness.writeConfig(tables: ["*"], snapshot: "initial")
        result = try run()
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("is read-only"), result.stderr)
        chmod(harness.databasePath, 0o644)
        for output in [result.stderr] {
            XCTAssertFalse(output.contains("Fatal error"), output)
        }

        // A pattern that matches nothing is a warning, and a database not in
        // WAL mode is switched when the pipeline says so.
        try harness.writeConfig(tables: ["t", "missing_*"], snapshot: "initial", extraSource: "  enable_wal: true", path: rollback)
        let process = try harness.start()
        try process.waitFor(stderrContaining: "pattern 'missing_*' matches no table", timeout: .seconds(30))
        try process.waitFor(stderrContaining: "switched", timeout: .seconds(30))
        try harness.stop(process)
        let mode = try SiphonProcess.run(executable: SQLiteHarness.shell, arguments: [rollback, "PRAGMA journal_mode;"])
        XCTAssertEqual(mode.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "wal")
    }
}
