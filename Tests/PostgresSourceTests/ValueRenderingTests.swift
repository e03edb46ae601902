import Foundation
import XCTest
@testable import PostgresSource
#if canImport(SiphonCore)
import SiphonCore
#endif

final class ValueRenderingTests: XCTestCase {
    /// (type OID, PostgreSQL text output, expected JSON).
    private static let cases: [(oid: UInt32, text: String, json: String)] = [
        // integer
        (21, "-32768", "-32768"), (23, "0", "0"), (23, "42", "42"),
        (20, "9223372036854775807", "9223372036854775807"), (26, "4294967295", "4294967295"),
        (28, "734", "734"), (5069, "12345678901", "12345678901"),
        (23, "007", "\"007\""), (23, "12abc", "\"12abc\""), (23, "", "\"\""), (23, "-", "\"-\""),
        // float
        (701, "3.14", "3.14"), (701, "-0", "-0"), (701, "1e+100", "1e+100"),
        (701, "1.23456789012345677e-05", "1.23456789012345677e-05"), (700, "0.100000001", "0.100000001"),
        (701, "NaN", "\"NaN\""), (701, "Infinity", "\"Infinity\""), (700, "-Infinity", "\"-Infinity\""),
        (701, "1.", "\"1.\""), (701, ".5", "\".5\""), (701, "1e", "\"1e\""),
        // numeric: NaN and the infinities by Debezium's names
        (1700, "123.4500", "\"123.4500\""), (1700, "-0.000000000000000000001", "\"-0.000000000000000000001\""),
        (1700, "NaN", "\"NAN\""), (1700, "Infinity", "\"POSITIVE_INFINITY\""), (1700, "-Infinity", "\"NEGATIVE_INFINITY\""),
        (1700, "Nan", "\"Nan\""),
        // money: the amount without symbol or grouping, the digits as written, whatever lc_monetary
        (790, "$1,000.00", "\"1000.00\""), (790, "-$5.50", "\"-5.50\""), (790, "($5.50)", "\"-5.50\""),
        (790, "$0.00", "\"0.00\""), (790, "-$0.00", "\"0.00\""), (790, "-$92,233,720,368,547,758.08", "\"-92233720368547758.08\""),
        (790, "1.234,56 €", "\"1234.56\""), (790, "-1.234,56 €", "\"-1234.56\""), (790, "€ 1 234,5", "\"1234.5\""),
        (790, "￥1,235", "\"1235\""), (790, "Fr. 1'234.50", "\"1234.50\""), (790, "$007.10", "\"7.10\""),
        (790, "", "\"\""), (790, "$", "\"$\""),
        // bool
        (16, "t", "true"), (16, "f", "false"), (16, "maybe", "\"maybe\""),
        // json, jsonb: a string of the text as PostgreSQL sends it (ValueOptions.jsonAsString)
        (114, "{\"a\": [1, 2.5, null], \"b\": \"x\\ny\"}", "\"{\\\"a\\\": [1, 2.5, null], \\\"b\\\": \\\"x\\\\ny\\\"}\""),
        (3802, "{\"k\": {\"n\": true}}", "\"{\\\"k\\\": {\\\"n\\\": true}}\""),
        (3802, "\"just a string\"", "\"\\\"just a string\\\"\""), (3802, "17", "\"17\""), (3802, "null", "\"null\""),
        (114, "  \n", "\"  \\n\""),
        // bytea
        (17, "\\x", "\"\""), (17, "\\x00", "\"AA==\""), (17, "\\x0a0b", "\"Cgs=\""),
        (17, "\\x48656c6c6f", "\"SGVsbG8=\""), (17, "\\xDEADbeef", "\"3q2+7w==\""),
        (17, "\\x123", "\"XHgxMjM=\""), (17, "\\xzz", "\"XHh6eg==\""), (17, "abc", "\"YWJj\""),
        // date: ISO years (proleptic, signed past 9999), `Z`; infinity as Debezium maps it
        (1082, "2024-01-02", "\"2024-01-02Z\""), (1082, "infinity", "\"-5877611-06-21Z\""),
        (1082, "-infinity", "\"-5877611-06-22Z\""), (1082, "0044-03-15 BC", "\"-0043-03-15Z\""),
        (1082, "0001-01-01 BC", "\"0000-01-01Z\""), (1082, "12345-06-07", "\"+12345-06-07Z\""),
        (1082, "2024-13-01", "\"2024-13-01\""), (1082, "24-01-01", "\"24-01-01\""), (1082, "2024-01-01 AD", "\"2024-01-01 AD\""),
        (1082, "0000-01-01 BC", "\"0000-01-01 BC\""), (1082, "", "\"\""),
        // timestamp: the fraction as short as it gets
        (1114, "2024-01-02 03:04:05.123456", "\"2024-01-02T03:04:05.123456Z\""),
        (1114, "2024-01-02 03:04:05", "\"2024-01-02T03:04:05Z\""), (1114, "2024-01-02 03:04:05.5", "\"2024-01-02T03:04:05.5Z\""),
        (1114, "infinity", "\"+294247-01-10T04:00:25.2Z\""), (1114, "-infinity", "\"-290308-12-21T19:59:27.6Z\""),
        (1114, "0044-03-15 12:00:00 BC", "\"-0043-03-15T12:00:00Z\""),
        (1114, "2024-01-02T03:04:05", "\"2024-01-02T03:04:05\""), (1114, "2024-01-02 03:04:05.1234567", "\"2024-01-02 03:04:05.1234567\""),
        (1114, "2024-01-02 03:04", "\"2024-01-02 03:04\""), (1114, "2024-01-02 03:04:05+00", "\"2024-01-02 03:04:05+00\""),
        // timestamptz: in UTC, six fraction digits (the precision of a column without one)
        (1184, "2024-01-02 03:04:05.12+00", "\"2024-01-02T03:04:05.120000Z\""),
        (1184, "2024-01-02 03:04:05+05:30", "\"2024-01-01T21:34:05.000000Z\""),
        (1184, "2024-01-02 03:04:05+05", "\"2024-01-01T22:04:05.000000Z\""),
        (1184, "2024-12-31 23:04:05-08", "\"2025-01-01T07:04:05.000000Z\""),
        (1184, "1900-01-01 00:00:00-03:30:15", "\"1900-01-01T03:30:15.000000Z\""),
        (1184, "2024-01-02 03:04:05+00:00", "\"2024-01-02T03:04:05.000000Z\""),
        (1184, "infinity", "\"infinity\""), (1184, "-infinity", "\"-infinity\""),
        (1184, "0044-03-15 12:00:00+00 BC", "\"-0043-03-15T12:00:00.000000Z\""),
        (1184, "2024-01-02 03:04:05", "\"2024-01-02 03:04:05\""), (1184, "2024-01-02 03:04:05+0530", "\"2024-01-02 03:04:05+0530\""),
        // time: `Z`, 24:00:00 is midnight; timetz: moved to UTC
        (1083, "03:04:05", "\"03:04:05Z\""), (1083, "23:59:59.999999", "\"23:59:59.999999Z\""),
        (1083, "24:00:00", "\"00:00:00Z\""), (1083, "24:00:01", "\"24:00:01\""), (1083, "3:04:05", "\"3:04:05\""),
        (1266, "03:04:05+02", "\"01:04:05Z\""), (1266, "03:04:05.5-05:30", "\"08:34:05.5Z\""),
        (1266, "03:04:05+00", "\"03:04:05Z\""), (1266, "00:30:00+01", "\"23:30:00Z\""), (1266, "24:00:00-01", "\"01:00:00Z\""),
        // Debezium cannot parse an offset with seconds and drops the event; written in UTC like the others.
        (1266, "12:00:00+05:45:30", "\"06:14:30Z\""), (1266, "03:04:05", "\"03:04:05\""),
        // interval: all six parts, each with its own sign
        (1186, "P1Y2M3DT4H5M6.5S", "\"P1Y2M3DT4H5M6.5S\""), (1186, "PT0S", "\"P0Y0M0DT0H0M0S\""),
        (1186, "P-1DT1S", "\"P0Y0M-1DT0H0M1S\""), (1186, "PT-4H-5M-6.5S", "\"P0Y0M0DT-4H-5M-6.5S\""),
        (1186, "P-1Y-2M", "\"P-1Y-2M0DT0H0M0S\""), (1186, "P-1DT-0.5S", "\"P0Y0M-1DT0H0M-0.5S\""),
        (1186, "PT1.003691S", "\"P0Y0M0DT0H0M1.003690999S\""),
        // Debezium fails on hours beyond Int32 (PGInterval) and drops the event; written in full.
        // (One microsecond less than the largest: PostgreSQL 17 took that one's bits for infinity.)
        (1186, "P178956970Y7M2147483647DT2562047788H54.775806S", "\"P178956970Y7M2147483647DT2562047788H0M54.775806S\""),
        (1186, "infinity", "\"infinity\""), (1186, "-infinity", "\"-infinity\""),
        (1186, "1 day", "\"1 day\""), (1186, "P1.5Y", "\"P1.5Y\""), (1186, "PT", "\"PT\""), (1186, "P", "\"P\""),
        (1186, "PT1H2S3M", "\"P0Y0M0DT1H3M2S\""), (1186, "P1H", "\"P1H\""),
        (1186, "P999999999999999999Y", "\"P999999999999999999Y\""),
        // text and everything else
        (25, "hello", "\"hello\""), (25, "", "\"\""),
        (25, "quote \" back \\ tab \t nl \n cr \r bell \u{07}", "\"quote \\\" back \\\\ tab \\t nl \\n cr \\r bell \\u0007\""),
        (25, "héllo ✓ 🐘", "\"héllo ✓ 🐘\""), (1043, "varchar", "\"varchar\""), (1042, "ab   ", "\"ab   \""),
        (18, "c", "\"c\""), (19, "pg_class", "\"pg_class\""),
        (2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\""),
        (869, "192.168.0.1/24", "\"192.168.0.1/24\""),
        (142, "<a>x</a>", "\"<a>x</a>\""), (1560, "101", "\"101\""), (3904, "[1,10)", "\"[1,10)\""),
        (600, "(1,2)", "\"(1,2)\""), (603, "(1,1),(0,0)", "\"(1,1),(0,0)\""),
        (99_999, "an enum label", "\"an enum label\""),
        // arrays
        (1007, "{1,2,NULL}", "[1,2,null]"), (1007, "{}", "[]"), (1007, "{{1,2},{3,4}}", "[[1,2],[3,4]]"),
        (1007, "[0:1]={1,2}", "[1,2]"), (1007, "[1:2][1:1]={{1},{2}}", "[[1],[2]]"),
        (1007, "{ 1 , 2 }", "[1,2]"), (1007, "{null,NuLl}", "[null,null]"),
        (1009, "{\"a,b\",\"c\\\"d\",\"NULL\",NULL}", "[\"a,b\",\"c\\\"d\",\"NULL\",null]"),
        (1009, "{\"back\\\\slash\",\"  padded  \",\"\"}", "[\"back\\\\slash\",\"  padded  \",\"\"]"),
        (1009, "{a b,c\\,d,\\NULL}", "[\"a b\",\"c,d\",\"NULL\"]"), (1009, "{é,✓}", "[\"é\",\"✓\"]"),
        (1000, "{t,f,NULL}", "[true,false,null]"), (1021, "{1.5,NaN,-Infinity}", "[1.5,\"NaN\",\"-Infinity\"]"),
        // Debezium writes null for a numeric[] holding NaN or an infinity; each element is written instead.
        (1231, "{1.10,NaN,Infinity}", "[\"1.10\",\"NAN\",\"POSITIVE_INFINITY\"]"),
        (1016, "{-1,9223372036854775807}", "[-1,9223372036854775807]"),
        // Debezium leaves money[] and interval[] columns out of its events.
        (791, "{$12.34,-$5.50,\"$1,000.00\"}", "[\"12.34\",\"-5.50\",\"1000.00\"]"),
        (1187, "{P1Y2M,P-1DT1S,PT0S}", "[\"P1Y2M0DT0H0M0S\",\"P0Y0M-1DT0H0M1S\",\"P0Y0M0DT0H0M0S\"]"),
        (1001, "{\"\\\\x0a0b\",NULL}", "[\"Cgs=\",null]"),
        (199, "{\"{\\\"a\\\": 1}\",\"[1, 2]\"}", "[\"{\\\"a\\\": 1}\",\"[1, 2]\"]"), (3807, "{\"{}\",null}", "[\"{}\",null]"),
        (1115, "{\"2024-01-02 03:04:05\"}", "[\"2024-01-02T03:04:05Z\"]"),
        // Debezium's array path loses what its scalar path keeps (infinities become far-off
        // dates, time[] keeps milliseconds, timetz[] drops the fraction): elements are written as scalars.
        (1185, "{\"2024-01-02 03:04:05+00\",infinity,-infinity}", "[\"2024-01-02T03:04:05.000000Z\",\"infinity\",\"-infinity\"]"),
        (1182, "{2024-01-02,-infinity}", "[\"2024-01-02Z\",\"-5877611-06-22Z\"]"),
        (1183, "{03:04:05,13:45:00.123456}", "[\"03:04:05Z\",\"13:45:00.123456Z\"]"),
        (1270, "{03:04:05.25+02}", "[\"01:04:05.25Z\"]"), (1187, "{P1D,PT1H}", "[\"P0Y0M1DT0H0M0S\",\"P0Y0M0DT1H0M0S\"]"),
        (2951, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "[\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"]"),
        (1041, "{10.0.0.1,::1/128}", "[\"10.0.0.1\",\"::1/128\"]"), (1015, "{x,y}", "[\"x\",\"y\"]"),
        (1014, "{\"a  \"}", "[\"a  \"]"), (1002, "{a,b}", "[\"a\",\"b\"]"), (1003, "{n}", "[\"n\"]"),
        (1005, "{1}", "[1]"), (1028, "{1,2}", "[1,2]"), (1022, "{1e+100}", "[1e+100]"),
        (1020, "{(1,1),(0,0);(2,2),(1,1)}", "\"{(1,1),(0,0);(2,2),(1,1)}\""),
        (1007, "{{1,2},{}}", "[[1,2],[]]"),
        // malformed arrays fall back to the whole text as a string
        (1007, "{1,2", "\"{1,2\""), (1007, "1,2}", "\"1,2}\""), (1007, "{1,,2}", "\"{1,,2}\""),
        (1007, "{1,}", "\"{1,}\""), (1007, "{\"1}", "\"{\\\"1}\""), (1007, "{1}x", "\"{1}x\""),
        (1007, "[0:1]{1}", "\"[0:1]{1}\""), (1007, "", "\"\""), (1007, "{a\"b}", "\"{a\\\"b}\""),
        (1007, "{1}}", "\"{1}}\""), (1009, "{\"a\"b}", "\"{\\\"a\\\"b}\""), (1009, "{a\\", "\"{a\\\\\""),
    ]

