import Foundation
import Logging
import ServiceLifecycle
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import Synchronization
import XCTest

/// A failing sink does not stop Siphon: transient errors restart the
/// pipeline from its checkpoint, permanent ones stop that pipeline only.
final class SupervisionTests: XCTestCase {
    private func pipeline(_ source: MemorySource, _ sink: any Sink, state: TemporaryDirectory,
                          name: String = "p") throws -> (Pipeline, CheckpointStore) {
        let store = CheckpointStore(directory: try StateDirectory(path: state.path), pipeline: name)
        var options = PipelineOptions()
        options.flushInterval = .milliseconds(20)
        options.flushEvents = 30
        options.retryDelay = .milliseconds(10)
        options.maxRetryDelay = .milliseconds(40)
        return (Pipeline(name: name, source: source, sink: sink, checkpoints: store, options: options,
                         logger: Logger(label: "test")), store)
    }

    /// A sink that fails a few times, on write and on flush, then works:
    /// the pipeline restarts each time and ends with every event once.
    func testSinkThatFailsThenWorksLosesAndRepeatsNothing() async throws {
        let state = try TemporaryDirectory()
        let destination = MemoryDestination()
        let source = MemorySource(transactions: MemorySource.randomTransactions(200))
        let refused = SiphonError(.sink, "connection refused", transient: true)
        destination.fail(.write, times: 2, with: refused)
        destination.fail(.flush, times: 2, with: refused)
        destination.fail(.open, times: 1, with: refused)
        let (pipeline, store) = try pipeline(source, MemorySink(destination: destination), state: state)
        try await pipeline.run()
        let stored = destination.durable.withLock { $0 }.map(\.position)
        XCTAssertEqual(stored, source.events.map(\.position), "every event once, in order")
        XCTAssertEqual(try store.load()?.position, source.events.last?.position)
        XCTAssertGreaterThanOrEqual(source.runs.withLock { $0.count }, 4, "restarted after each failure")
        XCTAssertEqual(destination.log.withLock { $0.filter { $0 == "open" }.count }, source.runs.withLock { $0.count } + 1,
                       "reopened for each attempt (the first open failed)")
    }

    /// A permanent error ends the pipeline at once, with that error.
    func testPermanentErrorStopsThePipelineWithoutRetrying() async throws {
        let state = try TemporaryDirectory()
        let destination = MemoryDestination()
        destination.fail(.write, with: SiphonError(.sink, "message too large for the broker"))
        let source = MemorySource(transactions: MemorySource.randomTransactions(50))
        let (pipeline, store) = try pipeline(source, MemorySink(destination: destination), state: state)
        do {
            try await pipeline.run()
            XCTFail("the pipeline went on after a permanent error")
        } catch let error as SiphonError {
            XCTAssertEqual(error.message, "message too large for the broker")
        }
        XCTAssertEqual(source.runs.withLock { $0.count }, 1)
        XCTAssertNil(try store.load())
        XCTAssertEqual(source.acknowledged.withLock { $0 }, [])
    }

    /// A sink that commits whole source transactions makes only their ends
    /// durable: the checkpoint and the acknowledgements never fall inside a
    /// transaction, and nothing is lost.
    func testCheckpointsOnlyWhatASinkCommitted() async throws {
        let state = try TemporaryDirectory()
        let destination = MemoryDestination()
        let source = MemorySource(transactions: MemorySource.randomTransactions(300), batchSize: 3)
        let (pipeline, store) = try pipeline(source, MemorySink(destination: destination, committingTransactions: true),
                                             state: state)
        try await pipeline.run()
        let ends = Set(source.events.filter(\.endsTransaction).map(\.position))
        let acknowledged = source.acknowledged.withLock { $0 }
        XCTAssertFalse(acknowledged.isEmpty)
        for position in acknowledged { XCTAssertTrue(ends.contains(position), "acknowledged \(position) inside a transaction") }
        XCTAssertEqual(destination.durable.withLock { $0 }.map(\.position), source.events.map(\.position))
        XCTAssertEqual(try store.load()?.position, source.events.last?.position)
    }

