import Foundation
import Logging
import Synchronization
import XCTest
@testable import SiphonCore
import SiphonTestSupport
import SiphonTesting

/// The pipeline's ordering guarantees, with in-memory connectors.
final class PipelineTests: XCTestCase {
    /// Emits `count` events one per batch, then waits to be cancelled.
    final class CountingSource: Source {
        let count: Int
        let acknowledged = Mutex<[Position]>([])
        let started = Mutex<Position?>(nil)
        init(count: Int) { self.count = count }

        func run(resumingAfter position: Position?, output: EventQueue) async throws {
            started.withLock { $0 = position }
            // Deliberately replays from the beginning: the pipeline must drop what it already has.
            for index in 0..<count {
                try await output.send(oneEvent(at: Position(high: 1, low: UInt64(index))))
            }
            try await Task.sleep(for: .seconds(3600))
        }

        func acknowledge(_ position: Position) { acknowledged.withLock { $0.append(position) } }
    }

    /// Records writes and flushes; durable = what was written before the last flush.
    class RecordingSink: Sink, @unchecked Sendable {
        let log = Mutex<[String]>([])
        let durable = Mutex<[Position]>([])
        let written = Mutex<[Position]>([])
        let held: Position?
        init(held: Position? = nil) { self.held = held }

        func open() async throws -> SinkPosition {
            log.withLock { $0.append("open") }
            return .tracked(last: held)
        }
        func write(_ batch: EventBatch) async throws {
            written.withLock { $0.append(contentsOf: batch.events.map(\.position)) }
            log.withLock { $0.append("write") }
        }
        func flush() async throws -> Position? {
            let all = written.withLock { $0 }
            durable.withLock { $0 = all }
            log.withLock { $0.append("flush") }
            return all.last ?? held
        }
        func close() async throws { log.withLock { $0.append("close") } }
        var flushesAlongsideWrites: Bool { false }
    }

