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
    /// transactions does not cost an fsync each. The sink shares the
    /// pipeline's thread with the source, so an fsync holds the source up for
    /// its duration: once a second keeps that off all but a few events.
    public var flushInterval: Duration = .seconds(1)
    /// Flush and checkpoint at least every this many events (batches that
    /// are not `resumable` excepted, see `EventBatch.resumable`).
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
/// another thread.
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

    private func drain(_ queue: EventQueue, resumingAfter resume: Position?) async throws {
        var written = resume
        var durable = resume
        var pending = 0
        let clock = ContinuousClock()
        var lastFlush = clock.now
        var lastResumable = true
        var stats = ProgressStats(start: clock.now)

        func checkpoint() async throws {
            guard let position = written, position != durable else { return }
            try await sink.flush()
            try checkpoints.save(position)
            durable = position
            pending = 0
            lastFlush = clock.now
            source.acknowledge(position)
        }

        while true {
            let incoming: EventBatch
            if written != durable {
                // After a batch that is not resumable, only a quiet source
                // (no batch for a whole interval) is a reason to flush.
                let deadline = (lastResumable ? lastFlush : clock.now) + options.flushInterval
                switch await queue.next(until: deadline) {
                case .batch(let batch): incoming = batch
                case .finished: try await checkpoint(); return
                case .timedOut:
                    try await checkpoint()
                    continue
                }
            } else {
                guard let batch = await queue.next() else { break }
                if durable == written { lastFlush = clock.now }
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
            if let interval = options.statsInterval, clock.now - stats.since >= interval {
                let seconds = Double((clock.now - stats.since).components.seconds) + Double((clock.now - stats.since).components.attoseconds) / 1e18
                logger.info("progress", metadata: [
                    "events": "\(stats.events)", "per_second": "\(Int(Double(stats.events) / max(seconds, 0.001)))",
                    "mb": "\(stats.bytes / 1_000_000)", "total_events": "\(stats.totalEvents)",
                    "checkpoint": "\(durable?.description ?? "none")",
                ])
                stats.reset(at: clock.now)
            }
            if lastResumable, pending >= options.flushEvents || clock.now - lastFlush >= options.flushInterval {
                try await checkpoint()
            }
        }
        try await checkpoint()
    }
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