    /// Graceful shutdown during the pause between attempts ends the
    /// pipeline at once, without error.
    func testStopDuringBackoffEndsThePipeline() async throws {
        let state = try TemporaryDirectory()
        let destination = MemoryDestination()
        destination.fail(.open, times: 1000, with: SiphonError(.sink, "broker unreachable", transient: true))
        let source = MemorySource(transactions: [[1]])
        let store = CheckpointStore(directory: try StateDirectory(path: state.path), pipeline: "p")
        var options = PipelineOptions()
        options.retryDelay = .seconds(30)
        let pipeline = Pipeline(name: "p", source: source, sink: MemorySink(destination: destination), checkpoints: store,
                                options: options, logger: Logger(label: "test"))
        let task = Task { try await pipeline.run() }
        while destination.log.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(50))
        let clock = ContinuousClock()
        let start = clock.now
        pipeline.stop()
        try await task.value
        XCTAssertLessThan(clock.now - start, .seconds(20), "stopped during the 30 s pause, not after it")
    }

    /// Two pipelines in one service group: one stops on a permanent error,
    /// the other keeps delivering until it is shut down.
    func testOnePipelineFailingLeavesTheOtherRunning() async throws {
        let failingState = try TemporaryDirectory()
        let failingDestination = MemoryDestination()
        failingDestination.fail(.open, with: SiphonError(.sink, "authentication failed"))
        let (failing, _) = try pipeline(MemorySource(pipeline: "bad", transactions: [[1, 2]]),
                                        MemorySink(destination: failingDestination), state: failingState, name: "bad")
        let healthyState = try TemporaryDirectory()
        let healthyDestination = MemoryDestination()
        let healthySource = MemorySource(pipeline: "good", transactions: MemorySource.randomTransactions(100),
                                         stayOpen: true, pauseAfter: 10)
        let (healthy, _) = try pipeline(healthySource, MemorySink(destination: healthyDestination), state: healthyState,
                                        name: "good")
        let services = [failing, healthy].map {
            ServiceGroupConfiguration.ServiceConfiguration(service: $0, successTerminationBehavior: .ignore,
                                                           failureTerminationBehavior: .ignore)
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        // The bad pipeline fails at once; the good one goes on delivering after it.
        while failingDestination.log.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(100))
        healthySource.resume()
        let deadline = ContinuousClock.now + .seconds(30)
        while healthyDestination.durable.withLock({ $0.count }) < healthySource.events.count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertEqual(healthyDestination.durable.withLock { $0 }.map(\.position), healthySource.events.map(\.position))
        await group.triggerGracefulShutdown()
        try await running.value
    }

    /// The resume rule, case by case.
    func testResumePlan() throws {
        let p = { (high: UInt64) in Position(high: high, low: 0) }
        func decide(_ sink: SinkPosition, _ checkpoint: Position?, reset: ResetMarker? = nil,
                    needsState: Bool = false) throws -> ResumePlan {
            try ResumePlan.decide(sink: sink, checkpoint: checkpoint, reset: reset, sourceStateMissing: needsState, stateFolder: "/state")
        }
        XCTAssertEqual(try decide(.untracked, p(5)), ResumePlan(resumeAfter: p(5), catchUpCheckpoint: false))
        XCTAssertEqual(try decide(.untracked, nil), ResumePlan(resumeAfter: nil, catchUpCheckpoint: false))
        XCTAssertEqual(try decide(.tracked(last: p(7)), p(5)), ResumePlan(resumeAfter: p(7), catchUpCheckpoint: true))
        XCTAssertEqual(try decide(.tracked(last: p(5)), p(5)), ResumePlan(resumeAfter: p(5), catchUpCheckpoint: false))
        XCTAssertEqual(try decide(.tracked(last: nil), nil), ResumePlan(resumeAfter: nil, catchUpCheckpoint: false))
        XCTAssertEqual(try decide(.tracked(last: p(7)), nil), ResumePlan(resumeAfter: p(7), catchUpCheckpoint: true))
        XCTAssertEqual(try decide(.tracked(last: p(7)), nil, reset: ResetMarker(sinkPosition: p(7)), needsState: true),
                       ResumePlan(resumeAfter: nil, catchUpCheckpoint: false), "after a reset: from the beginning")
        for (sink, checkpoint) in [(SinkPosition.tracked(last: p(3)), p(5)), (.tracked(last: nil), p(5))] {
            XCTAssertThrowsError(try decide(sink, checkpoint)) { error in
                let error = error as? SiphonError
                XCTAssertEqual(error?.isTransient, false)
                XCTAssertTrue(error?.message.contains(p(5).description) == true, "\(String(describing: error))")
                XCTAssertTrue(error?.message.contains("siphon offsets reset") == true)
            }
        }
        XCTAssertThrowsError(try decide(.tracked(last: p(7)), nil, needsState: true), "schema history missing") { error in
            XCTAssertTrue((error as? SiphonError)?.message.contains("neither a checkpoint nor the schema history") == true)
        }
        XCTAssertThrowsError(try decide(.tracked(last: p(9)), nil, reset: ResetMarker(sinkPosition: p(7)), needsState: true),
                             "the sink moved since the reset")
    }
}

