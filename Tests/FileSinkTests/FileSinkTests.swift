import Foundation
import Logging
import SiphonCore
import SiphonTestSupport
import XCTest
@testable import FileSink

final class FileSinkTests: XCTestCase {
    private func batch(_ range: Range<Int>) -> EventBatch {
        var batch = EventBatch()
        for index in range {
            batch.appendRowEvent(position: Position(high: 5, low: UInt64(index)), op: .create,
                                 table: TableName(schema: "s", name: "t"), source: { $0.appendRaw("{}") },
                                 schemaVersion: 1, transaction: nil, timestampMillis: 0) { image, json in
                guard image == .after else { return false }
                json.appendRaw("{\"n\":\(index)}".utf8)
                return true
            }
        }
        return batch
    }

    func testCreatesFolderAppendsAndReportsLastPosition() async throws {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/deep/er/events.jsonl"
        let sink = FileSink(configuration: .init(path: path), logger: Logger(label: "t"))
        let empty = try await sink.open()
        XCTAssertNil(empty)
        try await sink.write(batch(0..<3))
        try await sink.flush()
        try await sink.close()
        let reopened = FileSink(configuration: .init(path: path), logger: Logger(label: "t"))
        let last = try await reopened.open()
        XCTAssertEqual(last, Position(high: 5, low: 2))
        try await reopened.write(batch(3..<4))
        try await reopened.close()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
    }

    func testCutsAPartlyWrittenLastLine() async throws {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/events.jsonl"
        let sink = FileSink(configuration: .init(path: path), logger: Logger(label: "t"))
        _ = try await sink.open()
        try await sink.write(batch(0..<2))
        try await sink.close()
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"id\":\"0000000000000005000000000000".utf8))  // crash mid-line
        try handle.close()
        let recovered = FileSink(configuration: .init(path: path), logger: Logger(label: "t"))
        let last = try await recovered.open()
        XCTAssertEqual(last, Position(high: 5, low: 1))
        try await recovered.close()
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(text.hasSuffix("}\n"))
        XCTAssertEqual(text.split(separator: "\n").count, 2)
    }

    func testRefusesAFileItDidNotWrite() async throws {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/other.txt"
        try "hello\n".write(toFile: path, atomically: true, encoding: .utf8)
        let sink = FileSink(configuration: .init(path: path), logger: Logger(label: "t"))
        do {
            _ = try await sink.open()
            XCTFail("expected an error")
        } catch let error as SiphonError {
            XCTAssertTrue(error.message.contains("not a Siphon event"), error.message)
        }
    }
}
