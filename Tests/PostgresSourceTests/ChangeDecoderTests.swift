import Foundation
import SiphonCore
import XCTest
@testable import PostgresSource

/// The decoder as a state machine: messages in, events out, no sockets.
final class ChangeDecoderTests: XCTestCase {
    private var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "decoder-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    private func decoder(resume: Position? = nil) throws -> ChangeDecoder {
        let state = try StateDirectory(path: folder)
        return ChangeDecoder(pipeline: "p", database: "app", filter: TableFilter(patterns: ["public.*"]),
                             history: try SchemaHistory(directory: state, resumingAfter: resume), lastPosition: resume)
    }

    private func relation(_ columns: [(String, UInt32)], name: String = "t") -> Relation {
        Relation(xid: nil, relationID: 16384, namespace: "public", name: name, replicaIdentity: UInt8(ascii: "d"),
                 columns: columns.enumerated().map { index, column in
                     Relation.Column(flags: index == 0 ? 1 : 0, name: column.0, typeOID: column.1, typeModifier: -1)
                 })
    }

    private func tuple(_ values: [String?]) -> TupleData {
        TupleData(columns: values.map { $0.map { TupleValue.text(Array($0.utf8)[...]) } ?? .null })
    }

    private func objects(_ batch: EventBatch) throws -> [[String: Any]] {
        try (0..<batch.count).map { try JSONSerialization.jsonObject(with: Data(batch.line($0))) as! [String: Any] }
    }

    func testPositionsFollowCommitLSNAndIndex() throws {
        var decoder = try decoder()
        var batch = EventBatch()
        decoder.begin(finalLSN: LSN(0x500), xid: 42, commitTime: 0)
        try decoder.relation(relation([("id", 23), ("name", 25)]), into: &batch)
        try decoder.insert(Insert(xid: nil, relationID: 16384, newTuple: tuple(["1", "a"])), into: &batch)
        try decoder.delete(Delete(xid: nil, relationID: 16384, oldKey: tuple(["1", nil]), oldTuple: nil), into: &batch)
        let completed = decoder.commit(commitLSN: LSN(0x500), endLSN: LSN(0x540))
        let events = try objects(batch)
        XCTAssertEqual(events.map { $0["op"] as? String }, [nil, "c", "d"], "a schema change has no op")
        XCTAssertNotNil(events[0]["tableChanges"])
        XCTAssertEqual(events.map { $0["id"] as? String }, (0..<3).map { Position(high: 0x500, low: UInt64($0)).description })
        let before = events[2]["before"] as? [String: Any]
        XCTAssertEqual(before?.keys.sorted(), ["id", "name"], "Debezium's shape: every column")
        XCTAssertTrue(before?["name"] is NSNull, "a key-only old tuple has only its key's values")
        XCTAssertEqual(completed, .init(commitLSN: LSN(0x500), endLSN: LSN(0x540), lastPosition: Position(high: 0x500, low: 2)))
    }

    func testReplayedTransactionEmitsItsSchemaEventAtTheSamePosition() throws {
        var first = try decoder()
        var batch = EventBatch()
        first.begin(finalLSN: LSN(0x700), xid: 1, commitTime: 0)
        try first.relation(relation([("id", 23)]), into: &batch)
        try first.insert(Insert(xid: nil, relationID: 16384, newTuple: tuple(["1"])), into: &batch)
        _ = first.commit(commitLSN: LSN(0x700), endLSN: LSN(0x740))
        // Restart with nothing acknowledged from that transaction's end: it is decoded again.
        var again = try decoder(resume: Position(high: 0x600, low: 0))
        var replay = EventBatch()
        again.begin(finalLSN: LSN(0x700), xid: 1, commitTime: 0)
        try again.relation(relation([("id", 23)]), into: &replay)
        try again.insert(Insert(xid: nil, relationID: 16384, newTuple: tuple(["1"])), into: &replay)
        XCTAssertEqual(try objects(replay).map { $0["id"] as? String }, try objects(batch).map { $0["id"] as? String })
        // A later transaction with the same columns adds no version.
        again.begin(finalLSN: LSN(0x900), xid: 2, commitTime: 0)
        var later = EventBatch()
        try again.relation(relation([("id", 23)]), into: &later)
        XCTAssertEqual(later.count, 0)
    }

    /// A snapshot taken again after an interruption: the versions the first
    /// attempt recorded past what the sink holds are forgotten, so the new
    /// attempt announces them (its rows never carry an unannounced version).
    func testForgottenVersionsAreAnnouncedAgain() throws {
        let column = ColumnSchema(name: "id", typeOID: 23, typeModifier: -1, typeName: "int4", isKey: true)
        let a = TableName(schema: "public", name: "a"), z = TableName(schema: "public", name: "z")
        var first = try decoder()
        var lost = EventBatch()
        _ = try first.noteSchema(a, columns: [column], into: &lost, snapshot: .init(position: Position(high: 0x0FF, low: 0), source: [], sourceMillis: 0))
        _ = try first.noteSchema(z, columns: [column], into: &lost, snapshot: .init(position: Position(high: 0x0FF, low: 9), source: [], sourceMillis: 0))
        // The sink holds a's schema event and a row after it, not z's event.
        let held = Position(high: 0x0FF, low: 5)
        var again = try decoder(resume: held)
        try again.history.forget(after: held)
        XCTAssertEqual(try SchemaHistory(directory: StateDirectory(path: folder), resumingAfter: held).versions(z).count, 0,
                       "forgotten on disk too")
        var retaken = EventBatch()
        XCTAssertEqual(try again.noteSchema(a, columns: [column], into: &retaken, snapshot: .init(position: Position(high: 0x1FF, low: 0), source: Array("{}".utf8), sourceMillis: 0)), 1)
        XCTAssertEqual(retaken.count, 0, "a's version 1 is in the sink already")
        XCTAssertEqual(try again.noteSchema(z, columns: [column], into: &retaken, snapshot: .init(position: Position(high: 0x1FF, low: 1), source: Array("{}".utf8), sourceMillis: 0)), 1)
        XCTAssertEqual(try objects(retaken).map { $0["schema_version"] as? Int }, [1], "z's version 1 is announced")
    }

    func testUnchangedToastAndTableFilter() throws {
        var decoder = try decoder()
        var batch = EventBatch()
        decoder.begin(finalLSN: LSN(0x10), xid: 3, commitTime: 0)
        try decoder.relation(relation([("id", 23), ("body", 25)]), into: &batch)
        try decoder.update(Update(xid: nil, relationID: 16384, oldKey: nil, oldTuple: nil,
                                  newTuple: TupleData(columns: [.text(Array("1".utf8)[...]), .unchangedToast])), into: &batch)
        var other = relation([("id", 23)], name: "t")
        other.namespace = "audit"
        other.relationID = 99
        try decoder.relation(other, into: &batch)
        try decoder.insert(Insert(xid: nil, relationID: 99, newTuple: tuple(["5"])), into: &batch)
        let events = try objects(batch)
        XCTAssertEqual(events.count, 2, "audit.t is not captured")
        XCTAssertEqual((events[1]["after"] as? [String: Any])?["body"] as? String, "__debezium_unavailable_value",
                       "Debezium's placeholder for a value PostgreSQL did not send")
        XCTAssertEqual(events[1]["unchanged"] as? [String], ["body"])
    }

    func testAcknowledgementConfirmsWholeTransactionsOnly() {
        var tracker = AcknowledgementTracker(startLSN: .zero, acknowledged: nil)
        tracker.completed(.init(commitLSN: LSN(0x100), endLSN: LSN(0x140), lastPosition: Position(high: 0x100, low: 4)))
        tracker.completed(.init(commitLSN: LSN(0x200), endLSN: LSN(0x240), lastPosition: Position(high: 0x100, low: 4)))
        tracker.completed(.init(commitLSN: LSN(0x300), endLSN: LSN(0x340), lastPosition: Position(high: 0x300, low: 1)))
        tracker.acknowledge(Position(high: 0x100, low: 3))
        XCTAssertEqual(tracker.confirmedLSN, .zero, "part of a transaction is not enough")
        tracker.acknowledge(Position(high: 0x100, low: 4))
        XCTAssertEqual(tracker.confirmedLSN, LSN(0x240), "an empty transaction follows the one before it")
        tracker.idle(serverWALEnd: LSN(0x900), transactionOpen: false)
        XCTAssertEqual(tracker.confirmedLSN, LSN(0x240), "not idle while events are in flight")
        tracker.acknowledge(Position(high: 0x300, low: 1))
        XCTAssertEqual(tracker.confirmedLSN, LSN(0x340))
        tracker.idle(serverWALEnd: LSN(0x900), transactionOpen: true)
        XCTAssertEqual(tracker.confirmedLSN, LSN(0x340))
        tracker.idle(serverWALEnd: LSN(0x900), transactionOpen: false)
        XCTAssertEqual(tracker.confirmedLSN, LSN(0x900), "an idle slot confirms the server's WAL end")
    }

    func testTableFilterPatterns() {
        let filter = TableFilter(patterns: ["public.*", "sales.order_*", "items"])
        XCTAssertTrue(filter.matches(TableName(schema: "public", name: "anything")))
        XCTAssertTrue(filter.matches(TableName(schema: "sales", name: "order_lines")))
        XCTAssertFalse(filter.matches(TableName(schema: "sales", name: "customers")))
        XCTAssertFalse(filter.matches(TableName(schema: "publicx", name: "t")))
        XCTAssertTrue(TableFilter(patterns: ["items"]).matches(TableName(schema: "public", name: "items")))
    }
}
