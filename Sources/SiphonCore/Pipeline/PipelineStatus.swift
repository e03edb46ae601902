import Metrics
import Synchronization

/// What a pipeline is doing, for `/status` and `/readyz`: updated by the
/// pipeline as it goes, read by anyone.
public struct PipelineStatus: Sendable {
    public enum State: String, Sendable {
        /// Opening the sink, deciding where to resume, connecting.
        case starting
        /// Waiting for the lease (`lease:`) that another instance holds.
        case standby
        /// Events flow (or would, if the source had any).
        case running
        /// Waiting to restart after a failure that may pass.
        case backoff
        /// Stopped after SIGTERM or SIGINT.
        case stopped
        /// Stopped on an error a person must fix.
        case failed
    }

    public var name: String
    public var state: State = .starting
    /// Restarts after transient failures since the process started.
    public var restarts = 0
    /// The last failure's message and kind (`SiphonError.code`); never a secret.
    public var lastError: String?
    public var lastErrorKind: String?
    /// Where this run resumed (nil: from the beginning).
    public var resumedAfter: Position?
    /// The last position written to the sink, and the last checkpointed
    /// (durable in the sink, acknowledged to the source), with its time.
    public var written: Position?
    public var checkpoint: Position?
    public var checkpointUnixMillis: Int64?
    public var eventsWritten: Int64 = 0
    public var bytesWritten: Int64 = 0
    /// What the source reports of itself (positions, reconnects, snapshot
    /// progress), when it does (`ReportsSourceActivity`).
    public var source: SourceActivity.Report?

    /// Ready: running, or a healthy standby (`lease:`), and not waiting
    /// out a failure. A standby is ready so that a pod running it as a
    /// sidecar is not taken out of service for being second.
    public var isReady: Bool { state == .running || state == .standby }
}

/// `siphon_commit_to_sink_seconds`, a histogram whose buckets the
/// executable passes to its metrics backend.
public enum CommitToSinkMetric {
    public static let label = "siphon_commit_to_sink_seconds"
    /// 1 ms to a minute.
    public static let buckets: [Duration] = [
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
        .seconds(10), .seconds(30), .seconds(60),
    ]
}

/// The pipeline's status and its metrics (swift-metrics; the executable
/// chooses the backend).
final class PipelineMonitor: Sendable {
    private let status: Mutex<PipelineStatus>
    private let events: Counter
    private let bytes: Counter
    private let batches: Counter
    private let restarts: Counter
    private let checkpointTime: Gauge
    private let ready: Gauge
    private let name: String
    /// `siphon_events_total` and `siphon_bytes_total{pipeline, op, table}`, made on first use.
    private let perTable = Mutex<[TableCounterKey: (events: Counter, bytes: Counter)]>([:])
    /// `siphon_pipeline_retries_total{pipeline, kind}`, made on first use.
    private let retriesByKind = Mutex<[String: Counter]>([:])
    private let sourceActivity: SourceActivity?
    /// `siphon_commit_to_sink_seconds`: from the source's commit to the
    /// sink's flush, one observation per written batch once it is durable.
    private let commitToSink: Timer
    /// Written batches not yet durable: their last position and commit time.
    private let awaitingDurability = Mutex<[(position: Position, commitUnixMillis: Int64)]>([])
    /// More batches than this between two checkpoints are not timed (a
    /// checkpoint comes every `flushEvents` events, so only tiny batches
    /// could get there); it keeps the list from growing without bound.
    private static let awaitingLimit = 4096

    private struct TableCounterKey: Hashable {
        var op: Operation
        var table: TableName?
    }

    init(name: String, source: SourceActivity? = nil) {
        self.name = name
        sourceActivity = source
        status = Mutex(PipelineStatus(name: name))
        let dimensions = [("pipeline", name)]
        commitToSink = Timer(label: CommitToSinkMetric.label, dimensions: dimensions)
        events = Counter(label: "siphon_events_written_total", dimensions: dimensions)
        bytes = Counter(label: "siphon_bytes_written_total", dimensions: dimensions)
        batches = Counter(label: "siphon_batches_written_total", dimensions: dimensions)
        restarts = Counter(label: "siphon_pipeline_restarts_total", dimensions: dimensions)
        checkpointTime = Gauge(label: "siphon_checkpoint_timestamp_seconds", dimensions: dimensions)
        ready = Gauge(label: "siphon_pipeline_ready", dimensions: dimensions)
    }

