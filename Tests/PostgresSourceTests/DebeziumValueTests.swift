import Foundation
import XCTest
@testable import PostgresSource
#if canImport(SiphonCore)
import SiphonCore
#endif

/// Event format 2: every value renders as Debezium 3.6.3 wrote it
/// (DebeziumFixtures), from its text form and from its binary form alike.
final class DebeziumValueTests: XCTestCase {
    private static let fixtures = DebeziumFixtures.reference + DebeziumFixtures.edges

    /// The built-in types, and the per-database ones the fixtures use.
    private let types: TypeRegistry = {
        var types = TypeRegistry()
        types.register(oid: 70_000, name: "mood", kind: .text, binary: .text)
        types.register(oid: 70_001, name: "_mood", kind: .array(.text), binary: .array(.text))
        types.register(oid: 70_002, name: "tstz3dom", kind: types.kind(of: 1184, typeModifier: 3),
                       binary: types.binaryFormat(of: 1184, typeModifier: 3))
        return types
    }()

    func testTextFormWritesWhatDebeziumWrites() throws {
        for fixture in Self.fixtures {
            let kind = types.kind(of: fixture.oid, typeModifier: fixture.typeModifier)
            try assertDebezium(render(text: fixture.text, kind: kind), fixture, "text form")
        }
    }

    func testBinaryFormWritesWhatDebeziumWrites() throws {
        var decoded = 0
        for fixture in Self.fixtures {
            // inet, cidr, macaddr, xml, ranges, "char": no binary decoder; such a table streams in text.
            guard let format = types.binaryFormat(of: fixture.oid, typeModifier: fixture.typeModifier) else { continue }
            let output = try XCTUnwrap(render(binary: hexBytes(fixture.hex), format: format), "\(fixture.sql): rejected")
            try assertDebezium(output, fixture, "binary form")
            XCTAssertEqual(output, render(text: fixture.text, kind: types.kind(of: fixture.oid, typeModifier: fixture.typeModifier)),
                           "\(fixture.sql): the two forms differ")
            decoded += 1
        }
        XCTAssertGreaterThan(decoded, 200)
    }

    /// The seconds of an interval go through a double in Debezium; about 1
    /// in 60 values with whole seconds and a fraction come out a nanosecond short.
    func testIntervalSecondsAsDebeziumComputesThem() {
        for (micros, debezium) in DebeziumFixtures.intervalSeconds {
            var text = ShortText()
            ValueRenderer.appendIntervalSeconds(micros, to: &text)
            var json = JSONBuffer()
            text.write(to: &json)
            XCTAssertEqual(String(decoding: json.bytes, as: UTF8.self), debezium, "\(micros) µs")
        }
    }

    /// `jsonAsString: false` keeps event format 1's embedded JSON, in both forms.
    func testJSONEmbeddedOnRequest() throws {
        let embedded = ValueOptions(jsonAsString: false)
        let cases: [(oid: UInt32, text: String, hex: String, json: String)] = [
            (114, " [1, 2] ", "205b312c20325d20", " [1, 2] "),
            (3802, "{\"a\": 1, \"b\": [1, 2.50]}", "017b2261223a20312c202262223a205b312c20322e35305d7d", "{\"a\": 1, \"b\": [1, 2.50]}"),
            (3802, "null", "016e756c6c", "null"),
            (3807, "{\"{\\\"a\\\": 1}\",\"[1, 2]\"}",
             "000000010000000000000eda000000020000000100000009017b2261223a20317d00000007015b312c20325d", "[{\"a\": 1},[1, 2]]"),
        ]
        for (oid, text, hex, expected) in cases {
            XCTAssertEqual(render(text: text, kind: types.kind(of: oid), options: embedded), expected, text)
            let format = try XCTUnwrap(types.binaryFormat(of: oid))
            XCTAssertEqual(render(binary: try hexBytes(hex), format: format, options: embedded), expected, hex)
        }
        XCTAssertEqual(render(text: "null", kind: .json), "\"null\"", "the JSON null is a string by default, not SQL NULL")
    }

    // MARK: Helpers

    private func assertDebezium(_ output: String, _ fixture: DebeziumFixtures.Fixture, _ form: String,
                                file: StaticString = #filePath, line: UInt = #line) throws {
        if !fixture.sameValueOnly {
            XCTAssertEqual(output, fixture.debezium, "\(fixture.sql) (\(form))", file: file, line: line)
            return
        }
        let ours = try JSONSerialization.jsonObject(with: Data(output.utf8), options: .fragmentsAllowed) as? NSObject
        let theirs = try JSONSerialization.jsonObject(with: Data(fixture.debezium.utf8), options: .fragmentsAllowed) as? NSObject
        XCTAssertEqual(ours, theirs, "\(fixture.sql) (\(form)): \(output)", file: file, line: line)
    }

    private func render(text: String, kind: ValueKind, options: ValueOptions = ValueOptions()) -> String {
        var json = JSONBuffer()
        ValueRenderer.appendJSON(text: Array(text.utf8)[...], kind: kind, options: options, to: &json)
        return String(decoding: json.bytes, as: UTF8.self)
    }

    private func render(binary: [UInt8], format: BinaryFormat, options: ValueOptions = ValueOptions()) -> String? {
        var json = JSONBuffer()
        guard ValueRenderer.appendJSON(binary: binary.span, format: format, options: options, to: &json) else { return nil }
        return String(decoding: json.bytes, as: UTF8.self)
    }
}
