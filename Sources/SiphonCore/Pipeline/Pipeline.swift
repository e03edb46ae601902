import Logging
import ServiceLifecycle
import Synchronization

/// How a pipeline batches its checkpoints and restarts after failures.
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
    /// Pause before restarting the pipeline after a transient failure
    /// (`retry_delay`); doubles after each failed attempt ...
    public var retryDelay: Duration = .milliseconds(500)
    /// ... up to this (`max_retry_delay`).
    public var maxRetryDelay: Duration = .seconds(30)
    /// How often a progress line (events written, rate, checkpoint) is logged
    /// while events flow; nil: never.
    public var statsInterval: Duration? = .seconds(60)
    /// `lease:`: the pipeline runs only while this process holds it, and
    /// waits as a standby otherwise, trying every `leaseRetryInterval`.
    public var lease: (any Lease)?
    public var leaseRetryInterval: Duration = .seconds(2)

    public init() {}
}

/// Moves events from one source to one sink, with checkpoints, and keeps
/// doing so through failures.
///
/// The source, the drain loop and the sink run on one thread of the
/// pipeline's own (`ThreadExecutor`): a batch reaches the sink without waking
/// another thread. The flush of a sink that flushes alongside writes runs
/// on the shared pool instead, so the source is not held up by an fsync.
///
/// The order of work is what makes delivery safe: write, `flush` (the sink
/// makes the events durable), save the checkpoint, and only then
/// `acknowledge` to the source. A crash anywhere in between replays events
/// the sink may already hold, and sinks that track their position (the file
/// sink) drop those too.
///
/// Supervision: a transient error (`SiphonError.isTransient`) from the sink
/// or the source closes both, waits (`retryDelay`, doubling up to
/// `maxRetryDelay`, back to the first delay after an attempt that ran 30 s)
/// and starts again from the checkpoint, for ever. A permanent error ends
/// this pipeline only: `run` logs one line naming the pipeline and what to
/// fix, and throws it.
///
/// With a lease (`PipelineOptions.lease`, `lease:`), all of this happens
/// only while this process holds it; otherwise the pipeline waits as a
/// standby (see `Pipeline+Lease.swift`).
public final class Pipeline: Service, Sendable {
    public let name: String
    let source: any Source
    let sink: any Sink
    let checkpoints: CheckpointStore
    let options: PipelineOptions
    let logger: Logger
    private let sourceTask = Mutex<Task<Void, any Error>?>(nil)
    private let backoff = Mutex<Task<Void, Never>?>(nil)
    private let stopRequested = Mutex(false)
    /// Set by the lease's watch when the lease is lost while the pipeline runs.
    let leaseLost = Mutex(false)
    let monitor: PipelineMonitor

    /// What the pipeline is doing now (`/status`, `/readyz`).
    public var status: PipelineStatus { monitor.current }

    public init(name: String, source: any Source, sink: any Sink, checkpoints: CheckpointStore,
                options: PipelineOptions = PipelineOptions(), logger: Logger) {
        self.name = name
        self.source = source
        self.sink = sink
        self.checkpoints = checkpoints
        self.options = options
        monitor = PipelineMonitor(name: name, source: (source as? any ReportsSourceActivity)?.activity)
        var logger = logger
        logger[metadataKey: "pipeline"] = .string(name)
        self.logger = logger
    }

