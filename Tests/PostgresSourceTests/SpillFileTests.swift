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

    private func replayed(_ file: SpillFile?) async throws -> [[UInt8]] {
        var messages: [[UInt8]] = []
        try await XCTUnwrap(file).replay { _, message in messages.append(Array(message)) }
        return messages
    }

    /// Many transactions streamed in interleaved blocks: few descriptors,
    /// and each file reads back its own messages in order.
    func testInterleavedTransactionsKeepFewDescriptorsAndTheirOrder() async throws {
        var spills = SpillFiles(directory: folder + "/spill")
        try spills.reset()
        let transactions = UInt32(3 * SpillFiles.maxOpen)
        for round in 0..<3 {
            for xid in 1...transactions {
                try spills.startBlock(xid: xid)
                for index in 0..<5 { try spills.append(Array("\(xid):\(round):\(index)".utf8)[...], lsn: LSN(1)) }
                try spills.endBlock()
                XCTAssertLessThanOrEqual(spills.openCount, SpillFiles.maxOpen)
            }
        }
        // A message larger than the shared buffer, between two small ones.
        let large = [UInt8](repeating: 7, count: SpillFiles.bufferSize + 10)
        try spills.startBlock(xid: 1)
        try spills.append(Array("before".utf8)[...], lsn: LSN(1))
        try spills.append(large[...], lsn: LSN(1))
        try spills.append(Array("after".utf8)[...], lsn: LSN(1))
        try spills.endBlock()
        try spills.abort(xid: 2, subtransaction: 99)
        try spills.abort(xid: 3, subtransaction: 3)

        let expected = { (xid: UInt32) in (0..<3).flatMap { round in (0..<5).map { Array("\(xid):\(round):\($0)".utf8) } } }
        let first = try spills.take(xid: 1)
        let firstMessages = try await replayed(first)
        XCTAssertEqual(firstMessages, expected(1) + [Array("before".utf8), large, Array("after".utf8)])
        first?.discard()
        let second = try spills.take(xid: 2)
        XCTAssertEqual(second?.abortedSubtransactions, [99])
        let secondMessages = try await replayed(second)
        XCTAssertEqual(secondMessages, expected(2))
        XCTAssertNil(try spills.take(xid: 3), "an aborted transaction's file is gone")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/spill/stream-3.spill"))
        for xid in 4...transactions {
            let messages = try await replayed(try spills.take(xid: xid))
            XCTAssertEqual(messages, expected(xid), "transaction \(xid)")
        }
        XCTAssertTrue(spills.isEmpty)
    }
}
