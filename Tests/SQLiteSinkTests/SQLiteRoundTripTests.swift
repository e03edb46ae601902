import Foundation
import SiphonTestSupport
import XCTest

/// Every pairing with an SQLite side, through the real source connector
/// and the real sink, each compared with queries on both databases.
final class SQLiteRoundTripTests: XCTestCase {
    /// PostgreSQL to SQLite: the documented type mapping (integers and
    /// booleans as INTEGER, floats as REAL, bytea as BLOB, numeric and
    /// everything else as TEXT in the event's form), every op, a schema change.
    func testPostgresToSQLite() async throws {
        let folder = try TemporaryDirectory()
        let source = try Side.newPostgres()
        let target = Side.sqlite(path: folder.appending("replica.db"))
        try source.sql("""
            CREATE TABLE items (id bigint PRIMARY KEY, qty int, price numeric(14,2), ok boolean, ratio double precision,
                                name text, body bytea, meta jsonb, day date, at timestamptz, tags text[]);
            INSERT INTO items VALUES (1, 5, 12345678901.25, true, 0.5, 'a''b', '\\xdeadbeef', '{"k": [1, 2]}', '2024-02-29',
                                      '2024-01-01 10:00:00+00', '{x,"y z"}'),
                                     (2, NULL, NULL, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
            CREATE TABLE "we""ird" ("sel ect" int PRIMARY KEY, "名前" text);
            INSERT INTO "we""ird" VALUES (1, 'ä');
            """)
        let pair = DatabasePair(source: source, target: target, folder: folder)
        try pair.start()
        let sourceQuery = """
            SELECT id, qty, price, ok::int, ratio, name, encode(body, 'hex'), meta, day || 'Z',
                   to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), array_to_json(tags) FROM items ORDER BY id
            """
        let targetQuery = "SELECT id, qty, price, ok, ratio, name, lower(hex(body)), meta, day, at, tags FROM items ORDER BY id"
        try await pair.waitUntilEqual(source: sourceQuery, target: targetQuery, rows: 2)
        XCTAssertEqual(try target.sql("SELECT group_concat(name || ' ' || type, ',') FROM pragma_table_info('items')"),
                       "id INTEGER,qty INTEGER,price TEXT,ok INTEGER,ratio REAL,name TEXT,body BLOB,meta TEXT,day TEXT,at TEXT,tags TEXT")
        XCTAssertEqual(try target.sql("SELECT typeof(id), typeof(price), typeof(body) FROM items WHERE id = 1"), "integer|text|blob")
        try await pair.waitUntilEqual(source: #"SELECT * FROM "we""ird""#, rows: 1)

        try source.sql("""
            UPDATE items SET qty = 6, name = 'changed' WHERE id = 1;
            UPDATE items SET id = 20 WHERE id = 2;
            INSERT INTO items (id, qty) VALUES (3, 3);
            DELETE FROM items WHERE id = 3;
            ALTER TABLE items ADD COLUMN note text DEFAULT 'dflt';
            INSERT INTO items (id, qty) VALUES (4, 4);
            """)
        try await pair.waitUntilEqual(source: "SELECT id, qty, name, note FROM items ORDER BY id", rows: 3)
        // The row the source never sent again has the added column's default.
        XCTAssertEqual(try target.sql("SELECT note FROM items WHERE id = 1"), "dflt")
        try source.sql("TRUNCATE items")
        try await pair.waitUntilEqual(source: "SELECT count(*) FROM items", target: "SELECT count(*) FROM items")
        XCTAssertEqual(try target.sql("SELECT count(*) FROM items"), "0")
        // The position is in the same file.
        XCTAssertEqual(try target.sql("SELECT count(*) FROM _siphon_offsets WHERE pipeline = 'pair'"), "1")
        try await pair.stop()
    }

    /// SQLite to PostgreSQL: declared types mapped by SQLite's affinity
    /// (INTEGER to bigint, TEXT to text, REAL to double precision, BLOB to
    /// bytea, NUMERIC to numeric, none to text).
    func testSQLiteToPostgres() async throws {
        let folder = try TemporaryDirectory()
        let source = try Side.newSQLite(in: folder, name: "app.db")
        let target = try Side.newPostgres()
        try source.sql("""
            CREATE TABLE orders (id INTEGER PRIMARY KEY, customer VARCHAR(40) NOT NULL, total REAL, qty INT, data BLOB, price NUMERIC, extra);
            INSERT INTO orders VALUES (1, 'ann', 9.5, 2, x'00ff10', 12.5, 'x'), (2, 'bob''s', NULL, NULL, NULL, NULL, 7);
            CREATE TABLE pairs (a INTEGER, b TEXT, v TEXT, PRIMARY KEY (a, b));
            INSERT INTO pairs VALUES (1, 'x', 'one');
            """)
        let pair = DatabasePair(source: source, target: target, folder: folder)
        try pair.start()
        let sourceQuery = "SELECT id, customer, total, qty, lower(hex(data)), price, extra FROM orders ORDER BY id"
        let targetQuery = "SELECT id, customer, total, qty, encode(data, 'hex'), price, extra FROM orders ORDER BY id"
        try await pair.waitUntilEqual(source: sourceQuery, target: targetQuery, rows: 2)
        XCTAssertEqual(try target.sql("""
            SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute
            WHERE attrelid = 'orders'::regclass AND attnum > 0
            """), "id bigint,customer text,total double precision,qty bigint,data bytea,price numeric,extra text")
        try source.sql("""
            BEGIN;
            UPDATE orders SET total = 10.25, customer = 'ann2' WHERE id = 1;
            DELETE FROM orders WHERE id = 2;
            INSERT INTO orders (id, customer, qty) VALUES (3, 'cy', 1);
            UPDATE pairs SET b = 'y' WHERE a = 1;
            COMMIT;
            """)
        try await pair.waitUntilEqual(source: sourceQuery, target: targetQuery, rows: 2)
        try await pair.waitUntilEqual(source: "SELECT * FROM pairs ORDER BY a, b", rows: 1)
        try await pair.stop()
    }

    /// SQLite text may hold U+0000, which PostgreSQL text cannot: the
    /// pipeline stops with one error naming table and column, and the
    /// target keeps what came before it (nothing cut short, nothing skipped).
    func testANulCharacterStopsAnSQLiteToPostgresPipelineNamingTheColumn() async throws {
        let folder = try TemporaryDirectory()
        let source = try Side.newSQLite(in: folder, name: "app.db")
        let target = try Side.newPostgres()
        try source.sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'fine');")
        let pair = DatabasePair(source: source, target: target, folder: folder)
        try pair.start()
        try await pair.waitUntilEqual(source: "SELECT id, body FROM notes ORDER BY id", rows: 1)
        try source.sql("INSERT INTO notes VALUES (2, 'a' || char(0) || 'b');")
        let reason = await pair.stopReason(within: .seconds(30))
        let message = reason.map { String(describing: $0) } ?? "still running"
        XCTAssertTrue(message.contains("U+0000") && message.contains("column body") && message.contains("main.notes"), message)
        XCTAssertEqual(try target.sql("SELECT id, body FROM notes ORDER BY id"), "1|fine")
    }

