import SiphonCore
import SiphonTesting
import XCTest

/// `EventBatch.commitUnixMillis` (the start of `siphon_commit_to_sink_seconds`)
/// stays the commit time of the batch's last event through what sources and
/// the pipeline do to batches.
final class EventBatchCommitTimeTests: XCTestCase {
    private func batch(_ positions: ClosedRange<UInt64>, commit: Int64?) -> EventBatch {
        var batch = EventBatch()
        for low in positions { TestEvents.append(to: &batch, position: Position(high: 1, low: low), key: Int(low)) }
        batch.commitUnixMillis = commit
        return batch
    }

    func testTheLastEventsCommitTimeFollowsItsEvent() {
        var first = batch(1...3, commit: 100)
        let last = first.removeLastEvent()
        XCTAssertEqual(last.commitUnixMillis, 100)
        XCTAssertEqual(first.suffix(after: Position(high: 1, low: 1)).commitUnixMillis, 100)

        first.append(batch(4...5, commit: 200))
        XCTAssertEqual(first.commitUnixMillis, 200, "the appended events are the last")
        first.append(EventBatch(capacity: 0))
        XCTAssertEqual(first.commitUnixMillis, 200, "nothing appended, nothing changes")
        first.append(batch(6...6, commit: nil))
        XCTAssertNil(first.commitUnixMillis, "a snapshot row (no commit time) is now the last")
    }
}