    var current: PipelineStatus {
        var current = status.withLock { $0 }
        current.source = sourceActivity?.current
        return current
    }

    func state(_ state: PipelineStatus.State) {
        status.withLock { $0.state = state }
        ready.record(state == .running || state == .standby ? 1 : 0)
    }

    func resumed(after position: Position?) {
        status.withLock {
            $0.resumedAfter = position
            $0.state = .running
        }
        // What the last run wrote and did not make durable is written again.
        awaitingDurability.withLock { $0.removeAll() }
        ready.record(1)
    }

    func failed(_ error: SiphonError, restarting: Bool) {
        status.withLock {
            $0.lastError = error.message
            $0.lastErrorKind = error.code.rawValue
            $0.state = restarting ? .backoff : .failed
            if restarting { $0.restarts += 1 }
        }
        if restarting {
            restarts.increment()
            let kind = error.code.rawValue
            retriesByKind.withLock { counters in
                let counter = counters[kind] ?? Counter(label: "siphon_pipeline_retries_total",
                                                        dimensions: [("pipeline", name), ("kind", kind)])
                counters[kind] = counter
                return counter
            }.increment()
        }
        ready.record(0)
    }

    func wrote(_ batch: EventBatch) {
        status.withLock {
            $0.written = batch.lastPosition
            $0.eventsWritten += Int64(batch.count)
            $0.bytesWritten += Int64(batch.byteCount)
        }
        events.increment(by: batch.count)
        bytes.increment(by: batch.byteCount)
        batches.increment()
        countPerTable(batch)
        if let commit = batch.commitUnixMillis, let last = batch.lastPosition {
            awaitingDurability.withLock {
                if $0.count < Self.awaitingLimit { $0.append((last, commit)) }
            }
        }
    }

    /// Runs of one op and table are counted together: a batch is mostly a
    /// few of them, so this costs a comparison per event, not a lookup.
    private func countPerTable(_ batch: EventBatch) {
        var runs: [(key: TableCounterKey, count: Int, bytes: Int)] = []
        for event in batch.events {
            let key = TableCounterKey(op: event.op, table: event.table)
            // The line and its newline, as `siphon_bytes_written_total` counts them.
            let bytes = event.line.count + 1
            if let last = runs.indices.last, runs[last].key == key {
                runs[last].count += 1
                runs[last].bytes += bytes
            } else {
                runs.append((key, 1, bytes))
            }
        }
        perTable.withLock { counters in
            for run in runs {
                let pair = counters[run.key] ?? {
                    let dimensions = [
                        ("pipeline", name), ("op", run.key.op == .schemaChange ? "schema" : run.key.op.rawValue),
                        ("table", run.key.table?.description ?? ""),
                    ]
                    let made = (Counter(label: "siphon_events_total", dimensions: dimensions),
                                Counter(label: "siphon_bytes_total", dimensions: dimensions))
                    counters[run.key] = made
                    return made
                }()
                pair.events.increment(by: run.count)
                pair.bytes.increment(by: run.bytes)
            }
        }
    }

    func checkpointed(_ position: Position) {
        let now = Clock.unixMillis()
        status.withLock {
            $0.checkpoint = position
            $0.checkpointUnixMillis = now
        }
        checkpointTime.record(Double(now) / 1000)
        let durable = awaitingDurability.withLock { awaiting in
            let count = awaiting.prefix { $0.position <= position }.count
            defer { awaiting.removeFirst(count) }
            return awaiting.prefix(count).map(\.commitUnixMillis)
        }
        for commit in durable {
            // A commit clock ahead of this one is no negative latency.
            commitToSink.recordMilliseconds(max(0, now - commit))
        }
    }
}
