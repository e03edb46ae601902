import SiphonCore
@testable import SQLiteSource
import XCTest

final class RowImageTests: XCTestCase {
    private func render(_ text: String) throws -> [String] {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer in
            let image = try XCTUnwrap(RowImage(buffer), "not split: \(text)")
            return (0..<image.count).map { index in
                var json = JSONBuffer()
                image.write(index, to: &json)
                return String(decoding: json.bytes, as: UTF8.self)
            }
        }
    }

    func testElementsAreCopiedOrConverted() throws {
        XCTAssertEqual(try render(#"[1,-2.5,"a,b]","q\"x\\",null,{"b":"00FF10"},9223372036854775807]"#),
                       ["1", "-2.5", #""a,b]""#, #""q\"x\\""#, "null", #""AP8Q""#, "9223372036854775807"])
        XCTAssertEqual(try render("[]"), [])
        XCTAssertEqual(try render(#"[{"b":""}]"#), [#""""#])
    }

    func testInfinityNeverBecomesInvalidJSON() throws {
        XCTAssertEqual(try render("[Inf,-Inf,9.0e+999,-9.0e+999,1.5e10]"),
                       [#""Infinity""#, #""-Infinity""#, #""Infinity""#, #""-Infinity""#, "1.5e10"])
    }

    func testBrokenUTF8IsReplaced() throws {
        var bytes = Array(#"["a"#.utf8)
        bytes.append(0xFF)
        bytes.append(contentsOf: Array(#"b"]"#.utf8))
        let rendered = try bytes.withUnsafeBufferPointer { buffer -> String in
            let image = try XCTUnwrap(RowImage(buffer))
            var json = JSONBuffer()
            image.write(0, to: &json)
            return String(decoding: json.bytes, as: UTF8.self)
        }
        XCTAssertEqual(rendered, "\"a\u{FFFD}b\"")
    }

    func testRejectsWhatIsNotAnArray() {
        for text in ["", "{}", "[\"open]", "1"] {
            let bytes = Array(text.utf8)
            bytes.withUnsafeBufferPointer { XCTAssertNil(RowImage($0), text) }
        }
    }
}

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
