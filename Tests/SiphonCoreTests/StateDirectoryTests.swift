import Foundation
@testable import SiphonCore
import SiphonTestSupport
import XCTest

/// The state folder holds positions and spilled row data: private, and
/// never written through a symlink someone planted in it.
final class StateDirectoryTests: XCTestCase {
    func testFolderAndFilesArePrivate() throws {
        let root = try TemporaryDirectory()
        let state = try StateDirectory(path: root.appending("a/state"))
        try CheckpointStore(directory: state, pipeline: "p").save(Position(high: 1, low: 2))
        try state.lockForProcess()
        XCTAssertEqual(try permissions(state.path), 0o700)
        XCTAssertEqual(try permissions(state.url(CheckpointStore.fileName)), 0o600)
        XCTAssertEqual(try permissions(state.url("lock")), 0o600)
    }

    func testNeverWritesThroughAPlantedSymlink() throws {
        let root = try TemporaryDirectory()
        let state = try StateDirectory(path: root.appending("state"))
        let victim = root.appending("victim.txt")
        try "precious\n".write(toFile: victim, atomically: false, encoding: .utf8)
        XCTAssertEqual(symlink(victim, state.url(CheckpointStore.fileName + ".tmp")), 0)
        try CheckpointStore(directory: state, pipeline: "p").save(Position(high: 1, low: 2))
        XCTAssertEqual(try String(contentsOfFile: victim, encoding: .utf8), "precious\n")
        XCTAssertEqual(try CheckpointStore(directory: state, pipeline: "p").load()?.position, Position(high: 1, low: 2))

        XCTAssertEqual(symlink(victim, state.url("lock")), 0)
        XCTAssertThrowsError(try state.lockForProcess(), "took a lock through a symlink")
        XCTAssertEqual(try String(contentsOfFile: victim, encoding: .utf8), "precious\n")
    }

    /// `offsets reset` leaves a marker and no checkpoint; the first
    /// checkpoint after it removes the marker.
    func testResetMarkerLastsUntilTheNextCheckpoint() throws {
        let root = try TemporaryDirectory()
        let store = CheckpointStore(directory: try StateDirectory(path: root.path), pipeline: "p")
        try store.save(Position(high: 3, low: 0))
        try store.reset(sinkPosition: Position(high: 3, low: 0))
        XCTAssertNil(try store.load())
        XCTAssertEqual(try store.loadResetMarker(), ResetMarker(sinkPosition: Position(high: 3, low: 0)))
        try store.save(Position(high: 4, low: 0))
        XCTAssertNil(try store.loadResetMarker())
    }

    private func permissions(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int ?? -1) & 0o777
    }
}