    /// Runs until a graceful shutdown (SIGTERM) is requested, then drains
    /// the queue, flushes the sink, checkpoints and returns; or until a
    /// permanent error, which it logs and throws.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await supervise()
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
        backoff.withLock { $0?.cancel() }
    }

    var isStopping: Bool { stopRequested.withLock { $0 } }

    /// Ends the running attempt (its source is cancelled and the drain
    /// stops) or the pause before the next one, without stopping the pipeline.
    func interruptAttempt() {
        sourceTask.withLock { $0?.cancel() }
        backoff.withLock { $0?.cancel() }
    }

    private func supervise() async throws {
        guard let lease = options.lease else { return try await superviseAttempts() }
        try await superviseWithLease(lease)
    }

    /// Runs attempts until the pipeline stops (returns) or fails for good
    /// (throws); with a lease, also returns once the lease is lost.
    func superviseAttempts() async throws {
        let clock = ContinuousClock()
        var delay = options.retryDelay
        var attempt = 0
        while true {
            let started = clock.now
            do {
                if leaseLost.withLock({ $0 }) { return }
                monitor.state(.starting)
                try await runOnce()
                if leaseLost.withLock({ $0 }) { return }
                logger.info("pipeline stopped")
                monitor.state(.stopped)
                return
            } catch {
                let failure = Self.classify(error)
                if leaseLost.withLock({ $0 }) { return }
                guard failure.isTransient, !isStopping else {
                    logger.error("pipeline \(name) stopped: \(failure.message)")
                    monitor.failed(failure, restarting: false)
                    throw failure
                }
                monitor.failed(failure, restarting: true)
                if clock.now - started > .seconds(30) {
                    delay = options.retryDelay
                    attempt = 0
                }
                attempt += 1
                logger.warning("\(failure.message); restarting the pipeline from its checkpoint in \(Reconnector.format(delay)) (attempt \(attempt))", metadata: [
                    "error": .string(failure.code.rawValue), "retry_in": .string(Reconnector.format(delay)),
                ])
                await pause(delay)
                if isStopping {
                    logger.info("pipeline stopped")
                    monitor.state(.stopped)
                    return
                }
                delay = min(delay * 2, options.maxRetryDelay)
            }
        }
    }

    /// Waits `delay`, or less when the pipeline is asked to stop.
    func pause(_ delay: Duration) async {
        let task = Task { _ = try? await Task.sleep(for: delay) }
        backoff.withLock { $0 = task }
        if isStopping || leaseLost.withLock({ $0 }) { task.cancel() }
        await task.value
        backoff.withLock { $0 = nil }
    }

    /// Anything that is not a `SiphonError` is a defect, not a condition a
    /// retry could change: permanent.
    static func classify(_ error: any Error) -> SiphonError {
        if let error = error as? SiphonError { return error }
        return SiphonError(.sink, "\(error)")
    }

    /// One attempt: open the sink, decide where to resume, run the source
    /// and drain it into the sink until the source stops or something fails.
    private func runOnce() async throws {
        let thread = ThreadExecutor(name: "siphon \(name)")
        defer { thread.shutdown() }
        try await withTaskExecutorPreference(thread) {
            try await runOnce(on: thread)
        }
    }

    private func runOnce(on thread: ThreadExecutor) async throws {
        let held: SinkPosition
        do {
            held = try await sink.open()
        } catch {
            try? await sink.close()
            throw error
        }
        let plan: ResumePlan
        do {
            let stored = try checkpoints.load()?.position
            plan = try ResumePlan.decide(sink: held, checkpoint: stored, reset: try checkpoints.loadResetMarker(),
                                         sourceStateMissing: source.resumeStateMissing,
                                         stateFolder: checkpoints.directory.path)
            var metadata: Logger.Metadata = [
                "resume_after": .string(plan.resumeAfter?.description ?? "beginning"),
                "checkpoint": .string(stored?.description ?? "none"),
            ]
            if case .tracked(let last) = held { metadata["sink_position"] = .string(last?.description ?? "none") }
            logger.info("pipeline starting", metadata: metadata)
            // A position the source's log has not reached belongs to another
            // database: resuming after it, or skipping up to it, loses changes.
            if let claimed = [plan.resumeAfter, sink.highestPositionHeld].compactMap({ $0 }).max() {
                try await source.verifyProduced(claimed)
            }
            if plan.catchUpCheckpoint, let resume = plan.resumeAfter {
                // The sink holds more than the checkpoint says (a crash between
                // the sink's flush and the checkpoint): catch the checkpoint up.
                try checkpoints.save(resume)
            }
        } catch {
            try? await sink.close()
            throw error
        }
        let resume = plan.resumeAfter
        if let resume { source.acknowledge(resume) }
        monitor.resumed(after: resume)

        let queue = EventQueue(capacity: options.queueCapacity)
        let source = self.source
        let task = Task(executorPreference: thread) {
            defer { queue.finish() }
            try await source.run(resumingAfter: resume, output: queue)
        }
        sourceTask.withLock { $0 = task }
        if isStopping || leaseLost.withLock({ $0 }) { task.cancel() }

        var drainError: (any Error)?
        do {
            try await drain(queue, resumingAfter: resume)
        } catch {
            drainError = error
            task.cancel()
        }
        let sourceResult = await task.result
        sourceTask.withLock { $0 = nil }
        try? await sink.close()
        if let drainError { throw drainError }
        switch sourceResult {
        case .success: break
        case .failure(let error) where error is CancellationError: break
        case .failure(let error): throw error
        }
    }

    /// The order that makes delivery safe: the sink makes the events
    /// durable, the checkpoint is saved, and only then does the source hear.
    /// Returns the position checkpointed (what the sink made durable, at
    /// most `position`), or nil when the sink made nothing new durable.
    func makeDurable(_ position: Position, after previous: Position?) async throws -> Position? {
        guard let flushed = try await sink.flush() else { return nil }
        let durable = min(flushed, position)
        if let previous, durable <= previous { return nil }
        try checkpoints.save(durable)
        source.acknowledge(durable)
        monitor.checkpointed(durable)
        return durable
    }
}
