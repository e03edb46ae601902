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
        XCTAssertEqual(retyped.keyChanged, [])
        XCTAssertEqual(SchemaDiff(from: base, to: schema([("id", "INTEGER", 0), ("a", "TEXT", 0), ("b", "INT", 0)], rowid: true)).keyChanged,
                       ["id", "rowid"], "the key moved from id to the rowid")
    }

    func testColumnsRoundTripThroughJSON() throws {
        let original = schema([("k", "TEXT", 2), ("n", "", 1), ("v", "REAL", 0)])
        XCTAssertEqual(TableSchema(table: "t", version: 1, columnsJSON: original.columnsJSON), original)
        XCTAssertEqual(original.keyColumns, [1, 0])
        let rowid = schema([("body", "TEXT", 0)], rowid: true)
        XCTAssertEqual(TableSchema(table: "t", version: 1, columnsJSON: rowid.columnsJSON), rowid)
        var detailed = original
        detailed.columns[0].details = .init(notNull: true, defaultValue: "'a \"b\"'", autoIncrement: false)
        detailed.columns[1].details = .init(notNull: true, defaultValue: nil, autoIncrement: true)
        detailed.columns[2].details = .init(notNull: false, defaultValue: nil, autoIncrement: false)
        XCTAssertEqual(TableSchema(table: "t", version: 1, columnsJSON: detailed.columnsJSON), detailed)
        XCTAssertTrue(detailed.sameShape(as: original), "a version without details is not different for lacking them")
        var otherDefault = detailed
        otherDefault.columns[0].details?.defaultValue = "'c'"
        XCTAssertFalse(otherDefault.sameShape(as: detailed))
    }

    /// Debezium's `typeName`, `length`, `scale` and `jdbcType` from SQLite's declared types.
    func testDeclaredTypes() {
        func parts(_ declared: String) -> [String] {
            let type = DeclaredType(declared)
            return [type.name, type.length.map(String.init) ?? "-", type.scale.map(String.init) ?? "-", String(type.jdbcType)]
        }
        XCTAssertEqual(parts("VARCHAR(20)"), ["VARCHAR", "20", "-", "12"])
        XCTAssertEqual(parts("decimal( 10 , 2 )"), ["decimal", "10", "2", "2"])
        XCTAssertEqual(parts("NUMERIC(+5,-1)"), ["NUMERIC", "5", "-1", "2"])
        XCTAssertEqual(parts("UNSIGNED BIG INT"), ["UNSIGNED BIG INT", "-", "-", "-5"])
        XCTAssertEqual(parts("CHARINT"), ["CHARINT", "-", "-", "-5"], "INT comes first in SQLite's affinity rules")
        XCTAssertEqual(parts("DOUBLE PRECISION"), ["DOUBLE PRECISION", "-", "-", "8"])
        XCTAssertEqual(parts("BLOB"), ["BLOB", "-", "-", "2004"])
        XCTAssertEqual(parts(""), ["", "-", "-", "1111"])
        XCTAssertEqual(parts("DATETIME"), ["DATETIME", "-", "-", "2"])
        XCTAssertEqual(parts("VARCHAR(n)"), ["VARCHAR", "-", "-", "12"], "not numbers: no length")
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
