import FileSink
import Foundation
import Logging
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import XCTest

/// The file sink keeps every promise of the sink conformance suite.
final class FileSinkConformanceTests: XCTestCase {
    struct Subject: SinkConformanceSubject {
        var exactlyOnce: Bool { true }
        var tracksPosition: Bool { true }
        func makeDestination() throws -> any ConformanceDestination { try Destination() }
    }

    /// A JSON Lines file, on a small tmpfs when one can be mounted (so the
    /// disk can fill up and be freed), else in a temporary folder.
    final class Destination: ConformanceDestination, @unchecked Sendable {
        let disk: SmallDisk?
        let folder: TemporaryDirectory
        let path: String

        init() throws {
            disk = try? SmallDisk(megabytes: 4)
            folder = try TemporaryDirectory()
            path = (disk?.path ?? folder.path) + "/out/events.jsonl"
        }

        func makeSink(pipeline: String) throws -> any Sink {
            FileSink(configuration: FileSinkConfiguration(path: path), pipeline: pipeline, logger: Logger(label: "conformance"))
        }

        /// Complete lines only: the sink may be writing the next one.
        func storedEvents() throws -> [ConformanceEvent] {
            guard let data = FileManager.default.contents(atPath: path) else { return [] }
            var events: [ConformanceEvent] = []
            for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).dropLast(data.last == UInt8(ascii: "\n") ? 0 : 1) {
                guard let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let id = object["id"] as? String, let position = Position(id) else {
                    throw TestSupportError("not an event: \(String(decoding: line, as: UTF8.self))")
                }
                let key = (object["key"] as? [String: Any])?["id"].map { "\($0)" } ?? "null"
                events.append(ConformanceEvent(position: position, key: key))
            }
            return events
        }

        func induceTransientFailure() throws -> Bool {
            guard let disk else { return false }
            try disk.fill()
            return true
        }

        func clearTransientFailure() throws { disk?.free() }

        /// Another pipeline's event as the file's last line.
        func inducePermanentFailure() throws -> Bool {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            let line = "{\"id\":\"00000000000000010000000000000000\",\"op\":\"c\",\"source\":{\"name\":\"someone-else\"}}\n"
            try line.write(toFile: path, atomically: false, encoding: .utf8)
            return true
        }

        /// A crash in the middle of a write leaves a partial line.
        func simulateCrashDamage() throws {
            let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("{\"id\":\"00000000000000FF00".utf8))
        }
    }

    var suite: SinkConformance { SinkConformance(subject: Subject()) }

    func testDeliversEveryEventInOrderPerKey() async throws { try await suite.deliversEveryEventInOrderPerKey() }
    func testAcknowledgesOnlyWhatIsDurable() async throws { try await suite.acknowledgesOnlyWhatIsDurable() }
    func testResumesAfterACrash() async throws { try await suite.resumesAfterACrash() }
    func testRefusesACheckpointAheadOfTheSink() async throws { try await suite.refusesACheckpointAheadOfTheSink() }
    func testStopsOnPermanentErrors() async throws { try await suite.stopsOnPermanentErrors() }
    func testRecoversFromTransientErrors() async throws {
        do {
            try await suite.recoversFromTransientErrors()
        } catch let skip as ConformanceSkip {
            throw XCTSkip("\(skip); a full disk needs a tmpfs, which needs root")
        }
    }
}
