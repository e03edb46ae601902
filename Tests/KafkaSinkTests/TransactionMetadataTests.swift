import SiphonCore
import SiphonTesting
import XCTest
@testable import KafkaSink

/// Debezium's BEGIN and END records, made from the events' `transaction`.
final class TransactionMetadataTests: XCTestCase {
    private func batch(_ events: [(low: UInt64, table: String, order: Int, ends: Bool)], id: String = "771:24023128") -> EventBatch {
        var batch = EventBatch()
        var perTable: [String: Int] = [:]
        for event in events {
            perTable[event.table, default: 0] += 1
            TestEvents.append(to: &batch, position: Position(high: 7, low: event.low), key: Int(event.low),
                              endsTransaction: event.ends, table: TableName(schema: "public", name: event.table),
                              transaction: EventTransaction(id: id, totalOrder: event.order,
                                                            dataCollectionOrder: perTable[event.table]!))
        }
        return batch
    }

    private func json(_ bytes: [UInt8]?) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try XCTUnwrap(bytes))) as? [String: Any])
    }

    func testBeginBeforeTheFirstEventAndEndWithCountsPerTableAfterTheLast() throws {
        let batch = batch([(1, "orders", 1, false), (2, "items", 2, false), (3, "orders", 3, true)])
        var metadata = TransactionMetadata()
        let records = batch.events.map { metadata.observe($0, in: batch.buffer.bytes) }
        XCTAssertEqual(records.map { $0.begin != nil }, [true, false, false])
        XCTAssertEqual(records.map { $0.end != nil }, [false, false, true])
        XCTAssertEqual(String(decoding: try XCTUnwrap(records[0].begin?.key), as: UTF8.self), #"{"id":"771:24023128"}"#)
        let begin = try json(records[0].begin?.value)
        XCTAssertEqual(begin["status"] as? String, "BEGIN")
        XCTAssertEqual(begin["id"] as? String, "771:24023128")
        XCTAssertEqual(begin["ts_ms"] as? Int, 1700000000123, "the commit time: the events' source.ts_ms")
        XCTAssertTrue(begin["event_count"] is NSNull)
        let end = try json(records[2].end?.value)
        XCTAssertEqual(end["status"] as? String, "END")
        XCTAssertEqual(end["event_count"] as? Int, 3)
        let collections = try XCTUnwrap(end["data_collections"] as? [[String: Any]])
        XCTAssertEqual(collections.map { $0["data_collection"] as? String }, ["public.orders", "public.items"])
        XCTAssertEqual(collections.map { $0["event_count"] as? Int }, [2, 1])
    }

    /// A restart inside a transaction whose first event this sink never saw
    /// (only possible with a checkpoint taken before metadata was turned
    /// on): its counts would be wrong, so it gets no END.
    func testATransactionJoinedInTheMiddleGetsNeitherBeginNorEnd() {
        let batch = batch([(2, "orders", 2, false), (3, "orders", 3, true)])
        var metadata = TransactionMetadata()
        let records = batch.events.map { metadata.observe($0, in: batch.buffer.bytes) }
        XCTAssertTrue(records.allSatisfy { $0.begin == nil && $0.end == nil })
    }

    func testEventsWithoutATransactionGetNothing() {
        var batch = EventBatch()
        TestEvents.append(to: &batch, position: Position(high: 1, low: 0), key: 1, endsTransaction: true)
        var metadata = TransactionMetadata()
        let records = metadata.observe(batch.events[0], in: batch.buffer.bytes)
        XCTAssertNil(records.begin)
        XCTAssertNil(records.end)
    }

    /// A transaction of one event: its BEGIN and END share a position, END
    /// second, so a partition ending with the BEGIN still needs the END.
    func testTheEndOfAOneEventTransactionIsSentWhenOnlyItsBeginArrived() {
        var held = KafkaSinkPosition()
        held.partitionCounts = ["p.transaction": 1]
        held.lastRecords = ["p.transaction": [0: .init(position: Position(high: 7, low: 1), second: false)]]
        let position = Position(high: 7, low: 1)
        XCTAssertEqual(held.decide(topic: "p.transaction", partition: 0, position: position, secondFollows: false), .skip, "BEGIN")
        XCTAssertEqual(held.decide(topic: "p.transaction", partition: 0, position: position, secondFollows: true), .secondOnly, "END")
        held.lastRecords["p.transaction"]![0]!.second = true
        XCTAssertEqual(held.decide(topic: "p.transaction", partition: 0, position: position, secondFollows: true), .skip, "END held")
    }

    /// With metadata on, the checkpoint stops only after a transaction's
    /// last event, so a restart replays whole transactions through END's counts.
    func testDurableOnlyAtTransactionEnds() throws {
        let ledger = try DeliveryLedger()
        for low in 1...3 as ClosedRange<UInt64> {
            _ = ledger.nextRecord()
            ledger.eventSent(Position(high: 7, low: low), boundary: low == 2)
        }
        for record in 0..<3 as Range<UInt64> { ledger.delivered(record) }
        XCTAssertEqual(ledger.snapshot.durable, Position(high: 7, low: 2))
    }
}