    /// Flushes alongside writes; a flush covers what was written when it
    /// began, and the first one waits until `release`, or fails.
    final class HeldFlushSink: RecordingSink, @unchecked Sendable {
        let released = Mutex(false)
        let failing: Bool
        /// What the first flush covers: the events written when it began.
        let firstFlush = Mutex<[Position]?>(nil)
        init(failing: Bool = false) {
            self.failing = failing
            super.init()
        }
        override var flushesAlongsideWrites: Bool { true }
        override func flush() async throws -> Position? {
            let covered = written.withLock { $0 }
            let first = firstFlush.withLock { first in
                defer { if first == nil { first = covered } }
                return first == nil
            }
            if failing { throw SiphonError(.sink, "the disk is full") }
            while first && !released.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(2)) }
            durable.withLock { $0 = covered }
            log.withLock { $0.append("flush") }
            return covered.last
        }
    }

    func testAcknowledgesOnlyWhatIsDurableAndSkipsWhatTheSinkHolds() async throws {
        let folder = try TemporaryDirectory()
        let state = try StateDirectory(path: folder.path + "/state")
        let store = CheckpointStore(directory: state, pipeline: "p")
        let source = CountingSource(count: 10)
        let sink = RecordingSink(held: Position(high: 1, low: 3))
        let pipeline = Pipeline(name: "p", source: source, sink: sink, checkpoints: store, logger: Logger(label: "test"))
        let task = Task { try await pipeline.run() }
        for _ in 0..<200 where sink.written.withLock({ $0.count }) < 6 {
            try await Task.sleep(for: .milliseconds(10))
        }
        pipeline.stop()
        try await task.value
        XCTAssertEqual(source.started.withLock { $0 }, Position(high: 1, low: 3), "resumes after what the sink holds")
        XCTAssertEqual(sink.written.withLock { $0 }, (4..<10).map { Position(high: 1, low: UInt64($0)) })
        let durable = Set(sink.durable.withLock { $0 })
        for position in source.acknowledged.withLock({ $0 }) where position > Position(high: 1, low: 3) {
            XCTAssertTrue(durable.contains(position), "acknowledged \(position) before it was durable")
        }
        XCTAssertEqual(try store.load()?.position, Position(high: 1, low: 9))
        XCTAssertEqual(sink.log.withLock { $0 }.last, "close")
    }

    func testQueueAppliesBackpressure() async throws {
        let queue = EventQueue(capacity: 2)
        let batch = oneEvent(at: Position(high: 1, low: 0))
        let sent = Mutex(0)
        let producer = Task {
            for _ in 0..<5 {
                try await queue.send(batch)
                sent.withLock { $0 += 1 }
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        XCTAssertEqual(sent.withLock { $0 }, 2, "the producer waits while the queue is full")
        for _ in 0..<5 { _ = await queue.next() }
        try await producer.value
        XCTAssertEqual(sent.withLock { $0 }, 5)
        queue.finish()
        let end = await queue.next()
        XCTAssertNil(end)
    }

    func testQueueKeepsNoBatchItHasHandedOut() async throws {
        let queue = EventQueue(capacity: 4)
        for low in 0..<3 { try await queue.send(oneEvent(at: Position(high: 1, low: UInt64(low)))) }
        // Two batches stay queued, so the queue's storage is not emptied.
        guard var taken = await queue.next() else { return XCTFail("no batch") }
        let before = taken.buffer.bytes.withUnsafeBufferPointer { $0.baseAddress }
        // A write copies the bytes if anything else still holds them.
        taken.buffer.bytes[0] = taken.buffer.bytes[0]
        let after = taken.buffer.bytes.withUnsafeBufferPointer { $0.baseAddress }
        XCTAssertEqual(before, after, "the queue still holds a batch the sink has taken")
    }

    func testTimedWaitOnTheQueue() async throws {
        let queue = EventQueue(capacity: 2)
        let started = ContinuousClock.now
        guard case .timedOut = await queue.next(waitingAtMost: .milliseconds(50)) else { return XCTFail("expected a timeout") }
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(45))
        let batch = oneEvent(at: Position(high: 1, low: 0))
        let sender = Task {
            try await Task.sleep(for: .milliseconds(20))
            try await queue.send(batch)
        }
        guard case .batch(let received) = await queue.next(waitingAtMost: .seconds(10)) else { return XCTFail("expected the batch") }
        XCTAssertEqual(received.count, 1)
        try await sender.value
        queue.finish()
        guard case .finished = await queue.next(waitingAtMost: .seconds(10)) else { return XCTFail("expected the end") }
    }

    /// Timed waits share one timer: a wait that ends early leaves its timer
    /// behind, and neither a shorter nor a longer wait after it may be cut
    /// short or left waiting for ever by that timer.
    func testTimedWaitsShareOneTimerCorrectly() async throws {
        let queue = EventQueue(capacity: 2)
        let ready = oneEvent(at: Position(high: 1, low: 0))
        func sendSoon() -> Task<Void, any Error> {
            Task {
                try await Task.sleep(for: .milliseconds(20))
                try await queue.send(ready)
            }
        }
        // A longer wait after it: the earlier timer fires first and must neither end it nor forget it.
        var sender = sendSoon()
        guard case .batch = await queue.next(waitingAtMost: .milliseconds(300)) else { return XCTFail("expected the batch") }
        try await sender.value
        let longStart = ContinuousClock.now
        guard case .timedOut = await queue.next(waitingAtMost: .milliseconds(600)) else { return XCTFail("expected a timeout") }
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - longStart, .milliseconds(590))
        // A shorter wait after it: it needs a timer of its own.
        sender = sendSoon()
        guard case .batch = await queue.next(waitingAtMost: .seconds(5)) else { return XCTFail("expected the batch") }
        try await sender.value
        let shortStart = ContinuousClock.now
        guard case .timedOut = await queue.next(waitingAtMost: .milliseconds(50)) else { return XCTFail("expected a timeout") }
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - shortStart, .milliseconds(45))
        XCTAssertLessThan(ContinuousClock.now - shortStart, .seconds(3), "not left for the 5 s timer")
    }

    /// Sends 40 one-event batches at `high`, 5 ms apart, then stays quiet.
    final class PacedSource: Source {
        let high: UInt64
        let resumable: Bool
        init(high: UInt64, resumable: Bool) {
            self.high = high
            self.resumable = resumable
        }
        func run(resumingAfter position: Position?, output: EventQueue) async throws {
            for index in 0..<40 {
                try await output.send(oneEvent(at: Position(high: high, low: UInt64(index)), resumable: resumable))
                try await Task.sleep(for: .milliseconds(5))
            }
            try await Task.sleep(for: .seconds(3600))
        }
        let acknowledged = Mutex<[Position]>([])
        func acknowledge(_ position: Position) { acknowledged.withLock { $0.append(position) } }
    }

    /// A pipeline from `source` into a `RecordingSink`, flushing every 100 ms
    /// (and every `flushEvents` events), started; the caller stops it.
    private func startPacedPipeline(_ source: PacedSource, into sink: RecordingSink = RecordingSink(),
                                    flushEvents: Int = PipelineOptions().flushEvents)
        throws -> (pipeline: Pipeline, task: Task<Void, any Error>, sink: RecordingSink, store: CheckpointStore, folder: TemporaryDirectory) {
        let folder = try TemporaryDirectory()
        let store = CheckpointStore(directory: try StateDirectory(path: folder.path + "/state"), pipeline: "p")
        var options = PipelineOptions()
        options.flushInterval = .milliseconds(100)
        options.flushEvents = flushEvents
        let pipeline = Pipeline(name: "p", source: source, sink: sink, checkpoints: store, options: options,
                                logger: Logger(label: "test"))
        let task = Task { try await pipeline.run() }
        return (pipeline, task, sink, store, folder)
    }

    /// A trickle of one-event batches reaches the sink at once, but costs one
    /// flush per flush interval, not one per event; stopping still flushes.
    func testTrickleIsWrittenAtOnceAndFlushedInGroups() async throws {
        let (pipeline, task, sink, store, folder) = try startPacedPipeline(PacedSource(high: 2, resumable: true))
        defer { withExtendedLifetime(folder) {} }
        for _ in 0..<500 where sink.written.withLock({ $0.count }) < 40 {
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertEqual(sink.written.withLock { $0.count }, 40)
        pipeline.stop()
        try await task.value
        let flushes = sink.log.withLock { $0.filter { $0 == "flush" }.count }
        XCTAssertGreaterThan(flushes, 0)
        XCTAssertLessThan(flushes, 15, "about one flush per 100 ms over ~300 ms of events, not one per event")
        XCTAssertEqual(try store.load()?.position, Position(high: 2, low: 39))
    }

    /// Batches that cannot be resumed from (an initial snapshot's) cost no
    /// fsync while they keep coming, whatever their count or duration; the
    /// pipeline flushes and checkpoints once the source goes quiet.
    func testBatchesNotResumableAreFlushedOnlyWhenTheSourceGoesQuiet() async throws {
        let (pipeline, task, sink, store, folder) = try startPacedPipeline(PacedSource(high: 3, resumable: false),
                                                                           flushEvents: 5)
        defer { withExtendedLifetime(folder) {} }
        for _ in 0..<500 where sink.written.withLock({ $0.count }) < 40 {
            try await Task.sleep(for: .milliseconds(2))
        }
        XCTAssertEqual(sink.written.withLock { $0.count }, 40)
        XCTAssertEqual(sink.log.withLock { $0.filter { $0 == "flush" }.count }, 0,
                       "40 events over 200 ms: 8 flushes by count and 2 by time, had the batches been resumable")
        for _ in 0..<200 where sink.log.withLock({ !$0.contains("flush") }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertEqual(try store.load()?.position, Position(high: 3, low: 39), "checkpointed once the source went quiet")
        pipeline.stop()
        try await task.value
    }

    /// A flush that takes long (an fsync under load) does not hold the
    /// source up when the sink flushes alongside writes: events keep
    /// reaching the sink, while the checkpoint and the acknowledgement wait
    /// for the flush and cover only what it made durable.
    func testSlowFlushDoesNotHoldWritesUp() async throws {
        let source = PacedSource(high: 4, resumable: true)
        let sink = HeldFlushSink()
        let (pipeline, task, _, store, folder) = try startPacedPipeline(source, into: sink)
        defer { withExtendedLifetime(folder) {} }
        for _ in 0..<500 where sink.firstFlush.withLock({ $0 == nil }) {
            try await Task.sleep(for: .milliseconds(5))
        }
        guard let covered = sink.firstFlush.withLock({ $0 }), let flushed = covered.last else {
            return XCTFail("no flush began")
        }
        for _ in 0..<500 where sink.written.withLock({ $0.count }) < covered.count + 10 {
            try await Task.sleep(for: .milliseconds(5))
        }
        XCTAssertGreaterThanOrEqual(sink.written.withLock { $0.count }, covered.count + 10, "writes went on during the flush")
        XCTAssertNil(try store.load(), "no checkpoint before the flush is done")
        XCTAssertEqual(source.acknowledged.withLock { $0 }, [], "nothing acknowledged before the flush is done")
        sink.released.withLock { $0 = true }
        for _ in 0..<500 where sink.written.withLock({ $0.count }) < 40 {
            try await Task.sleep(for: .milliseconds(5))
        }
        pipeline.stop()
        try await task.value
        let acknowledged = source.acknowledged.withLock { $0 }
        // The pipeline asks for the flush after its last write returned; a
        // write may still land before the sink looks, so the first flush can
        // cover one event more than the pipeline asked for, never fewer.
        let first = try XCTUnwrap(acknowledged.first)
        XCTAssertLessThanOrEqual(first, flushed, "the first checkpoint is no further than the first flush covered")
        XCTAssertTrue(covered.contains(first), "the first checkpoint is an event the first flush covered")
        XCTAssertEqual(acknowledged, acknowledged.sorted())
        XCTAssertEqual(acknowledged.last, Position(high: 4, low: 39))
        XCTAssertEqual(try store.load()?.position, Position(high: 4, low: 39))
        XCTAssertEqual(sink.log.withLock { $0 }.last, "close")
    }

    /// A flush that fails off the pipeline's thread fails the pipeline,
    /// even with the source quiet, and nothing is checkpointed.
    func testFailedBackgroundFlushFailsThePipeline() async throws {
        let source = PacedSource(high: 5, resumable: true)
        let sink = HeldFlushSink(failing: true)
        let (_, task, _, store, folder) = try startPacedPipeline(source, into: sink)
        defer { withExtendedLifetime(folder) {} }
        let outcome = try await withThrowingTaskGroup(of: Result<Void, any Error>?.self) { group in
            group.addTask { await task.result }
            group.addTask { try await Task.sleep(for: .seconds(20)); return nil }
            defer { group.cancelAll() }
            return try await group.next()!
        }
        guard case .failure(let error) = outcome else {
            task.cancel()
            return XCTFail("the pipeline went on after its sink failed to flush")
        }
        XCTAssertTrue("\(error)".contains("the disk is full"), "\(error)")
        XCTAssertNil(try store.load())
        XCTAssertEqual(source.acknowledged.withLock { $0 }, [])
        XCTAssertNotNil(sink.firstFlush.withLock { $0 })
    }
}

/// A batch of one `c` event at `position`.
private func oneEvent(at position: Position, resumable: Bool = true) -> EventBatch {
    var batch = EventBatch()
    batch.resumable = resumable
    TestEvents.append(to: &batch, position: position, key: 0)
    return batch
}
