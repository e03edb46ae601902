import Foundation
import Logging
import SiphonCore
import SiphonTestSupport
import XCTest
@testable import FileSink

final class FileSinkTests: XCTestCase {
    /// Events `{"n":index}` at positions `high`/`index`, each padded with
    /// a `pad` member of `padding` bytes when asked.
    private func batch(_ range: Range<Int>, high: UInt64 = 5, padding: Int = 0) -> EventBatch {
        let pad = padding > 0 ? ",\"pad\":\"\(String(repeating: "x", count: padding))\"" : ""
        var batch = EventBatch()
        let envelope = EventEnvelope(options: EventOptions(), connector: "test", pipeline: "p")
        for index in range {
            batch.appendRowEvent(position: Position(high: high, low: UInt64(index)), op: .create,
                                 table: TableName(schema: "s", name: "t"), envelope: envelope,
                                 source: { $0.appendRaw("{\"name\":\"p\"}") },
                                 transaction: nil, timestampMicros: 0, schemaVersion: 1,
                                 facts: { CloudEventFacts(sourceMillis: 0, snapshot: .none, database: "test") }) { image, json in
                guard image == .after else { return false }
                json.appendRaw("{\"n\":\(index)\(pad)}".utf8)
                return true
            }
        }
        return batch
    }

    func testCreatesFolderAppendsAndReportsLastPosition() async throws {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/deep/er/events.jsonl"
        let sink = FileSink(configuration: .init(path: path), pipeline: "p", logger: Logger(label: "t"))
        let empty = try await sink.open()
        XCTAssertEqual(empty, .tracked(last: nil))
        try await sink.write(batch(0..<3))
        _ = try await sink.flush()
        try await sink.close()
        let reopened = FileSink(configuration: .init(path: path), pipeline: "p", logger: Logger(label: "t"))
        let last = try await reopened.open()
        XCTAssertEqual(last, .tracked(last: Position(high: 5, low: 2)))
        try await reopened.write(batch(3..<4))
        try await reopened.close()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
    }