    func testEveryRule() throws {
        let types = TypeRegistry()
        for (oid, text, expected) in Self.cases {
            let output = render(text, types.kind(of: oid))
            XCTAssertEqual(output, expected, "oid \(oid), text \(text)")
            try assertValidJSON(output, "oid \(oid), text \(text)")
        }
    }

    func testNonUTF8TextStillValidJSON() throws {
        let bytes: [UInt8] = [0x61, 0xFF, 0xC3, 0x28, 0x62]
        var json = JSONBuffer()
        ValueRenderer.appendJSON(text: bytes[...], kind: .text, options: ValueOptions(), to: &json)
        try assertValidJSON(String(decoding: json.bytes, as: UTF8.self), "invalid UTF-8")
        var array = JSONBuffer()
        ValueRenderer.appendJSON(text: (Array("{\"".utf8) + bytes + Array("\"}".utf8))[...], kind: .array(.text),
                                 options: ValueOptions(), to: &array)
        try assertValidJSON(String(decoding: array.bytes, as: UTF8.self), "invalid UTF-8 in array")
    }

    func testRendersIntoSlicesOfLargerBuffers() {
        let row = Array("xx{1,2}yy".utf8)
        var json = JSONBuffer()
        json.appendRaw("[")
        ValueRenderer.appendJSON(text: row[2..<7], kind: .array(.integer), options: ValueOptions(), to: &json)
        json.appendRaw(",")
        ValueRenderer.appendJSON(text: row[2..<5], kind: .array(.integer), options: ValueOptions(), to: &json)
        json.appendRaw("]")
        XCTAssertEqual(String(decoding: json.bytes, as: UTF8.self), "[[1,2],\"{1,\"]")
    }

