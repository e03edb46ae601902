import SiphonCore
import XCTest
@testable import KafkaSink

/// The ledger that turns delivery reports, in any order across partitions,
/// into the last position every earlier record of which is in Kafka.
final class DeliveryLedgerTests: XCTestCase {
    private func position(_ low: UInt64) -> Position { Position(high: 1, low: low) }

    /// Three events: the first one record, the second two (a delete and
    /// its tombstone), the third one. Reports arrive out of order.
    func testDurableOnlyOverContiguousDeliveries() throws {
        let second = try DeliveryLedger()
        _ = second.nextRecord(); second.eventSent(position(1))
        _ = second.nextRecord(); _ = second.nextRecord(); second.eventSent(position(2))
        _ = second.nextRecord(); second.eventSent(position(3))

        second.delivered(3)
        XCTAssertNil(second.snapshot.durable, "the last record alone makes nothing durable")
        second.delivered(0)
        XCTAssertEqual(second.snapshot.durable, position(1))
        second.delivered(2)
        XCTAssertEqual(second.snapshot.durable, position(1), "the delete (record 1) is not in yet")
        second.delivered(1)
        XCTAssertEqual(second.snapshot.durable, position(3))
        XCTAssertEqual(second.snapshot.frontier, 4)
    }

    /// A failed record stops the frontier for good; the first failure is kept.
    func testAFailureIsNeverPassed() throws {
        let ledger = try DeliveryLedger()
        for low in 1...3 {
            _ = ledger.nextRecord()
            ledger.eventSent(position(UInt64(low)))
        }
        ledger.delivered(0)
        ledger.failed(SiphonError(.sink, "first", transient: true))
        ledger.failed(SiphonError(.sink, "second"))
        ledger.delivered(2)
        XCTAssertEqual(ledger.snapshot.durable, position(1))
        XCTAssertEqual(ledger.snapshot.failure?.message, "first")
    }

    /// An event the sink skipped (Kafka held it) is durable once every
    /// record sent before it is.
    func testASkippedEventWaitsForTheRecordsBeforeIt() throws {
        let ledger = try DeliveryLedger()
        _ = ledger.nextRecord()
        ledger.eventSent(position(1))
        ledger.eventSent(position(2))  // skipped: no record of its own
        XCTAssertNil(ledger.snapshot.durable)
        ledger.delivered(0)
        XCTAssertEqual(ledger.snapshot.durable, position(2))
    }

    /// A record librdkafka refused to queue gives its number back.
    func testUnsendReusesTheNumber() throws {
        let ledger = try DeliveryLedger()
        let record = ledger.nextRecord()
        ledger.unsend(record)
        XCTAssertEqual(ledger.nextRecord(), record)
    }

    func testSchemaVersionIsTheTopLevelOne() {
        let line = Array(#"{"after":{"schema_version":9},"key":{"id":1},"schema_version":12}"#.utf8)
        let range = KafkaSession.schemaVersion(in: line[...])
        XCTAssertEqual(range.map { String(decoding: line[$0], as: UTF8.self) }, "12")
        XCTAssertNil(KafkaSession.schemaVersion(in: Array(#"{"op":"m"}"#.utf8)[...]))
    }
}
