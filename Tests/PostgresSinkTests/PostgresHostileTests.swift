import Foundation
import SiphonTestSupport
import XCTest

/// Names that would break or inject SQL if any were not quoted, and TOAST
/// values PostgreSQL does not send again.
final class PostgresHostileTests: XCTestCase {
    func testHostileTableAndColumnNamesAreQuotedEverywhere() async throws {
        let pair = try ReplicaHarness()
        try pair.targetSQL("CREATE TABLE t (canary int); INSERT INTO t VALUES (1)")
        try pair.sourceSQL("""
            CREATE TABLE "we""ird ta ble" ("select" int, "a""b" text, "名前" text, "sp ace" varchar(5),
                "x);DROP TABLE t;--" text, "Mixed" int, PRIMARY KEY ("select", "名前"));
            CREATE TABLE "order" ("group" int PRIMARY KEY, "Ünï.cödé" text, "'; DELETE FROM t; --" int);
            INSERT INTO "we""ird ta ble" VALUES (1, 'q"uote', 'ä', 'a b', 'inj', 1), (2, NULL, 'ö', NULL, '''', 2);
            INSERT INTO "order" VALUES (1, 'x', 1);
            """)
        try pair.start()
        let weird = #"SELECT * FROM "we""ird ta ble" ORDER BY "select""#
        try await pair.waitUntilEqual(weird, expectedRows: 2)
        try await pair.waitUntilEqual(#"SELECT * FROM "order" ORDER BY 1"#, expectedRows: 1)
        try pair.sourceSQL("""
            UPDATE "we""ird ta ble" SET "a""b" = 'upd', "x);DROP TABLE t;--" = 'again' WHERE "select" = 1;
            DELETE FROM "we""ird ta ble" WHERE "select" = 2;
            INSERT INTO "we""ird ta ble" VALUES (3, 'three', 'ü', 'c', NULL, 3);
            ALTER TABLE "order" ADD COLUMN "new ""col"" x" text DEFAULT 'd';
            UPDATE "order" SET "Ünï.cödé" = 'y' WHERE "group" = 1;
            """)
        try await pair.waitUntilEqual(weird, expectedRows: 2)
        try await pair.waitUntilEqual(#"SELECT * FROM "order" ORDER BY 1"#, expectedRows: 1)
        XCTAssertEqual(try pair.targetSQL("SELECT canary FROM t"), "1", "the canary table was touched")
        try await pair.stop()
    }

    /// REPLICA IDENTITY DEFAULT: an update of another column does not send
    /// a 100 KB TOASTed value again (the event lists it in `unchanged`);
    /// the target keeps it, also when the row was inserted in the same
    /// source transaction (collapsed in one target transaction).
    func testUnchangedToastValueSurvivesAnUpdateOfAnotherColumn() async throws {
        let pair = try ReplicaHarness()
        try pair.sourceSQL("""
            CREATE TABLE docs (id int PRIMARY KEY, body text, n int);
            ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
            """)
        try pair.start()
        try pair.sourceSQL("""
            INSERT INTO docs VALUES (1, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 3200) g), 1);
            """)
        let check = "SELECT id, md5(body), length(body), n FROM docs ORDER BY id"
        try await pair.waitUntilEqual(check, expectedRows: 1)
        try pair.sourceSQL("""
            UPDATE docs SET n = 2 WHERE id = 1;
            BEGIN;
            INSERT INTO docs VALUES (2, (SELECT string_agg(md5((g * 7)::text), '') FROM generate_series(1, 3200) g), 1);
            UPDATE docs SET n = 3 WHERE id = 2;
            COMMIT;
            """)
        try await pair.waitUntilEqual(check, expectedRows: 2)
        XCTAssertEqual(try pair.targetSQL("SELECT string_agg(length(body)::text || '/' || n, ',' ORDER BY id) FROM docs"),
                       "102400/2,102400/3")
        try await pair.stop()
    }
}
