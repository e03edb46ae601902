import XCTest
@testable import PostgresSource

final class CopyBinaryTests: XCTestCase {
    /// The first message as the server sends it: header, then the first row
    /// (int4 7, NULL, text "hé").
    private let first: [UInt8] = CopyBinaryParser.signature + [0, 0, 0, 0, 0, 0, 0, 0]
        + [0, 3] + [0, 0, 0, 4, 0, 0, 0, 7] + [0xFF, 0xFF, 0xFF, 0xFF] + [0, 0, 0, 3, 0x68, 0xC3, 0xA9]

    private func fields(_ row: ArraySlice<UInt8>) throws -> (more: Bool, values: [[UInt8]?]) {
        let message = row.span
        guard var fields = try CopyBinaryParser.Fields(message) else { return (false, []) }
        var values: [[UInt8]?] = []
        while let field = try fields.next(in: message) {
            values.append(field.map { range in message.extracting(range).withUnsafeBufferPointer { Array($0) } })
        }
        return (true, values)
    }

    func testHeaderThenRowWithNull() throws {
        let row = try CopyBinaryParser.skipHeader(first[...])
        XCTAssertFalse(CopyBinaryParser.isEnd(row))
        let parsed = try fields(row)
        XCTAssertTrue(parsed.more)
        XCTAssertEqual(parsed.values, [[0, 0, 0, 7], nil, Array("hé".utf8)])
    }

    func testHeaderExtensionIsSkippedAndEndMarkerRecognised() throws {
        // Header with a 3-byte extension, then straight away the end marker (an empty table).
        let message = CopyBinaryParser.signature + [0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3] + [0xFF, 0xFF]
        let rest = try CopyBinaryParser.skipHeader(message[...])
        XCTAssertTrue(CopyBinaryParser.isEnd(rest))
        XCTAssertFalse(try fields(rest).more)
    }

    func testMalformedDataThrowsInsteadOfTrapping() {
        XCTAssertThrowsError(try CopyBinaryParser.skipHeader(Array("PGCOPY\nxx".utf8)[...]), "not the signature")
        XCTAssertThrowsError(try CopyBinaryParser.skipHeader((CopyBinaryParser.signature + [0, 1, 0, 0, 0, 0, 0, 0])[...]),
                             "a critical flag (OIDs) it does not handle")
        XCTAssertThrowsError(try fields([0, 1, 0, 0, 0, 9, 1, 2][...]), "a length past the end")
        XCTAssertThrowsError(try fields([0, 1, 0, 0, 0, 1, 1, 2][...]), "bytes after the last field")
        XCTAssertThrowsError(try fields([0][...]), "a truncated field count")
        XCTAssertThrowsError(try fields([0, 1, 0xFF, 0xFF, 0xFF, 0xFE][...]), "a negative length other than NULL's")
    }
}
