import Glibc
@testable import NatsSink
import SiphonCore
import XCTest

/// The acknowledgement ledger on its own: the durable position moves only
/// over contiguous acknowledgements, whatever order they come in; a
/// failure is kept (the first one); a message libnats refused is taken back.
final class AckLedgerTests: XCTestCase {
    private var fds: [Int32] = [-1, -1]

    override func setUp() {
        XCTAssertEqual(pipe(&fds), 0)
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
    }

    override func tearDown() {
        fds.forEach { Glibc.close($0) }
    }

    private func position(_ low: UInt64) -> Position { Position(high: 1, low: low) }

    func testTheFrontierMovesOnlyOverContiguousAcknowledgements() {
        let ledger = AckLedger(wakeWrite: fds[1])
        for low in 0..<5 { _ = ledger.publishing(position(UInt64(low))) }
        XCTAssertNil(ledger.snapshot.durable)
        ledger.acknowledged(position(1), sequence: 11)
        ledger.acknowledged(position(2), sequence: 12)
        XCTAssertNil(ledger.snapshot.durable, "0 is not acknowledged yet")
        ledger.acknowledged(position(0), sequence: 10)
        XCTAssertEqual(ledger.snapshot.durable, position(2))
        XCTAssertEqual(ledger.inFlight, 2)
        ledger.acknowledged(position(4), sequence: 14)
        XCTAssertEqual(ledger.snapshot.durable, position(2))
        ledger.acknowledged(position(3), sequence: 13)
        XCTAssertEqual(ledger.snapshot.durable, position(4))
        XCTAssertEqual(ledger.inFlight, 0)
        // A repeated or unknown acknowledgement changes nothing.
        ledger.acknowledged(position(3), sequence: 13)
        ledger.acknowledged(position(99), sequence: 99)
        XCTAssertEqual(ledger.snapshot.durable, position(4))
        XCTAssertEqual(ledger.snapshot.frontier, 5)
    }

    private func pendingWakeups() -> Int {
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(fds[0], &buffer, buffer.count)
        return max(0, count)
    }

    /// The callback wakes the pipeline's thread once, when the frontier it
    /// waits for is reached, not once per acknowledgement; a failure always wakes it.
    func testOneWakeupWhenTheAwaitedFrontierIsReached() {
        let ledger = AckLedger(wakeWrite: fds[1])
        for low in 0..<6 { _ = ledger.publishing(position(UInt64(low))) }
        XCTAssertTrue(ledger.waitsFor(frontier: 3))
        ledger.acknowledged(position(0), sequence: 1)
        ledger.acknowledged(position(1), sequence: 2)
        XCTAssertEqual(pendingWakeups(), 0, "frontier 2: not there yet")
        ledger.acknowledged(position(2), sequence: 3)
        ledger.acknowledged(position(3), sequence: 4)
        XCTAssertEqual(pendingWakeups(), 1, "one wake-up at frontier 3, none after it (nobody waits)")
        XCTAssertFalse(ledger.waitsFor(frontier: 4), "already there: nothing to wait for")
        XCTAssertTrue(ledger.waitsFor(frontier: 6))
        ledger.failed(SiphonError(.sink, "refused", transient: true))
        XCTAssertEqual(pendingWakeups(), 1, "a failure wakes the waiter")
        XCTAssertFalse(ledger.waitsFor(frontier: 6), "failed: nothing to wait for")
    }

    func testAFailureStopsTheFrontierAndTheFirstIsKept() {
        let ledger = AckLedger(wakeWrite: fds[1])
        for low in 0..<3 { _ = ledger.publishing(position(UInt64(low))) }
        ledger.acknowledged(position(0), sequence: 1)
        ledger.failed(SiphonError(.sink, "first", transient: true))
        ledger.failed(SiphonError(.sink, "second"))
        ledger.acknowledged(position(2), sequence: 3)
        XCTAssertEqual(ledger.snapshot.durable, position(0), "1 was never acknowledged")
        XCTAssertEqual(ledger.snapshot.failure?.message, "first")
    }

    func testARefusedPublishIsTakenBack() {
        let ledger = AckLedger(wakeWrite: fds[1])
        _ = ledger.publishing(position(0))
        let refused = ledger.publishing(position(1))
        ledger.unpublish(refused)
        XCTAssertEqual(ledger.snapshot.sent, 1)
        let again = ledger.publishing(position(1))
        XCTAssertEqual(again, refused, "the number is given again")
        ledger.acknowledged(position(0), sequence: 1)
        ledger.acknowledged(position(1), sequence: 2)
        XCTAssertEqual(ledger.snapshot.durable, position(1))
    }

    /// Many messages, acknowledged in a shuffled order: the durable position
    /// is always the end of the acknowledged prefix (and the ledger trims
    /// what it no longer needs without losing track).
    func testShuffledAcknowledgementsOfManyMessages() {
        let ledger = AckLedger(wakeWrite: fds[1])
        let count = 20_000
        for low in 0..<count { _ = ledger.publishing(position(UInt64(low))) }
        var order = Array(0..<count)
        var generator = SystemRandomNumberGenerator()
        // Shuffled within windows of 64, as acknowledgements of one connection come nearly in order.
        for start in stride(from: 0, to: count, by: 64) { order[start..<min(start + 64, count)].shuffle(using: &generator) }
        var acknowledged = Set<Int>()
        var prefix = 0
        for low in order {
            ledger.acknowledged(position(UInt64(low)), sequence: UInt64(low + 1))
            acknowledged.insert(low)
            while acknowledged.contains(prefix) { prefix += 1 }
            let durable = ledger.snapshot.durable
            XCTAssertEqual(durable, prefix == 0 ? nil : position(UInt64(prefix - 1)))
            if durable != (prefix == 0 ? nil : position(UInt64(prefix - 1))) { break }
        }
        XCTAssertEqual(ledger.inFlight, 0)
    }
}
