import Logging
import ServiceLifecycle
import Synchronization

/// How a pipeline batches its checkpoints.
public struct PipelineOptions: Sendable {
    /// Batches waiting between source and sink before the source is slowed down.
    public var queueCapacity: Int = 8
    /// Flush and checkpoint this long after the first unflushed event at
    /// the latest. Events reach the sink (the file) as soon as they arrive;
    /// only the fsync and the checkpoint are grouped, so a trickle of small
    /// transactions does not cost an fsync each. A sink that does not flush
    /// alongside writes shares the pipeline's thread with the source, so its
    /// flush holds the source up: once a second keeps that off all but a few
    /// events.
    public var flushInterval: Duration = .seconds(1)
    /// Flush and checkpoint every this many events (batches that are not
    /// `resumable` excepted, see `EventBatch.resumable`), or as soon as the
    /// checkpoint before is done.
    public var flushEvents: Int = 20_000
    /// Pause before reopening a sink after a transient failure (doubles, capped).
    public var retryDelay: Duration = .milliseconds(500)
    /// How often a progress line (events written, rate, checkpoint) is logged
    /// while events flow; nil: never.
    public var statsInterval: Duration? = .seconds(60)

    public init() {}
}

/// Moves events from one source to one sink, with checkpoints.
///
/// The source, the drain loop and the sink run on one thread of the
/// pipeline's own (`ThreadExecutor`): a batch reaches the sink without waking
/// another thread. The flush of a sink that flushes alongside writes runs
/// on the shared pool instead, so the source is not held up by an fsync.
///
/// The order of work is what makes delivery safe: write, `flush` (the sink
/// makes the events durable), save the checkpoint, and only then
/// `acknowledge` to the source. A crash anywhere in between replays events
/// the sink may already hold, and sinks that report their own position from
/// `open` (the file sink) drop those too.
public final class Pipeline: Service, Sendable {
    public let name: String
    private let source: any Source
    private let sink: any Sink
    private let checkpoints: CheckpointStore
    private let options: PipelineOptions
    private let logger: Logger
    private let sourceTask = Mutex<Task<Void, any Error>?>(nil)
    private let stopRequested = Mutex(false)

    public init(name: String, source: any Source, sink: any Sink, checkpoints: CheckpointStore,
                options: PipelineOptions = PipelineOptions(), logger: Logger) {
        self.name = name
        self.source = source
        self.sink = sink
        self.checkpoints = checkpoints
        self.options = options
        var logger = logger
        logger[metadataKey: "pipeline"] = .string(name)
        self.logger = logger
    }

