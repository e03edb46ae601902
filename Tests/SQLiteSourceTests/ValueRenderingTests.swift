import SiphonCore
@testable import SQLiteSource
import XCTest

/// SQLite values to JSON, from a real statement.
final class SQLiteValueRenderingTests: XCTestCase {
    func testEveryStorageClass() throws {
        let connection = try SQLiteConnection(path: ":memory:")
        let row = try connection.prepare("""
            SELECT 9223372036854775807, -42, 2.5, 3.0, 1e999, -1e999, 'tab\tquote" é', x'00FF10', x'', NULL, CAST(x'61FF62' AS TEXT)
            """)
        XCTAssertTrue(try row.step())
        let rendered = (0..<row.columnCount).map { column -> String in
            var json = JSONBuffer()
            ChangeRenderer.writeValue(row, column, to: &json)
            return String(decoding: json.bytes, as: UTF8.self)
        }
        XCTAssertEqual(rendered, ["9223372036854775807", "-42", "2.5", "3", "\"Infinity\"", "\"-Infinity\"",
                                  "\"tab\\tquote\\\" é\"", "\"AP8Q\"", "\"\"", "null", "\"a\u{FFFD}b\""])
    }
}