/// The in-memory sink keeps the promises of the conformance suite (which
/// also checks the suite itself against a sink whose behaviour is known).
final class MemorySinkConformanceTests: XCTestCase {
    struct Subject: SinkConformanceSubject {
        var exactlyOnce: Bool { true }
        var tracksPosition: Bool { true }
        func makeDestination() throws -> any ConformanceDestination { Destination() }
    }

    final class Destination: ConformanceDestination {
        let destination = MemoryDestination()
        let failing = Mutex(false)
        func makeSink(pipeline: String) throws -> any Sink { FailingWhenAsked(MemorySink(destination: destination), shared: self) }
        func storedEvents() throws -> [ConformanceEvent] {
            destination.durable.withLock { $0 }.map { ConformanceEvent(position: $0.position, key: $0.key) }
        }
        func induceTransientFailure() throws -> Bool { failing.withLock { $0 = true }; return true }
        func clearTransientFailure() throws { failing.withLock { $0 = false } }
        func inducePermanentFailure() throws -> Bool {
            destination.fail(.open, with: SiphonError(.sink, "permission denied on the target"))
            return true
        }
        func simulateCrashDamage() throws { destination.crash() }
    }

    /// Fails writes and flushes transiently while `failing` is set.
    final class FailingWhenAsked: Sink {
        let inner: MemorySink
        let shared: Destination
        init(_ inner: MemorySink, shared: Destination) {
            self.inner = inner
            self.shared = shared
        }
        private var isFailing: Bool { shared.failing.withLock { $0 } }
        func open() async throws -> SinkPosition { try await inner.open() }
        func write(_ batch: EventBatch) async throws {
            if isFailing { throw SiphonError(.sink, "target unreachable", transient: true) }
            try await inner.write(batch)
        }
        func flush() async throws -> Position? {
            if isFailing { throw SiphonError(.sink, "target unreachable", transient: true) }
            return try await inner.flush()
        }
        func close() async throws { try await inner.close() }
    }

    var suite: SinkConformance { SinkConformance(subject: Subject()) }

    func testDeliversEveryEventInOrderPerKey() async throws { try await suite.deliversEveryEventInOrderPerKey() }
    func testAcknowledgesOnlyWhatIsDurable() async throws { try await suite.acknowledgesOnlyWhatIsDurable() }
    func testResumesAfterACrash() async throws { try await suite.resumesAfterACrash() }
    func testRefusesACheckpointAheadOfTheSink() async throws { try await suite.refusesACheckpointAheadOfTheSink() }
    func testRecoversFromTransientErrors() async throws { try await suite.recoversFromTransientErrors() }
    func testStopsOnPermanentErrors() async throws { try await suite.stopsOnPermanentErrors() }
}
