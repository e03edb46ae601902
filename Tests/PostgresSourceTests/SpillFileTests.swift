import Foundation
import SiphonCore
import XCTest
@testable import PostgresSource

/// Spill files hold rows of transactions still in progress: private to the
/// user, never written through a link someone else put at their name.
final class SpillFileTests: XCTestCase {
    private var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "spill-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    private func mode(_ path: String) throws -> String {
        let permissions = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        return String(try XCTUnwrap(permissions), radix: 8)
    }

    func testSpillFileIsPrivate() throws {
        let spill = try SpillFile(directory: folder, xid: 7)
        defer { spill.discard() }
        XCTAssertEqual(try mode(spill.path), "600")
    }

    func testLinkAtTheSpillFilesNameIsNotFollowed() throws {
        let target = folder + "/victim"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: folder + "/stream-42.spill", withDestinationPath: target)
        XCTAssertThrowsError(try SpillFile(directory: folder, xid: 42)) { error in
            XCTAssertTrue("\(error)".contains("stream-42.spill"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "keep me")
    }

    func testSpillFolderIsPrivateAndEmptied() throws {
        let spill = folder + "/spill"
        try FileManager.default.createDirectory(atPath: spill, withIntermediateDirectories: false)
        try Data("old".utf8).write(to: URL(fileURLWithPath: spill + "/stream-1.spill"))
        try SpillFile.prepareDirectory(spill)
        XCTAssertEqual(try mode(spill), "700")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: spill), [])
    }

    func testLinkAtTheSpillFoldersNameIsReplacedNotFollowed() throws {
        let elsewhere = folder + "/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: false)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: elsewhere + "/file"))
        try FileManager.default.createSymbolicLink(atPath: folder + "/spill", withDestinationPath: elsewhere)
        try SpillFile.prepareDirectory(folder + "/spill")
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: folder + "/spill"))
        XCTAssertEqual(try mode(folder + "/spill"), "700")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: elsewhere), ["file"])
    }
}
