import Foundation
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
        let coffee = try XCTUnwrap(snapshot.first { $0[path: "source.table"] as? String == "items" })
        XCTAssertEqual(coffee[path: "after.data"] as? String, "AP8Q")
        XCTAssertEqual(coffee[path: "key.id"] as? Int, 1)
        XCTAssertEqual(coffee[path: "source.snapshot"] as? Bool, true)
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
            """)
        let rows = try harness.waitForRowEvents(10, process: process)
        try harness.stop(process)
        let changes = Array(rows.dropFirst(3))
        XCTAssertEqual(changes.map { $0["op"] as? String }, ["c", "c", "u", "d", "c", "u", "d"])

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

        // The four changes of the first transaction share its id, in order.
        let first = changes[0..<4].map { $0[path: "transaction.id"] as? String }
        XCTAssertEqual(Set(first).count, 1, "\(first)")
        XCTAssertEqual(changes[0..<4].map { $0[path: "transaction.order"] as? Int }, [1, 2, 3, 4])
        XCTAssertEqual(Set(rows.compactMap { $0[path: "schema.version"] as? Int }), [1])
        let ids = try harness.events().compactMap { $0["id"] as? String }
        XCTAssertEqual(ids, ids.sorted())
        XCTAssertEqual(Set(ids).count, ids.count)
    }

    func testSchemaChangesMidStreamAndRestart() throws {
        let harness = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INT);")
        var process = try harness.start()
        _ = try harness.waitForEvents("schema event of t", process: process) { $0.contains { $0["op"] as? String == "schema" } }
        try harness.sql("INSERT INTO t VALUES (1, 'one', 1);")
        _ = try harness.waitForRowEvents(1, process: process)

        func schemaEvents(_ events: [[String: Any]]) -> [[String: Any]] {
            events.filter { $0["op"] as? String == "schema" && $0[path: "source.table"] as? String == "t" }
        }
        try harness.sql("ALTER TABLE t ADD COLUMN c REAL;")
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
            events.contains { $0[path: "schema.changes.table_dropped"] as? Bool == true }
        }

        let versions = schemaEvents(events)
        XCTAssertEqual(versions.map { $0[path: "schema.version"] as? Int }, [1, 2, 3, 4])
        XCTAssertEqual(versions.map { $0[path: "schema.previous"] as? Int }, [nil, 1, 2, 3])
        XCTAssertEqual(versions[1][path: "schema.changes.added"] as? [String], ["c"])
        XCTAssertEqual((versions[2][path: "schema.changes.renamed"] as? [[String: String]])?.first, ["from": "a", "to": "title"])
        XCTAssertEqual(versions[3][path: "schema.changes.dropped"] as? [String], ["b"])
        XCTAssertEqual((versions[3][path: "schema.columns"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["id", "title", "c"])

        func row(_ id: Int, _ op: String) -> [String: Any]? {
            events.first { $0[path: "source.table"] as? String == "t" && $0["op"] as? String == op && $0[path: "key.id"] as? Int == id }
        }
        XCTAssertEqual(row(2, "c")?[path: "schema.version"] as? Int, 2)
        XCTAssertEqual(row(2, "c")?[path: "after.c"] as? Double, 2.5)
        XCTAssertEqual(row(1, "u")?[path: "after.title"] as? String, "uno")
        XCTAssertEqual(row(1, "u")?[path: "schema.version"] as? Int, 3)
        let three = try XCTUnwrap(row(3, "c"))
        XCTAssertEqual(three[path: "schema.version"] as? Int, 4)
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
        XCTAssertEqual(events.last?[path: "schema.version"] as? Int, 4)
    }

    func testKillNineInALoopWhileAWriterRuns() throws {
        let harness = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY, v INT);", snapshot: "never")
        // The writer: many short sqlite3 processes, each one transaction of
        // three inserts, an update of one of them and a delete of another.
        let rounds = 400
        let script = folderScript(harness, rounds: rounds)
        var process = try harness.start()
        // Changes made before the triggers exist are not captured (the snapshot covers those).
        try process.waitFor(stderrContaining: "capturing", timeout: .seconds(30))
        let writer = try SiphonProcess(executable: URL(fileURLWithPath: "/bin/bash"), arguments: [script])
        for round in 0..<8 {
            Thread.sleep(forTimeInterval: 0.3 + Double(round % 3) * 0.2)
            process.signal(SIGKILL)
            _ = try process.waitForExit(timeout: .seconds(10))
            process = try harness.start()
        }
        XCTAssertEqual(try writer.waitForExit(timeout: .seconds(180)), 0, writer.stderrText)
        let expected = rounds * 5
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
        XCTAssertEqual(Set(events.filter { $0["op"] as? String == "c" }.compactMap { $0[path: "key.id"] as? Int }), Set(1...(rounds * 3)))
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
                "BEGIN; INSERT INTO t VALUES ($a, 0); INSERT INTO t VALUES ($b, 0); INSERT INTO t VALUES ($c, 0); UPDATE t SET v = 1 WHERE id = $a; DELETE FROM t WHERE id = $b; COMMIT;" >/dev/null
            done
            """
        try? script.write(toFile: path, atomically: true, encoding: .utf8)
        return path
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
