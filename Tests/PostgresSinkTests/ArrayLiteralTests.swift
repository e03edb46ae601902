@testable import PostgresSink
import SiphonTestSupport
import XCTest

/// The array parameters the PostgreSQL sink passes a batch's columns in:
/// checked against PostgreSQL itself, which decodes the same JSON values.
final class ArrayLiteralTests: XCTestCase {
    /// Values that could end an element or the array early, escapes of
    /// every kind, and values that look like NULL: each element must be
    /// what the server's own JSON decoding gives (`json_to_recordset`'s
    /// text field, which the sink used before).
    func testElementsAreWhatTheServerDecodesFromTheSameJSON() throws {
        let values = [
            #""plain""#, #""""#, #""NULL""#, #""null""#, "null", #"" spaced ""#, #""a,b""#, #""{x}""#, #""a\"b""#,
            #""back\\slash""#, #""trailing\\""#, #""\\\"""#, #""tab\tnew\nline\r""#, #""\b\f\/""#, #""\u00e9\u4e2d""#,
            #""\ud83d\ude00 surrogates""#, #""\u0022quote\u005c""#, "\"raw ü 中 😀\"", "12", "-0.5", "1e300",
            "123456789012345678901234567890.123456789", "true", "false", #"{"k":"v \"q\"","a":[1,null]}"#, #"[1,"x",{"y":null}]"#,
            #""{\"n\": 1, \"tags\": [\"a\", \"b\"]}""#,
        ]
        var literal = ArrayLiteral(capacity: 64)
        for value in values { try literal.append(json: ArraySlice(Array(value.utf8))) }
        let array = literal.finish()
        let json = "[" + values.joined(separator: ",") + "]"

        let server = try PostgresServer.start()
        let reference = """
            ARRAY(SELECT CASE json_typeof(e) WHEN 'string' THEN e #>> '{}' WHEN 'null' THEN NULL ELSE e::text END
                  FROM json_array_elements($q$\(json)$q$::json) WITH ORDINALITY AS u(e, n) ORDER BY n)
            """
        let mismatches = try server.psql("""
            SELECT n, coalesce(a, '<NULL>'), coalesce(b, '<NULL>')
            FROM unnest($q$\(array)$q$::text[], \(reference)) WITH ORDINALITY AS x(a, b, n)
            WHERE a IS DISTINCT FROM b
            """)
        XCTAssertEqual(mismatches.trimmingCharacters(in: .whitespacesAndNewlines), "", "elements that differ (n|array|json)")
        let count = try server.psql("SELECT cardinality($q$\(array)$q$::text[])")
        XCTAssertEqual(count.trimmingCharacters(in: .whitespacesAndNewlines), "\(values.count)")
    }

    /// PostgreSQL text cannot hold U+0000: refused, never cut short.
    func testANulCharacterIsRefused() {
        var literal = ArrayLiteral(capacity: 8)
        XCTAssertThrowsError(try literal.append(json: ArraySlice(Array(#""a\u0000b""#.utf8))))
    }
}