    /// SQLite to SQLite: declared types kept; `SELECT *` and every value's
    /// storage class equal on both files.
    func testSQLiteToSQLite() async throws {
        let folder = try TemporaryDirectory()
        let source = try Side.newSQLite(in: folder, name: "app.db")
        let target = Side.sqlite(path: folder.appending("copy.db"))
        try source.sql("""
            CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, score REAL, raw BLOB, n INTEGER, anything);
            INSERT INTO notes VALUES (1, 'first', 1.5, x'0102', 9223372036854775807, 'text'), (2, NULL, -0.25, NULL, -1, 42);
            """)
        let pair = DatabasePair(source: source, target: target, folder: folder)
        try pair.start()
        let query = "SELECT id, title, score, hex(raw), n, anything, typeof(title), typeof(score), typeof(raw), typeof(anything) FROM notes ORDER BY id"
        try await pair.waitUntilEqual(source: query, rows: 2)
        try source.sql("""
            UPDATE notes SET title = 'upd', anything = 3.5 WHERE id = 1;
            INSERT INTO notes VALUES (3, 'three', 3, x'ff', 3, NULL);
            DELETE FROM notes WHERE id = 2;
            ALTER TABLE notes ADD COLUMN extra TEXT DEFAULT 'e';
            INSERT INTO notes (id, title) VALUES (4, 'four');
            """)
        try await pair.waitUntilEqual(source: query, rows: 3)
        try await pair.waitUntilEqual(source: "SELECT id, extra FROM notes ORDER BY id", rows: 3)
        XCTAssertEqual(try target.sql("SELECT group_concat(name || ' ' || type, ',') FROM pragma_table_info('notes')"),
                       "id INTEGER,title TEXT,score REAL,raw BLOB,n INTEGER,anything ,extra TEXT")
        try await pair.stop()
    }
}