    /// Arbitrary bytes from array syntax never crash the renderer or break the document.
    func testArbitraryArrayTextAlwaysGivesValidJSON() throws {
        let alphabet: [UInt8] = Array("{}\",\\ N1a[]:=-x\t".utf8) + [0xC3, 0xA9, 0xFF]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for kind in [ValueKind.array(.integer), .array(.text), .array(.json), .array(.bytea), .array(.array(.float)),
                     .array(.timestampWithZone(fractionDigits: 3)), .array(.interval), .array(.money), .array(.date)] {
            for _ in 0..<2000 {
                var text: [UInt8] = [UInt8(ascii: "{")]
                state = state &* 6364136223846793005 &+ 1442695040888963407
                for _ in 0..<Int(state >> 60) {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    text.append(alphabet[Int(state >> 33) % alphabet.count])
                }
                for options in [ValueOptions(), ValueOptions(jsonAsString: false)] {
                    var json = JSONBuffer()
                    ValueRenderer.appendJSON(text: text[...], kind: kind, options: options, to: &json)
                    // Embedded .json elements are unvalidated text, as documented; check the rest.
                    if kind != .array(.json) || options.jsonAsString {
                        try assertValidJSON(String(decoding: json.bytes, as: UTF8.self), "\(kind) \(text)")
                    }
                }
            }
        }
    }

