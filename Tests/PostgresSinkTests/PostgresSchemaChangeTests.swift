import Foundation
import SiphonCore
import SiphonTestSupport
import XCTest

/// Schema changes at the source, mid-stream, reach the target: added
/// columns (existing rows get the source's default), dropped columns kept
/// and made nullable, widened types; an unsafe change stops the pipeline.
final class PostgresSchemaChangeTests: XCTestCase {
    func testAddDropAndWidenMidStream() async throws {
        let pair = try ReplicaHarness()
        try pair.sourceSQL("""
            CREATE TABLE items (id int PRIMARY KEY, name varchar(10), qty int NOT NULL, note text);
            INSERT INTO items SELECT g, 'n' || g, g * 10, NULL FROM generate_series(1, 20) g;
            """)
        try pair.start()
        try await pair.waitUntilEqual("SELECT * FROM items ORDER BY id", expectedRows: 20)

        // Added with a default: rows the source never sent again must hold it too.
        try pair.sourceSQL("""
            ALTER TABLE items ADD COLUMN price numeric(10,2) NOT NULL DEFAULT 1.25;
            ALTER TABLE items ADD COLUMN tag text DEFAULT 'it''s';
            UPDATE items SET note = 'touched' WHERE id = 1;
            """)
        try await pair.waitUntilEqual("SELECT * FROM items ORDER BY id", expectedRows: 20)

        // Dropped: kept in the target, nullable, old values untouched.
        try pair.sourceSQL("""
            ALTER TABLE items DROP COLUMN qty;
            INSERT INTO items (id, name, price) VALUES (21, 'new', 2);
            UPDATE items SET name = 'renamed' WHERE id = 2;
            """)
        try await pair.waitUntilEqual("SELECT id, name, note, price, tag FROM items ORDER BY id", expectedRows: 21)
        XCTAssertEqual(try pair.targetSQL("SELECT qty IS NULL FROM items WHERE id = 21"), "t")
        XCTAssertEqual(try pair.targetSQL("SELECT qty FROM items WHERE id = 2"), "20")
        XCTAssertEqual(try pair.targetSQL("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'qty'"), "f")

        // Widened: int to bigint (the key), varchar(10) to varchar(20).
        try pair.sourceSQL("""
            ALTER TABLE items ALTER COLUMN id TYPE bigint, ALTER COLUMN name TYPE varchar(20);
            INSERT INTO items (id, name, price) VALUES (5000000000, 'twenty characters!!!', 3);
            """)
        try await pair.waitUntilEqual("SELECT id, name, note, price, tag FROM items ORDER BY id", expectedRows: 22)
        XCTAssertEqual(try pair.targetSQL("""
            SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',' ORDER BY attnum)
            FROM pg_attribute WHERE attrelid = 'items'::regclass AND attnum > 0 AND NOT attisdropped
            """), "id:bigint,name:character varying(20),qty:integer,note:text,price:numeric(10,2),tag:text")

        // Narrowing a type is not applied: a permanent error naming table, column and both types.
        let before = try pair.targetSQL("SELECT position FROM _siphon_offsets")
        try pair.sourceSQL("""
            ALTER TABLE items ALTER COLUMN name TYPE integer USING length(name);
            INSERT INTO items (id, name, price) VALUES (23, 7, 1);
            """)
        let failure = try await pair.failure()
        let error = try XCTUnwrap(failure as? SiphonError, "the pipeline did not stop: \(String(describing: failure))")
        XCTAssertFalse(error.isTransient)
        for part in ["items", "name", "character varying(20)", "integer"] {
            XCTAssertTrue(error.message.contains(part), "\(part) not in: \(error.message)")
        }
        XCTAssertEqual(try pair.targetSQL("SELECT position FROM _siphon_offsets"), before, "a position past the change was recorded")
        XCTAssertEqual(try pair.targetSQL("SELECT count(*) FROM items WHERE id = 23"), "0")
    }
}
