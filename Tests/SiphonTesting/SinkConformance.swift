import Foundation
import Logging
import SiphonCore
import SiphonTestSupport
import Synchronization

/// An event as a consumer of the destination reads it back.
public struct ConformanceEvent: Sendable, Equatable {
    public var position: Position
    public var key: String

    public init(position: Position, key: String) {
        self.position = position
        self.key = key
    }
}

/// A sink under test: what it promises, and a way to get empty destinations.
public protocol SinkConformanceSubject: Sendable {
    /// After a crash, every event is in the destination exactly once (the
    /// sink tracks its position), not merely at least once.
    var exactlyOnce: Bool { get }
    /// `open` answers `.tracked`.
    var tracksPosition: Bool { get }
    /// A new, empty destination (a file, a topic, a stream) for one check.
    func makeDestination() throws -> any ConformanceDestination
}

/// One destination of the sink under test, read back independently of the sink.
public protocol ConformanceDestination: Sendable {
    /// A new sink on this destination for `pipeline`, as a restarted process builds it.
    func makeSink(pipeline: String) throws -> any Sink
    /// The events the destination holds, in the order a consumer reads them.
    func storedEvents() throws -> [ConformanceEvent]
    /// Makes the destination fail the sink in a way it must report as
    /// transient (a full disk, a broker down); false when it cannot.
    func induceTransientFailure() throws -> Bool
    func clearTransientFailure() throws
    /// Makes the destination such that the sink must fail with a permanent
    /// error (another pipeline's data in it, a refused credential); false when it cannot.
    func inducePermanentFailure() throws -> Bool
    /// What a crash mid-write may leave behind (a torn last line); nothing when nothing applies.
    func simulateCrashDamage() throws
}

/// A check the subject cannot take part in, and why.
public struct ConformanceSkip: Error, CustomStringConvertible {
    public var description: String
}

/// A promise the sink broke, with what was seen.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// The promises every sink makes to the pipeline, checked against real
/// pipelines (`Pipeline`) fed by a `MemorySource`. Each sink's tests call
/// every check (see FileSinkConformanceTests); a check throws
/// `ConformanceFailure` saying what was broken.
public struct SinkConformance: Sendable {
    public let subject: any SinkConformanceSubject
    /// Transactions of 1-5 events on ten keys.
    let transactions = MemorySource.randomTransactions(120)

    public init(subject: any SinkConformanceSubject) {
        self.subject = subject
    }

    // MARK: The checks

    /// Every event arrives, once, and each key's events in position order.
    public func deliversEveryEventInOrderPerKey() async throws {
        let destination = try subject.makeDestination()
        let source = MemorySource(pipeline: "conformance", transactions: transactions)
        try await run(source: source, destination: destination)
        try expectComplete(destination, source: source, exactlyOnce: true)
    }

    /// At every acknowledgement to the source, the destination already
    /// holds every event up to the acknowledged position.
    public func acknowledgesOnlyWhatIsDurable() async throws {
        let destination = try subject.makeDestination()
        let violations = Mutex<[String]>([])
        let sent = MemorySource(pipeline: "conformance", transactions: transactions).events.map(\.position)
        let source = MemorySource(pipeline: "conformance", transactions: transactions) { acknowledged in
            let held = Set(((try? destination.storedEvents()) ?? []).map(\.position))
            if let missing = sent.first(where: { $0 <= acknowledged && !held.contains($0) }) {
                violations.withLock { $0.append("acknowledged \(acknowledged) while \(missing) was not in the destination") }
            }
        }
        try await run(source: source, destination: destination, flushEvents: 25)
        if source.acknowledged.withLock({ $0.isEmpty }) { throw ConformanceFailure("nothing was ever acknowledged") }
        if let first = violations.withLock({ $0.first }) { throw ConformanceFailure(first) }
    }

    /// A crash after some checkpoints (with the checkpoint left behind what
    /// the sink holds, as a crash between the sink's flush and the
    /// checkpoint leaves it), then a restart: nothing is lost, and nothing
    /// repeated when the sink promises exactly once. A tracking sink's
    /// position decides where the restart resumes.
    public func resumesAfterACrash() async throws {
        let destination = try subject.makeDestination()
        let state = try TemporaryDirectory()
        let store = CheckpointStore(directory: try StateDirectory(path: state.path), pipeline: "conformance")
        let first = MemorySource(pipeline: "conformance", transactions: transactions, stayOpen: true)
        let crashing = CrashingSink(try destination.makeSink(pipeline: "conformance"), crashAfterEvents: 150)
        do {
            try await run(source: first, sink: crashing, store: store, flushEvents: 40)
            throw ConformanceFailure("the pipeline did not stop when its sink crashed")
        } catch let error as SiphonError where error.message == CrashingSink.message {}
        guard let early = first.acknowledged.withLock({ $0.first }) else {
            throw ConformanceFailure("no checkpoint was made before the crash")
        }
        try store.save(early)
        try destination.simulateCrashDamage()
        let held = try destination.storedEvents().last?.position

        let second = MemorySource(pipeline: "conformance", transactions: transactions)
        try await run(source: second, sink: try destination.makeSink(pipeline: "conformance"), store: store)
        if subject.tracksPosition, let resumed = second.runs.withLock({ $0.first }), resumed != held {
            throw ConformanceFailure("resumed after \(resumed?.description ?? "the beginning"), not after the sink's last event \(held?.description ?? "none")")
        }
        try expectComplete(destination, source: second, exactlyOnce: subject.exactlyOnce)
    }