    func testRegistry() {
        var types = TypeRegistry()
        XCTAssertEqual(types.typeName(of: 23), "int4")
        XCTAssertEqual(types.typeName(of: 1007), "_int4")
        XCTAssertEqual(types.typeName(of: 25), "text")
        XCTAssertEqual(types.typeName(of: 3807), "_jsonb")
        XCTAssertEqual(types.typeName(of: 1020), "_box")
        XCTAssertNil(types.typeName(of: 70_000))
        XCTAssertEqual(types.kind(of: 70_000), .text)
        XCTAssertEqual(types.kind(of: 1185), .array(.timestampWithZone(fractionDigits: 6)))
        XCTAssertEqual(types.kind(of: 1020), .text)
        XCTAssertEqual(types.kind(of: 1700), .numeric)
        XCTAssertEqual(types.kind(of: 790), .money)
        // A timestamptz(p) column, or an array of them, writes p fraction digits; -1 (no modifier) keeps 6.
        XCTAssertEqual(types.kind(of: 1184, typeModifier: 3), .timestampWithZone(fractionDigits: 3))
        XCTAssertEqual(types.kind(of: 1185, typeModifier: 0), .array(.timestampWithZone(fractionDigits: 0)))
        XCTAssertEqual(types.kind(of: 1184, typeModifier: -1), .timestampWithZone(fractionDigits: 6))
        XCTAssertEqual(types.kind(of: 1114, typeModifier: 3), .timestamp)
        XCTAssertEqual(types.kind(of: 1043, typeModifier: 24), .text)

        types.register(oid: 70_000, name: "positive_int", kind: types.kind(of: 23))
        types.register(oid: 70_001, name: "_mood", kind: .array(.text))
        XCTAssertEqual(types.typeName(of: 70_000), "positive_int")
        XCTAssertEqual(types.kind(of: 70_000), .integer)
        XCTAssertEqual(types.kind(of: 70_001), .array(.text))
        XCTAssertEqual(render("{happy,\"so so\"}", types.kind(of: 70_001)), "[\"happy\",\"so so\"]")
        XCTAssertEqual(TypeRegistry().typeName(of: 70_000), nil, "registrations belong to one registry value")
    }

    private func render(_ text: String, _ kind: ValueKind, options: ValueOptions = ValueOptions()) -> String {
        var json = JSONBuffer()
        ValueRenderer.appendJSON(text: Array(text.utf8)[...], kind: kind, options: options, to: &json)
        return String(decoding: json.bytes, as: UTF8.self)
    }

    private func assertValidJSON(_ output: String, _ context: String, file: StaticString = #filePath, line: UInt = #line) throws {
        do {
            _ = try JSONSerialization.jsonObject(with: Data(output.utf8), options: .fragmentsAllowed)
        } catch {
            XCTFail("not valid JSON: \(output) (\(context))", file: file, line: line)
        }
    }
}
