import Logging
import Synchronization

extension Pipeline {
    /// Writes batches as they come and checkpoints them in groups.
    ///
    /// A sink that flushes alongside writes (the file sink) is flushed in
    /// `background`, on the shared pool, while this loop goes on writing:
    /// on the pipeline's thread, each fsync held up the events that arrived
    /// meanwhile (about 2 ms a second for a trickle of small transactions,
    /// which made up a third of their slowest 1%). One checkpoint runs at a
    /// time; a later one starts after it.
    func drain(_ queue: EventQueue, resumingAfter resume: Position?) async throws {
        try await withThrowingTaskGroup(of: Position?.self) { background in
            var written = resume
            /// The last position a checkpoint was made, or started, for.
            var checkpointed = resume
            /// The last position checkpointed (for the progress line).
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
                guard running != nil else { return }
                if let made = try await background.next() ?? nil { durable = made }
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
                let previous = durable
                guard sink.flushesAlongsideWrites, !last else {
                    if let made = try await makeDurable(position, after: previous) { durable = made }
                    return
                }
                let done = Flag()
                running = (done, position)
                background.addTask(executorPreference: globalConcurrentExecutor) { [self] in
                    defer { done.set() }
                    do {
                        return try await makeDurable(position, after: previous)
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
                monitor.wrote(batch)
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
final class Flag: Sendable {
    private let value = Atomic(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Counts for the periodic progress line.
struct ProgressStats {
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