    /// A tracking sink that holds less than the checkpoint says (restored
    /// from a backup, cut) makes the pipeline refuse to start, permanently,
    /// naming both positions: the events between are gone.
    public func refusesACheckpointAheadOfTheSink() async throws {
        guard subject.tracksPosition else { throw ConformanceSkip(description: "the sink does not track its position") }
        let destination = try subject.makeDestination()
        let state = try TemporaryDirectory()
        let store = CheckpointStore(directory: try StateDirectory(path: state.path), pipeline: "conformance")
        let source = MemorySource(pipeline: "conformance", transactions: Array(transactions.prefix(10)))
        try await run(source: source, sink: try destination.makeSink(pipeline: "conformance"), store: store)
        guard let held = try destination.storedEvents().last?.position else { throw ConformanceFailure("nothing was written") }
        let ahead = Position(high: held.high + 1000, low: 0)
        try store.save(ahead)
        let later = MemorySource(pipeline: "conformance", transactions: transactions)
        do {
            try await run(source: later, sink: try destination.makeSink(pipeline: "conformance"), store: store)
            throw ConformanceFailure("started although the checkpoint \(ahead) is ahead of the sink's \(held)")
        } catch let error as SiphonError {
            guard !error.isTransient, error.message.contains(ahead.description), error.message.contains(held.description) else {
                throw ConformanceFailure("expected a permanent error naming \(ahead) and \(held), got: \(error.message)")
            }
        }
        if !later.runs.withLock({ $0.isEmpty }) { throw ConformanceFailure("the source ran although the pipeline refused to start") }
    }

    /// A transient failure of the destination surfaces as a transient
    /// `SiphonError`; the pipeline retries and, once the destination is
    /// back, delivers everything (once, for an exactly-once sink).
    public func recoversFromTransientErrors() async throws {
        let destination = try subject.makeDestination()
        let probe = try destination.makeSink(pipeline: "conformance")
        _ = try await probe.open()
        guard try destination.induceTransientFailure() else {
            try await probe.close()
            throw ConformanceSkip(description: "this destination cannot be made to fail transiently here")
        }
        let error = await firstError(writing: probe)
        try? await probe.close()
        try destination.clearTransientFailure()
        guard let error else { throw ConformanceFailure("writing to a failing destination did not fail") }
        guard error.isTransient else { throw ConformanceFailure("a transient failure was reported as permanent: \(error.message)") }

        let state = try TemporaryDirectory()
        let store = CheckpointStore(directory: try StateDirectory(path: state.path), pipeline: "conformance")
        let source = MemorySource(pipeline: "conformance", transactions: transactions, pauseAfter: 100)
        var options = PipelineOptions()
        options.flushInterval = .milliseconds(20)
        options.retryDelay = .milliseconds(20)
        options.maxRetryDelay = .milliseconds(100)
        let pipeline = Pipeline(name: "conformance", source: source, sink: try destination.makeSink(pipeline: "conformance"),
                                checkpoints: store, options: options, logger: Logger(label: "conformance"))
        let task = Task { try await pipeline.run() }
        try await waitUntil("the first 100 events are acknowledged") {
            source.acknowledged.withLock { $0.last.map { $0 >= source.events[99].position } ?? false }
        }
        guard try destination.induceTransientFailure() else { throw ConformanceFailure("could not fail the destination again") }
        source.resume()
        try await waitUntil("the pipeline restarts after the failure") { source.runs.withLock { $0.count } >= 2 }
        try destination.clearTransientFailure()
        try await waitUntil("every event is acknowledged") {
            source.acknowledged.withLock { $0.last } == source.events.last?.position
        }
        pipeline.stop()
        try await task.value
        try expectComplete(destination, source: source, exactlyOnce: subject.exactlyOnce)
    }

    /// A permanent failure stops the pipeline with a permanent error, and
    /// without retrying for ever.
    public func stopsOnPermanentErrors() async throws {
        let destination = try subject.makeDestination()
        guard try destination.inducePermanentFailure() else {
            throw ConformanceSkip(description: "this destination cannot be made to fail permanently here")
        }
        let source = MemorySource(pipeline: "conformance", transactions: transactions)
        do {
            try await run(source: source, destination: destination)
            throw ConformanceFailure("the pipeline ran to the end on a destination that must fail")
        } catch let error as SiphonError {
            guard !error.isTransient, !error.message.isEmpty else {
                throw ConformanceFailure("expected a permanent error that says what to fix, got: \(error)")
            }
        }
    }