    func testCutsAPartlyWrittenLastLine() async throws {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/events.jsonl"
        let sink = FileSink(configuration: .init(path: path), pipeline: "p", logger: Logger(label: "t"))
        _ = try await sink.open()
        try await sink.write(batch(0..<2))
        try await sink.close()
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"id\":\"0000000000000005000000000000".utf8))  // crash mid-line
        try handle.close()
        let recovered = FileSink(configuration: .init(path: path), pipeline: "p", logger: Logger(label: "t"))
        let last = try await recovered.open()
        XCTAssertEqual(last, .tracked(last: Position(high: 5, low: 1)))
        try await recovered.close()
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(text.hasSuffix("}\n"))
        XCTAssertEqual(text.split(separator: "\n").count, 2)
    }

    func testRefusesAFileItDidNotWrite() async throws {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/other.txt"
        try "hello\n".write(toFile: path, atomically: true, encoding: .utf8)
        let sink = FileSink(configuration: .init(path: path), pipeline: "p", logger: Logger(label: "t"))
        do {
            _ = try await sink.open()
            XCTFail("expected an error")
        } catch let error as SiphonError {
            XCTAssertTrue(error.message.contains("not a Siphon event"), error.message)
        }
    }

    /// A snapshot writes gigabytes: the sink keeps only the file's tail in
    /// the page cache (`sink.page_cache_mb`), and every event still arrives.
    func testKeepsOnlyTheTailOfTheFileInThePageCache() async throws {
        let folder = try TemporaryDirectory()
        // Where early writeback and dropping pages are known to work as on
        // the machines Siphon runs on (tmpfs pages are the file itself; an
        // overlay may not pass writeback through).
        let type = try fileSystemType(of: folder.path) ?? "unknown"
        guard ["ext4", "xfs", "btrfs"].contains(type) else {
            throw XCTSkip("\(folder.path) is on \(type); this test needs ext4, xfs or btrfs")
        }

        func residentFraction(_ path: String, _ part: Range<Double>) throws -> Double {
            let fd = open(path, O_RDONLY)
            XCTAssertGreaterThanOrEqual(fd, 0)
            defer { close(fd) }
            let length = Int(lseek(fd, 0, SEEK_END))
            let map = try XCTUnwrap(mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0))
            defer { munmap(map, length) }
            let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
            var pages = [UInt8](repeating: 0, count: (length + pageSize - 1) / pageSize)
            XCTAssertEqual(mincore(map, length, &pages), 0)
            let slice = pages[Int(Double(pages.count) * part.lowerBound)..<Int(Double(pages.count) * part.upperBound)]
            return Double(slice.filter { $0 & 1 == 1 }.count) / Double(slice.count)
        }

        func writeEightMegabytes(pageCacheBytes: Int) async throws -> String {
            let path = folder.appending("events-\(pageCacheBytes).jsonl")
            let sink = FileSink(configuration: .init(path: path, pageCacheBytes: pageCacheBytes), pipeline: "p", logger: Logger(label: "t"))
            _ = try await sink.open()
            for start in stride(from: 0, to: 8192, by: 256) {
                try await sink.write(batch(start..<start + 256, high: 7, padding: 1000))
            }
            try await sink.close()
            return path
        }

        let bounded = try await writeEightMegabytes(pageCacheBytes: 1 << 20)
        let unbounded = try await writeEightMegabytes(pageCacheBytes: 0)
        // The kernel keeps what it was left to keep: the comparison shows the window did the dropping.
        XCTAssertGreaterThan(try residentFraction(unbounded, 0..<0.5), 0.9)
        XCTAssertLessThan(try residentFraction(bounded, 0..<0.5), 0.1)
        XCTAssertGreaterThan(try residentFraction(bounded, 0.95..<1), 0.9)

        let lines = try String(contentsOfFile: bounded, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 8192)
        XCTAssertTrue(lines[4321].contains("\"n\":4321,"))
        let reopened = FileSink(configuration: .init(path: bounded, pageCacheBytes: 1 << 20), pipeline: "p", logger: Logger(label: "t"))
        let last = try await reopened.open()
        XCTAssertEqual(last, .tracked(last: Position(high: 7, low: 8191)))
        try await reopened.close()
    }

    /// Which ranges get written back and dropped: writeback starts every
    /// quarter window, drops are whole 2 MB folios, and at most about a
    /// window (plus the alignment) stays cached.
    func testPageCacheWindowPlansWholeFoliosBehindTheTail() {
        let megabyte = 1 << 20
        var window = PageCacheWindow(size: 8 * megabyte, fileLength: 3 * megabyte)
        XCTAssertEqual(window.appended(megabyte), .init())  // 1 MB since the start: less than a quarter window
        XCTAssertEqual(window.appended(megabyte), .init(startWriteback: 3 * megabyte..<5 * megabyte))
        var dropped: [Range<Int>] = []
        var started: [Range<Int>] = []
        for _ in 0..<40 {
            let plan = window.appended(megabyte / 2)
            if let range = plan.startWriteback { started.append(range) }
            if let range = plan.writeBackAndDrop {
                dropped.append(range)
                XCTAssertEqual(range.lowerBound % (2 * megabyte), 0)
                XCTAssertEqual(range.upperBound % (2 * megabyte), 0)
                XCTAssertLessThanOrEqual(range.upperBound, started.last!.upperBound - 4 * megabyte, "the newest half window stays")
                XCTAssertLessThanOrEqual(window.end - range.upperBound, 8 * megabyte + 2 * megabyte, "about a window stays")
            }
        }
        XCTAssertEqual(window.end, 25 * megabyte)
        // Writeback covers the file from where it was opened, in order, without gaps.
        XCTAssertEqual(started.first?.lowerBound, 5 * megabyte)
        XCTAssertEqual(zip(started, started.dropFirst()).filter { $0.upperBound != $1.lowerBound }.count, 0)
        // Drops start at the folio the file was opened in, and follow on.
        XCTAssertEqual(dropped.first?.lowerBound, 2 * megabyte)
        XCTAssertEqual(zip(dropped, dropped.dropFirst()).filter { $0.upperBound != $1.lowerBound }.count, 0)
        XCTAssertGreaterThanOrEqual(dropped.last?.upperBound ?? 0, 14 * megabyte)

        var off = PageCacheWindow(size: 0, fileLength: 0)
        XCTAssertEqual(off.appended(100 * megabyte), .init())
        var turnedOff = PageCacheWindow(size: 8 * megabyte, fileLength: 0)
        turnedOff.turnOff()
        XCTAssertEqual(turnedOff.appended(100 * megabyte), .init())
    }

    /// /dev/null (a benchmark's sink) supports neither early writeback nor
    /// dropping pages nor fdatasync: the window turns itself off, and
    /// flushing has nothing to do, instead of failing the sink.
    func testWritesToDevNullWithThePageCacheWindowOn() async throws {
        let sink = FileSink(configuration: .init(path: "/dev/null", pageCacheBytes: 1 << 20), pipeline: "p", logger: Logger(label: "t"))
        _ = try await sink.open()
        for start in stride(from: 0, to: 40_000, by: 2_000) {
            try await sink.write(batch(start..<start + 2_000))
        }
        _ = try await sink.flush()  // nothing to sync on a character device
        try await sink.close()
    }

    /// The type of the file system `path` is on, from /proc/self/mounts (the longest mount point that contains it).
    private func fileSystemType(of path: String) throws -> String? {
        let mounts = try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)
        var best: (point: String, type: String)?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { continue }
            let point = String(fields[1])
            let contains = path == point || path.hasPrefix(point == "/" ? "/" : point + "/")
            if contains, point.count >= (best?.point.count ?? -1) { best = (point, String(fields[2])) }
        }
        return best?.type
    }
}