    /// Runs until the source fails for good or a graceful shutdown (SIGTERM)
    /// is requested; then drains the queue, flushes the sink, checkpoints
    /// and returns.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await runPipeline()
            } onCancel: {
                self.stop()
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// Asks the source to stop; the pipeline then drains and returns.
    public func stop() {
        stopRequested.withLock { $0 = true }
        sourceTask.withLock { $0?.cancel() }
    }

    private func runPipeline() async throws {
        let thread = ThreadExecutor(name: "siphon \(name)")
        defer { thread.shutdown() }
        try await withTaskExecutorPreference(thread) {
            try await runPipeline(on: thread)
        }
    }

    private func runPipeline(on thread: ThreadExecutor) async throws {
        let sinkPosition = try await sink.open()
        let stored = try checkpoints.load()?.position
        let resume = [sinkPosition, stored].compactMap { $0 }.max()
        logger.info("pipeline starting", metadata: [
            "resume_after": .string(resume?.description ?? "beginning"),
            "checkpoint": .string(stored?.description ?? "none"),
            "sink_position": .string(sinkPosition?.description ?? "none"),
        ])
        if let resume, resume != stored {
            // The sink holds more than the checkpoint says (a crash between
            // the sink's fsync and the checkpoint): catch the checkpoint up.
            try checkpoints.save(resume)
        }
        if let resume { source.acknowledge(resume) }

        let queue = EventQueue(capacity: options.queueCapacity)
        let source = self.source
        let task = Task(executorPreference: thread) {
            defer { queue.finish() }
            try await source.run(resumingAfter: resume, output: queue)
        }
        sourceTask.withLock { $0 = task }
        if stopRequested.withLock({ $0 }) { task.cancel() }

        var drainError: (any Error)?
        do {
            try await drain(queue, resumingAfter: resume)
        } catch {
            drainError = error
            task.cancel()
        }
        let sourceResult = await task.result
        try? await sink.close()
        if let drainError { throw drainError }
        switch sourceResult {
        case .success: break
        case .failure(let error) where error is CancellationError: break
        case .failure(let error): throw error
        }
        logger.info("pipeline stopped")
    }

    /// Writes batches as they come and checkpoints them in groups.
    ///
    /// A sink that flushes alongside writes (the file sink) is flushed in
    /// `background`, on the shared pool, while this loop goes on writing:
    /// on the pipeline's thread, each fsync held up the events that arrived
    /// meanwhile (about 2 ms a second for a trickle of small transactions,
    /// which made up a third of their slowest 1%). One checkpoint runs at a
    /// time; a later one starts after it.
    private func drain(_ queue: EventQueue, resumingAfter resume: Position?) async throws {
        try await withThrowingTaskGroup(of: Void.self) { background in
            var written = resume
            /// The last position a checkpoint was made, or started, for.
            var checkpointed = resume
            /// The last position whose checkpoint is made (for the progress line).
            var durable = resume
            /// The checkpoint running in `background`: its flag is set once it is over.
            var running: (done: Flag, position: Position)?
            var pending = 0
            let clock = ContinuousClock()
            var lastFlush = clock.now
            var lastResumable = true
            var stats = ProgressStats(start: clock.now)

            /// Takes the outcome of the checkpoint running in `background`,
            /// waiting for it if it is not over, and throws its error.
            func collect() async throws {
                guard let checkpoint = running else { return }
                try await background.next()
                durable = checkpoint.position
                running = nil
            }

            /// Checkpoints what is written, after the running checkpoint.
            /// The last one (the pipeline stops) is made here, not in the background.
            func checkpoint(last: Bool = false) async throws {
                try await collect()
                guard let position = written, position != checkpointed else { return }
                checkpointed = position
                pending = 0
                lastFlush = clock.now
                guard sink.flushesAlongsideWrites, !last else {
                    try await makeDurable(position)
                    durable = position
                    return
                }
                let done = Flag()
                running = (done, position)
                background.addTask(executorPreference: globalConcurrentExecutor) { [self] in
                    defer { done.set() }
                    do {
                        try await makeDurable(position)
                    } catch {
                        queue.finish()  // wakes this loop, which collects the error
                        throw error
                    }
                }
            }

            while true {
                // A finished checkpoint is taken without waiting; checked
                // here so that most batches make no async call for it.
                if running?.done.isSet == true { try await collect() }
                let incoming: EventBatch
                if written != checkpointed {
                    // After a batch that is not resumable, only a quiet source
                    // (no batch for a whole interval) is a reason to flush.
                    let deadline = (lastResumable ? lastFlush : clock.now) + options.flushInterval
                    switch await queue.next(until: deadline) {
                    case .batch(let batch): incoming = batch
                    case .finished: try await checkpoint(last: true); return
                    case .timedOut:
                        try await checkpoint()
                        continue
                    }
                } else {
                    guard let batch = await queue.next() else { break }
                    lastFlush = clock.now
                    incoming = batch
                }
                var batch = incoming
                if let written, let first = batch.events.first?.position, first <= written {
                    batch = batch.suffix(after: written)
                    if batch.isEmpty { continue }
                }
                try await sink.write(batch)
                written = batch.lastPosition
                lastResumable = batch.resumable
                pending += batch.count
                stats.record(events: batch.count, bytes: batch.byteCount)
                let now = clock.now
                if let interval = options.statsInterval, now - stats.since >= interval {
                    logProgress(&stats, checkpoint: durable, now: now)
                }
                // While a checkpoint runs, writing goes on; the next starts after it.
                if lastResumable, running == nil,
                   pending >= options.flushEvents || now - lastFlush >= options.flushInterval {
                    try await checkpoint()
                }
            }
            try await checkpoint(last: true)
        }
    }

    /// The order that makes delivery safe: the sink makes the events
    /// durable, the checkpoint is saved, and only then does the source hear.
    private func makeDurable(_ position: Position) async throws {
        try await sink.flush()
        try checkpoints.save(position)
        source.acknowledge(position)
    }

    private func logProgress(_ stats: inout ProgressStats, checkpoint: Position?, now: ContinuousClock.Instant) {
        let elapsed = now - stats.since
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        logger.info("progress", metadata: [
            "events": "\(stats.events)", "per_second": "\(Int(Double(stats.events) / max(seconds, 0.001)))",
            "mb": "\(stats.bytes / 1_000_000)", "total_events": "\(stats.totalEvents)",
            "checkpoint": "\(checkpoint?.description ?? "none")",
        ])
        stats.reset(at: now)
    }
}

/// A one-way switch another task can set.
private final class Flag: Sendable {
    private let value = Atomic(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Counts for the periodic progress line.
private struct ProgressStats {
    var since: ContinuousClock.Instant
    var events = 0
    var bytes = 0
    var totalEvents = 0

    init(start: ContinuousClock.Instant) { since = start }

    mutating func record(events count: Int, bytes size: Int) {
        events += count
        bytes += size
        totalEvents += count
    }

    mutating func reset(at now: ContinuousClock.Instant) {
        since = now
        events = 0
        bytes = 0
    }
}
