import SiphonCore
import XCTest
@testable import KafkaSink

/// The resume skip: an event at or below its partition's last record is in
/// Kafka already, unless a failed delivery left a gap before that record.
final class KafkaSinkPositionTests: XCTestCase {
    private func held(last: UInt64, tombstone: Bool = false) -> KafkaSinkPosition {
        var held = KafkaSinkPosition()
        held.partitionCounts = ["p.s.t": 1]
        held.lastRecords = ["p.s.t": [0: .init(position: Position(high: 1, low: last), second: tombstone)]]
        return held
    }

    private func decide(_ held: KafkaSinkPosition, _ low: UInt64, tombstone: Bool = false) -> KafkaSinkPosition.Decision {
        held.decide(topic: "p.s.t", partition: 0, position: Position(high: 1, low: low), secondFollows: tombstone)
    }

    func testSkipsWhatThePartitionHolds() {
        let held = held(last: 5)
        XCTAssertEqual(decide(held, 4), .skip)
        XCTAssertEqual(decide(held, 5), .skip)
        XCTAssertEqual(decide(held, 6), .send)
        XCTAssertEqual(decide(held, 5, tombstone: true), .secondOnly, "the delete arrived, its tombstone did not")
        XCTAssertEqual(held.decide(topic: "p.s.t", partition: 1, position: Position(high: 1, low: 1), secondFollows: false),
                       .send, "an empty partition holds nothing")
    }

    /// Event 3 timed out while the brokers were down; event 5, sent later to
    /// the same partition, arrived once they were back. The partition's last
    /// record no longer says that everything below it is there.
    func testAfterAFailedDeliveryNothingPastTheDurableEventIsSkipped() {
        var guarded = held(last: 5)
        guarded.skipsNothingAfter(Position(high: 1, low: 2))
        XCTAssertEqual(decide(guarded, 2), .skip, "durable before the failure")
        XCTAssertEqual(decide(guarded, 3), .send, "the failed event is sent again")
        XCTAssertEqual(decide(guarded, 5), .send)
        var nothing = held(last: 5)
        nothing.skipsNothingAfter(nil)
        XCTAssertEqual(decide(nothing, 1), .send, "the failed session made nothing durable: skip nothing")
    }
}
