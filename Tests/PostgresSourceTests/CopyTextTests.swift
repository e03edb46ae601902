import XCTest
@testable import PostgresSource
#if canImport(SiphonCore)
import SiphonCore
#endif

final class CopyTextTests: XCTestCase {
    private func parse(_ line: [UInt8]) -> [[UInt8]?] {
        var fields: [ArraySlice<UInt8>?] = []
        CopyTextParser.parseRow(line[...], into: &fields)
        return fields.map { $0.map(Array.init) }
    }

    private func parse(_ line: String) -> [String?] {
        parse(Array(line.utf8)).map { $0.map { String(decoding: $0, as: UTF8.self) } }
    }

    func testPlainFields() {
        XCTAssertEqual(parse("1\thello\t2024-01-02"), ["1", "hello", "2024-01-02"])
        XCTAssertEqual(parse("single"), ["single"])
    }

    func testNullAndEmpty() {
        XCTAssertEqual(parse("\\N\t\t\\N"), [nil, "", nil])
        XCTAssertEqual(parse(""), [""], "an empty line is one empty field")
        XCTAssertEqual(parse("\t"), ["", ""])
        XCTAssertEqual(parse("\\\\N"), ["\\N"], "an escaped backslash before N is text, not NULL")
        XCTAssertEqual(parse("\\Nx"), ["Nx"], "only a field that is exactly \\N is NULL")
        XCTAssertEqual(parse("N\tNULL"), ["N", "NULL"])
    }

    func testEveryEscape() {
        XCTAssertEqual(parse("a\\bb\\fc\\nd\\re\\tf\\vg\\\\h"), ["a\u{08}b\u{0C}c\nd\re\tf\u{0B}g\\h"])
        XCTAssertEqual(parse("\\101\\60\\7x"), ["A0\u{07}x"], "one to three octal digits")
        XCTAssertEqual(parse("\\1011"), ["A1"], "at most three octal digits")
        XCTAssertEqual(parse("\\x41\\x4a\\x7z\\xg"), ["AJ\u{07}zxg"], "one or two hex digits; \\x alone is x")
        XCTAssertEqual(parse("\\q\\.\\\""), ["q.\""], "any other escaped byte is itself")
        XCTAssertEqual(parse(Array("\\377\\000".utf8)), [[0xFF, 0x00]])
        XCTAssertEqual(parse(Array("\\777".utf8)), [[0xFF]], "the low 8 bits, as the server keeps")
    }

    func testTabsInsideValues() {
        XCTAssertEqual(parse("a\\tb\tc"), ["a\tb", "c"])
        XCTAssertEqual(parse("a\\\tb\tc"), ["a\tb", "c"], "a backslash-escaped raw tab is data")
        XCTAssertEqual(parse("\\t\t\\t"), ["\t", "\t"])
    }

    func testNonASCII() {
        XCTAssertEqual(parse("héllo\t✓ 🐘\tdata\\n日本"), ["héllo", "✓ 🐘", "data\n日本"])
        XCTAssertEqual(parse("\\303\\251"), ["é"], "octal escapes can build UTF-8")
    }

    func testTrailingBackslashIsDropped() {
        XCTAssertEqual(parse("ab\\"), ["ab"])
        XCTAssertEqual(parse("\\"), [""])
    }

    func testUnescapedFieldsAreSlicesOfTheLine() {
        let line = Array("xx\tone\ttw\\no\t\\N".utf8)
        var fields: [ArraySlice<UInt8>?] = []
        CopyTextParser.parseRow(line[3...], into: &fields)
        XCTAssertEqual(fields.count, 3)
        XCTAssertEqual(fields[0]?.startIndex, 3, "an unescaped field keeps the line's indices")
        XCTAssertEqual(fields[0]?.endIndex, 6)
        XCTAssertEqual(fields[1].map(Array.init), Array("tw\no".utf8))
        XCTAssertNil(fields[2] ?? nil)
        line.withUnsafeBufferPointer { lineBytes in
            fields[0]!.withUnsafeBufferPointer { field in
                XCTAssertEqual(field.baseAddress, lineBytes.baseAddress! + 3, "no copy")
            }
        }
    }

    func testFieldsArrayIsReused() {
        var fields: [ArraySlice<UInt8>?] = []
        CopyTextParser.parseRow(Array("a\tb\tc\td".utf8)[...], into: &fields)
        XCTAssertEqual(fields.count, 4)
        CopyTextParser.parseRow(Array("x".utf8)[...], into: &fields)
        XCTAssertEqual(fields.map { $0.map { Array($0) } }, [Array("x".utf8)])
    }

    func testCopyFieldsRenderAsJSON() {
        var fields: [ArraySlice<UInt8>?] = []
        CopyTextParser.parseRow(Array("7\t{\"a\\\\\\\\b\",NULL}\t\\\\x0a0b\t\\N".utf8)[...], into: &fields)
        let kinds: [ValueKind] = [.integer, .array(.text), .bytea, .text]
        var json = JSONBuffer()
        json.appendRaw("[")
        for (index, field) in fields.enumerated() {
            if index > 0 { json.appendRaw(",") }
            if let field {
                ValueRenderer.appendJSON(text: field, kind: kinds[index], options: ValueOptions(), to: &json)
            } else {
                json.appendNull()
            }
        }
        json.appendRaw("]")
        XCTAssertEqual(String(decoding: json.bytes, as: UTF8.self), "[7,[\"a\\\\b\",null],\"Cgs=\",null]")
    }
}