    // MARK: Helpers

    private func run(source: MemorySource, destination: any ConformanceDestination, flushEvents: Int = 20_000) async throws {
        let state = try TemporaryDirectory()
        let store = CheckpointStore(directory: try StateDirectory(path: state.path), pipeline: source.pipeline)
        try await run(source: source, sink: try destination.makeSink(pipeline: source.pipeline), store: store,
                      flushEvents: flushEvents)
    }

    /// Runs a pipeline until its source is done (or it fails), with
    /// frequent checkpoints; 60 s at most.
    private func run(source: MemorySource, sink: any Sink, store: CheckpointStore, flushEvents: Int = 20_000) async throws {
        var options = PipelineOptions()
        options.flushInterval = .milliseconds(20)
        options.flushEvents = flushEvents
        options.retryDelay = .milliseconds(20)
        let pipeline = Pipeline(name: source.pipeline, source: source, sink: sink, checkpoints: store, options: options,
                                logger: Logger(label: "conformance"))
        let task = Task { try await pipeline.run() }
        guard await finishes(task, within: .seconds(60)) else {
            pipeline.stop()
            throw ConformanceFailure("the pipeline did not finish within 60 s")
        }
        try await task.value
    }

    private func finishes(_ task: Task<Void, any Error>, within timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { _ = await task.result; return true }
            group.addTask { try? await Task.sleep(for: timeout); return false }
            defer { group.cancelAll() }
            return await group.next() ?? false
        }
    }

    private func waitUntil(_ what: String, timeout: Duration = .seconds(30), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            if ContinuousClock.now > deadline { throw ConformanceFailure("timed out waiting until \(what)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Writes and flushes a few events; the first error thrown, if any.
    private func firstError(writing sink: any Sink) async -> SiphonError? {
        do {
            for index in 0..<50 {
                var batch = EventBatch()
                for low in 0..<50 {
                    TestEvents.append(to: &batch, position: Position(high: UInt64(index + 1), low: UInt64(low)),
                                      key: low, pipeline: "conformance", endsTransaction: low == 49)
                }
                try await sink.write(batch)
                _ = try await sink.flush()
            }
            return nil
        } catch {
            return error as? SiphonError ?? SiphonError(.sink, "not a SiphonError: \(error)")
        }
    }

    /// Every event of `source` is in the destination (once, when asked),
    /// and each key's events are in position order.
    private func expectComplete(_ destination: any ConformanceDestination, source: MemorySource, exactlyOnce: Bool) throws {
        let stored = try destination.storedEvents()
        var counts: [Position: Int] = [:]
        for event in stored { counts[event.position, default: 0] += 1 }
        for event in source.events {
            let count = counts[event.position] ?? 0
            if count == 0 { throw ConformanceFailure("event \(event.position) is missing from the destination") }
            if exactlyOnce && count > 1 { throw ConformanceFailure("event \(event.position) is in the destination \(count) times") }
        }
        if counts.count != source.events.count {
            throw ConformanceFailure("the destination holds \(counts.count) distinct events, the source sent \(source.events.count)")
        }
        // Per key, first occurrences in position order (replays of an at-least-once sink aside).
        var seen: Set<Position> = []
        var lastByKey: [String: Position] = [:]
        for event in stored where seen.insert(event.position).inserted {
            if let last = lastByKey[event.key], event.position < last {
                throw ConformanceFailure("key \(event.key): \(event.position) arrived after \(last)")
            }
            lastByKey[event.key] = event.position
        }
    }
}

/// Passes writes through until `crashAfterEvents` were written, then fails
/// every call as a crashed process would stop making them.
final class CrashingSink: Sink {
    static let message = "simulated crash"
    private let inner: any Sink
    private let limit: Int
    private let written = Mutex(0)

    init(_ inner: any Sink, crashAfterEvents limit: Int) {
        self.inner = inner
        self.limit = limit
    }

    private var crashed: Bool { written.withLock { $0 >= limit } }

    func open() async throws -> SinkPosition { try await inner.open() }

    func write(_ batch: EventBatch) async throws {
        if crashed { throw SiphonError(.sink, Self.message) }
        try await inner.write(batch)
        written.withLock { $0 += batch.count }
    }

    func flush() async throws -> Position? {
        if crashed { throw SiphonError(.sink, Self.message) }
        return try await inner.flush()
    }

    func close() async throws { try await inner.close() }
    var flushesAlongsideWrites: Bool { inner.flushesAlongsideWrites }
}
