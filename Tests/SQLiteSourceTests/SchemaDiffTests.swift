import SiphonCore
@testable import SQLiteSource
import XCTest

final class SchemaDiffTests: XCTestCase {
    private func schema(_ columns: [(String, String, Int)], rowid: Bool = false) -> TableSchema {
        TableSchema(table: "t", version: 1, columns: columns.map { .init(name: $0.0, type: $0.1, keyIndex: $0.2) }, keyedByRowid: rowid)
    }

    func testAddedDroppedRenamedRetyped() {
        let base = schema([("id", "INTEGER", 1), ("a", "TEXT", 0), ("b", "INT", 0)])
        XCTAssertEqual(SchemaDiff(from: base, to: schema([("id", "INTEGER", 1), ("a", "TEXT", 0), ("b", "INT", 0), ("c", "REAL", 0)])).added, ["c"])
        XCTAssertEqual(SchemaDiff(from: base, to: schema([("id", "INTEGER", 1), ("b", "INT", 0)])).dropped, ["a"])
        let renamed = SchemaDiff(from: base, to: schema([("id", "INTEGER", 1), ("title", "TEXT", 0), ("b", "INT", 0)]))
        XCTAssertEqual(renamed.renamed.map { [$0.from, $0.to] }, [["a", "title"]])
        XCTAssertTrue(renamed.added.isEmpty && renamed.dropped.isEmpty)
        let retyped = SchemaDiff(from: base, to: schema([("id", "INTEGER", 1), ("a", "BLOB", 0), ("b", "INT", 0)]))
        XCTAssertEqual(retyped.retyped.map { [$0.name, $0.from, $0.to] }, [["a", "TEXT", "BLOB"]])
        XCTAssertFalse(retyped.keyChanged)
        XCTAssertTrue(SchemaDiff(from: base, to: schema([("id", "INTEGER", 0), ("a", "TEXT", 0), ("b", "INT", 0)], rowid: true)).keyChanged)
    }

    func testColumnsRoundTripThroughJSON() throws {
        let original = schema([("k", "TEXT", 2), ("n", "", 1), ("v", "REAL", 0)])
        XCTAssertEqual(TableSchema(table: "t", version: 1, columnsJSON: original.columnsJSON), original)
        XCTAssertEqual(original.keyColumns, [1, 0])
        let rowid = schema([("body", "TEXT", 0)], rowid: true)
        XCTAssertEqual(TableSchema(table: "t", version: 1, columnsJSON: rowid.columnsJSON), rowid)
    }

    func testTablePatterns() {
        let patterns = TablePatterns(["orders", "audit_*", "main.users"])
        XCTAssertTrue(patterns.matches("orders"))
        XCTAssertTrue(patterns.matches("audit_2024"))
        XCTAssertTrue(patterns.matches("users"))
        XCTAssertFalse(patterns.matches("orders_old"))
        XCTAssertEqual(patterns.unmatched(in: ["orders"]), ["audit_*", "users"])
        XCTAssertTrue(TablePatterns(["*"]).matches("anything"))
    }
}
