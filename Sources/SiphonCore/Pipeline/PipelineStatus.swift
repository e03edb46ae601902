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

    /// Ready: running, or a healthy standby (`lease:`), and not waiting
    /// out a failure. A standby is ready so that a pod running it as a
    /// sidecar is not taken out of service for being second.
    public var isReady: Bool { state == .running || state == .standby }
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
    /// `siphon_events_total{pipeline, op, table}`, made on first use.
    private let perTable = Mutex<[TableCounterKey: Counter]>([:])

    private struct TableCounterKey: Hashable {
        var op: Operation
        var table: TableName?
    }

    init(name: String) {
        self.name = name
        status = Mutex(PipelineStatus(name: name))
        let dimensions = [("pipeline", name)]
        events = Counter(label: "siphon_events_written_total", dimensions: dimensions)
        bytes = Counter(label: "siphon_bytes_written_total", dimensions: dimensions)
        batches = Counter(label: "siphon_batches_written_total", dimensions: dimensions)
        restarts = Counter(label: "siphon_pipeline_restarts_total", dimensions: dimensions)
        checkpointTime = Gauge(label: "siphon_checkpoint_timestamp_seconds", dimensions: dimensions)
        ready = Gauge(label: "siphon_pipeline_ready", dimensions: dimensions)
    }

    var current: PipelineStatus { status.withLock { $0 } }

    func state(_ state: PipelineStatus.State) {
        status.withLock { $0.state = state }
        ready.record(state == .running || state == .standby ? 1 : 0)
    }

    func resumed(after position: Position?) {
        status.withLock {
            $0.resumedAfter = position
            $0.state = .running
        }
        ready.record(1)
    }

    func failed(_ error: SiphonError, restarting: Bool) {
        status.withLock {
            $0.lastError = error.message
            $0.lastErrorKind = error.code.rawValue
            $0.state = restarting ? .backoff : .failed
            if restarting { $0.restarts += 1 }
        }
        if restarting { restarts.increment() }
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
    }

    /// Runs of one op and table are counted together: a batch is mostly a
    /// few of them, so this costs a comparison per event, not a lookup.
    private func countPerTable(_ batch: EventBatch) {
        var runs: [(key: TableCounterKey, count: Int)] = []
        for event in batch.events {
            let key = TableCounterKey(op: event.op, table: event.table)
            if let last = runs.indices.last, runs[last].key == key {
                runs[last].count += 1
            } else {
                runs.append((key, 1))
            }
        }
        perTable.withLock { counters in
            for run in runs {
                let counter = counters[run.key] ?? {
                    let made = Counter(label: "siphon_events_total", dimensions: [
                        ("pipeline", name), ("op", run.key.op == .schemaChange ? "schema" : run.key.op.rawValue),
                        ("table", run.key.table?.description ?? ""),
                    ])
                    counters[run.key] = made
                    return made
                }()
                counter.increment(by: run.count)
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
    }
}
