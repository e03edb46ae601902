import XCTest
@testable import PostgresSource

/// When the replication loop lets messages pile up before a read: only once
/// the stream has run without a gap for `busyAfter` (a backlog), never inside
/// one transaction's burst of a live stream.
final class ReadPacingTests: XCTestCase {
    private let clock = ContinuousClock()

    /// Applies waits of the given lengths back to back, starting at `start`;
    /// returns the instant after the last.
    private func wait(_ pacing: inout ReadPacing, _ lengths: [Duration], from start: ContinuousClock.Instant)
        -> ContinuousClock.Instant {
        var now = start
        for length in lengths {
            pacing.waited(from: now, to: now + length)
            now = now + length + .microseconds(5)  // reading and decoding between waits
        }
        return now
    }

    func testQuietStreamNeverSettles() {
        var pacing = ReadPacing()
        let now = wait(&pacing, Array(repeating: .milliseconds(1), count: 20), from: clock.now)
        XCTAssertFalse(pacing.shouldSettle(at: now))
    }

    func testOneTransactionsBurstDoesNotSettle() {
        var pacing = ReadPacing()
        // A live stream: a gap, then a transaction's messages microseconds apart.
        var now = wait(&pacing, [.milliseconds(1)], from: clock.now)
        now = wait(&pacing, Array(repeating: .microseconds(20), count: 8), from: now)
        XCTAssertFalse(pacing.shouldSettle(at: now))
        now = wait(&pacing, [.microseconds(900)], from: now)
        XCTAssertFalse(pacing.shouldSettle(at: now))
    }

    func testBacklogSettlesUntilTheNextGap() {
        var pacing = ReadPacing()
        var now = wait(&pacing, Array(repeating: .microseconds(10), count: 40), from: clock.now)
        XCTAssertFalse(pacing.shouldSettle(at: now), "600 µs without a gap is still a burst")
        now = wait(&pacing, Array(repeating: .microseconds(10), count: 40), from: now)
        XCTAssertTrue(pacing.shouldSettle(at: now), "over 1 ms without a gap is a backlog")
        now = wait(&pacing, [ReadPacing.gap], from: now)
        XCTAssertFalse(pacing.shouldSettle(at: now), "a gap ends the backlog")
    }

    /// `isBusy` decides whether the loop reads the socket again before the
    /// batch goes to the sink: only when the last wait found data already
    /// there, so a quiet stream's transaction is not held back by a read
    /// that finds nothing.
    func testBusyOnlyWhileWaitsFindDataAtOnce() {
        var pacing = ReadPacing()
        XCTAssertFalse(pacing.isBusy, "a new stream is quiet")
        var now = wait(&pacing, [.milliseconds(1)], from: clock.now)
        XCTAssertFalse(pacing.isBusy, "a wait of a whole gap is a quiet stream")
        now = wait(&pacing, [.microseconds(20)], from: now)
        XCTAssertTrue(pacing.isBusy, "the data was there almost at once")
        now = wait(&pacing, [ReadPacing.gap], from: now)
        XCTAssertFalse(pacing.isBusy, "a gap makes it quiet again")
    }

    /// After a wait the loop reads the socket once; before the next wait it
    /// reads again only for the rest of a transaction or while busy. A
    /// complete transaction, even one whose messages came from libpq's
    /// buffer without a read, goes to the sink before another read.
    func testReadsOnceAfterAWaitUnlessMidTransactionOrBusy() {
        var pacing = ReadPacing()
        XCTAssertTrue(pacing.mayReadSocket(inTransaction: false), "a new stream reads")
        var now = wait(&pacing, [.milliseconds(1)], from: clock.now)
        XCTAssertTrue(pacing.mayReadSocket(inTransaction: false), "the first read after a wait")
        pacing.readSocket()
        XCTAssertTrue(pacing.mayReadSocket(inTransaction: true), "the rest of a transaction")
        XCTAssertTrue(pacing.mayReadSocket(inTransaction: true), "still, when its messages came from the buffer")
        XCTAssertFalse(pacing.mayReadSocket(inTransaction: false), "a complete transaction goes to the sink first")
        now = wait(&pacing, [.milliseconds(1)], from: now)
        XCTAssertTrue(pacing.mayReadSocket(inTransaction: false), "another wait, another read")
        pacing.readSocket()
        _ = wait(&pacing, [.microseconds(20)], from: now)
        pacing.readSocket()
        XCTAssertTrue(pacing.mayReadSocket(inTransaction: false), "a busy stream reads until the socket is empty")
    }
}
