import FileSink
import Foundation
import Logging
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import XCTest

/// What the file sink does on a bad day: a crash left the tail in the page
/// cache, another pipeline's file, a file deleted under it, a planted symlink.
final class FileSinkHardeningTests: XCTestCase {
    private func sink(_ path: String, pipeline: String = "p", mode: mode_t = 0o600) -> FileSink {
        FileSink(configuration: FileSinkConfiguration(path: path, mode: mode), pipeline: pipeline, logger: Logger(label: "t"))
    }

    private func events(_ range: Range<Int>, pipeline: String = "p") -> EventBatch {
        var batch = EventBatch()
        for index in range {
            TestEvents.append(to: &batch, position: Position(high: 9, low: UInt64(index)), key: index, pipeline: pipeline,
                              endsTransaction: true)
        }
        return batch
    }

    /// After a kill -9 the file's tail may be only in the page cache; the
    /// position `open` reports is acknowledged to the source, so it must be
    /// on disk first (a power loss would otherwise lose those events for good).
    func testOpenMakesTheFileDurableBeforeReportingItsPosition() async throws {
        let folder = try TemporaryDirectory()
        let path = folder.appending("events.jsonl")
        // What a killed siphon leaves: lines written, never synced.
        let batch = events(0..<2_000)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(batch.data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, batch.byteCount)
        close(fd)
        let before: (pages: Int, dirty: Int)
        do {
            before = try PageCacheProbe.dirtyPages(of: path)
        } catch {
            throw XCTSkip("cannot see the page cache here: \(error)")
        }
        guard before.dirty > 0 else { throw XCTSkip("the kernel wrote the file back already (or \(folder.path) is not on a disk)") }
        let sink = sink(path)
        let held = try await sink.open()
        XCTAssertEqual(held, .tracked(last: Position(high: 9, low: 1_999)))
        let after = try PageCacheProbe.dirtyPages(of: path)
        XCTAssertEqual(after.dirty, 0, "\(after.dirty) of \(after.pages) pages still dirty after open reported its position")
        try await sink.close()
    }

    /// Two pipelines on one file would each skip the other's events: the
    /// file's last event must be this pipeline's, and the file is locked.
    func testRefusesAnotherPipelinesFileAndASecondWriter() async throws {
        let folder = try TemporaryDirectory()
        let path = folder.appending("events.jsonl")
        let first = sink(path, pipeline: "orders")
        _ = try await first.open()
        try await first.write(events(0..<3, pipeline: "orders"))
        _ = try await first.flush()
        do {
            _ = try await sink(path, pipeline: "orders").open()
            XCTFail("a second writer opened a locked file")
        } catch let error as SiphonError {
            XCTAssertTrue(error.message.contains("locked by another process"), error.message)
            XCTAssertFalse(error.isTransient)
        }
        try await first.close()
        do {
            _ = try await sink(path, pipeline: "billing").open()
            XCTFail("opened a file whose last event is another pipeline's")
        } catch let error as SiphonError {
            XCTAssertTrue(error.message.contains("'orders'") && error.message.contains("'billing'"), error.message)
            XCTAssertFalse(error.isTransient)
        }
        let offline = try await FileSink.storedPosition(FileSinkConfiguration(path: path),
                                                        context: ConnectorContext(pipeline: "orders", state: StateDirectory(readingAt: folder.path), logger: Logger(label: "t")))
        XCTAssertEqual(offline, .tracked(last: Position(high: 9, low: 2)))
    }

    /// A file deleted or replaced while Siphon writes it fails the next
    /// flush, so nothing written into the lost file is checkpointed.
    func testFailsTheFlushWhenTheFileIsDeletedOrReplaced() async throws {
        let folder = try TemporaryDirectory()
        for replace in [false, true] {
            let path = folder.appending("events-\(replace).jsonl")
            let sink = sink(path)
            _ = try await sink.open()
            try await sink.write(events(0..<3))
            let flushed = try await sink.flush()
            XCTAssertEqual(flushed, Position(high: 9, low: 2))
            if replace {
                try "other\n".write(toFile: path + ".new", atomically: false, encoding: .utf8)
                XCTAssertEqual(rename(path + ".new", path), 0)
            } else {
                XCTAssertEqual(unlink(path), 0)
            }
            try await sink.write(events(3..<6))
            do {
                _ = try await sink.flush()
                XCTFail("flushed into a file that is gone")
            } catch let error as SiphonError {
                XCTAssertTrue(error.message.contains("deleted or replaced"), error.message)
                XCTAssertFalse(error.isTransient)
            }
            try await sink.close()
        }
    }

    /// The events hold row data: a new file is 0600 and new folders 0700
    /// unless `sink.mode` says otherwise, and a symlink planted where the
    /// file is to be created is never followed.
    func testCreatesPrivateFilesAndNeverFollowsAPlantedSymlink() async throws {
        let folder = try TemporaryDirectory()
        let path = folder.appending("new/deeper/events.jsonl")
        let created = sink(path)
        _ = try await created.open()
        try await created.close()
        XCTAssertEqual(try permissions(path), 0o600)
        XCTAssertEqual(try permissions(folder.appending("new")), 0o700)
        XCTAssertEqual(try permissions(folder.appending("new/deeper")), 0o700)

        let shared = folder.appending("shared.jsonl")
        let loosened = sink(shared, mode: 0o640)
        _ = try await loosened.open()
        try await loosened.close()
        XCTAssertEqual(try permissions(shared), 0o640)

        let target = folder.appending("elsewhere.txt")
        let planted = folder.appending("planted.jsonl")
        XCTAssertEqual(symlink(target, planted), 0)
        do {
            _ = try await sink(planted).open()
            XCTFail("created the file through a planted symlink")
        } catch let error as SiphonError {
            XCTAssertTrue(error.message.contains(planted), error.message)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: target), "the symlink's target was created")
    }

    private func permissions(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? Int ?? -1) & 0o777
    }
}
