import Foundation
import XCTest
@testable import SiphonCore

final class PositionAndJSONTests: XCTestCase {
    func testPositionTextSortsLikePositions() {
        let positions = [Position(high: 0, low: 5), Position(high: 0x16B3748, low: 0), Position(high: 0x16B3748, low: 3),
                         Position(high: 0xFFFF_FFFF_0000_0000, low: 1)]
        XCTAssertEqual(positions, positions.sorted())
        XCTAssertEqual(positions.map(\.description), positions.map(\.description).sorted())
        for position in positions { XCTAssertEqual(Position(position.description), position) }
        XCTAssertEqual(Position(high: 0x16B3748, low: 3).description, "00000000016B37480000000000000003")
        XCTAssertNil(Position("xyz"))
        XCTAssertNil(Position(String(repeating: "G", count: 32)))
    }

    func testStringsAreEscapedAndAlwaysValid() throws {
        let samples = ["plain", "quote \" backslash \\ newline \n tab \t", "\u{01}\u{1F}", "é ü 日本 🎉", ""]
        for sample in samples {
            var json = JSONBuffer()
            json.appendString(sample)
            let parsed = try JSONSerialization.jsonObject(with: Data(json.bytes), options: .fragmentsAllowed) as? String
            XCTAssertEqual(parsed, sample)
        }
        var broken = JSONBuffer()
        broken.appendString(utf8: [0x61, 0xFF, 0xC3, 0x28, 0x62])  // invalid UTF-8 sequences
        let parsed = try JSONSerialization.jsonObject(with: Data(broken.bytes), options: .fragmentsAllowed) as? String
        XCTAssertEqual(parsed, "a\u{FFFD}\u{FFFD}(b")
    }

    /// Long strings are scanned eight bytes at a time: every byte value, at
    /// every place in a word and in a string, is judged as one byte at a
    /// time would judge it.
    func testWordAtATimeScanAgreesWithByteAtATime() throws {
        for value in 0...255 {
            let plain = value >= 0x20 && value < 0x80 && value != 0x22 && value != 0x5C
            for lane in 0..<8 {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                bytes[lane] = UInt8(value)
                let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                XCTAssertEqual(JSONBuffer.isPlainASCII(word), plain, "byte \(value) in lane \(lane)")
            }
        }
        for special in ["\"", "\\", "\n", "\u{01}", "\u{1F}", "\u{7F}", "é", "日", "🎉"] {
            for place in 0..<24 {
                var sample = String(repeating: "a", count: 24)
                sample.insert(contentsOf: special, at: sample.index(sample.startIndex, offsetBy: place))
                var json = JSONBuffer()
                json.appendString(sample)
                let parsed = try JSONSerialization.jsonObject(with: Data(json.bytes), options: .fragmentsAllowed) as? String
                XCTAssertEqual(parsed, sample)
            }
        }
        var broken = JSONBuffer()
        broken.appendString(utf8: Array("0123456789abcdef".utf8) + [0xFF] + Array("0123456789abcdef".utf8))
        XCTAssertEqual(String(decoding: broken.bytes, as: UTF8.self), "\"0123456789abcdef\u{FFFD}0123456789abcdef\"")
    }

    func testNumbersBase64AndNonFiniteDoubles() throws {
        var json = JSONBuffer()
        json.appendRaw("[")
        json.appendInt(Int64.min); json.appendRaw(","); json.appendInt(UInt64.max); json.appendRaw(",")
        json.appendDouble(.nan); json.appendRaw(","); json.appendDouble(-.infinity); json.appendRaw(",")
        json.appendDouble(0.1); json.appendRaw(","); json.appendBase64([0xde, 0xad, 0xbe, 0xef, 0x01])
        json.appendRaw(","); json.appendInt(0); json.appendRaw(","); json.appendInt(-7); json.appendRaw(",")
        json.appendInt(Int32(10)); json.appendRaw(",")
        json.appendCopy(of: 1..<21)
        json.appendRaw("]")
        let text = String(decoding: json.bytes, as: UTF8.self)
        XCTAssertEqual(text, "[-9223372036854775808,18446744073709551615,\"NaN\",\"-Infinity\",0.1,\"3q2+7wE=\",0,-7,10,-9223372036854775808]")
    }

    func testBatchSuffixRebasesEvents() throws {
        var batch = EventBatch()
        for index in 0..<4 {
            batch.appendRowEvent(position: Position(high: 7, low: UInt64(index)), op: .create,
                                 table: TableName(schema: "public", name: "t"),
                                 envelope: EventEnvelope(options: EventOptions(), connector: "test", pipeline: "p"),
                                 source: { $0.appendRaw("{}") },
                                 transaction: EventTransaction(id: "9:7", totalOrder: index + 1, dataCollectionOrder: index + 1),
                                 timestampMicros: 1000, schemaVersion: 1,
                                 facts: { CloudEventFacts(sourceMillis: 1, snapshot: .none, database: "test") }) { image, json in
                guard image != .before else { return false }
                json.appendRaw("{\"id\":\(index)}".utf8)
                return true
            }
        }
        let rest = batch.suffix(after: Position(high: 7, low: 1))
        XCTAssertEqual(rest.count, 2)
        let lines = String(decoding: rest.data, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let first = try JSONSerialization.jsonObject(with: Data(rest.line(0))) as? [String: Any]
        XCTAssertEqual(first?["id"] as? String, Position(high: 7, low: 2).description)
        XCTAssertEqual(String(decoding: rest.data[rest.events[1].key!], as: UTF8.self), "{\"id\":3}")
        XCTAssertTrue(batch.suffix(after: Position(high: 8, low: 0)).isEmpty)
    }
}
