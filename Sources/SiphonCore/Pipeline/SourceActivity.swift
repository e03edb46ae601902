import Metrics
import Synchronization

/// A source that tells what it does besides delivering events
/// (reconnects, positions, snapshot progress): the pipeline shows it in
/// `/status`, and its metrics go through swift-metrics.
public protocol ReportsSourceActivity: Source {
    var activity: SourceActivity { get }
}

/// What a source reports about itself, for `/status` and `/metrics`.
///
/// Every call is cheap (a lock, a metric store) and may come from any
/// thread; a source calls it at most once per batch or per timer tick.
/// Positions are the source's own numbers (the PostgreSQL LSN, the SQLite
/// changelog sequence), so that they can be subtracted.
public final class SourceActivity: Sendable {
    /// What `/status` shows under `source`.
    public struct Report: Sendable {
        /// The furthest position read from the database.
        public var received: UInt64?
        /// The furthest position the sink made durable (as the source was told).
        public var durable: UInt64?
        /// The furthest position the database was allowed to forget (the
        /// slot's confirmed LSN, the changelog rows deleted).
        public var acknowledged: UInt64?
        /// Reconnects after transient failures, and the last one's cause.
        public var reconnects = 0
        public var lastReconnectError: String?
        public var lastReconnectErrorKind: String?
        /// Per table, in the order their snapshot started.
        public var snapshot: [TableProgress] = []
        /// Bytes of log the source's database keeps for it (PostgreSQL: the
        /// slot's retained WAL) and that log's state (`wal_status`).
        public var retainedLogBytes: Int64?
        public var logStatus: String?
        /// Changelog rows the sink does not hold yet (SQLite).
        public var backlog: Int64?
    }

    public struct TableProgress: Sendable {
        public var table: String
        public var rowsDone: Int64
        /// An estimate while the table is read (nil when the database has
        /// none), exact once it is done.
        public var rowsTotal: Int64?
        public var done: Bool
    }

    private let pipeline: String
    private let report = Mutex(Report())
    private let received: Gauge
    private let durable: Gauge
    private let acknowledged: Gauge
    private let reconnectCounters = Mutex<[String: Counter]>([:])
    private let snapshotGauges = Mutex<[String: (done: Gauge, total: Gauge)]>([:])
    private let backlogGauge: Gauge?

    /// `backlogLabel`: the metric of `backlog` (`siphon_sqlite_changelog_backlog`),
    /// for a source that has one.
    public init(pipeline: String, backlogLabel: String? = nil) {
        self.pipeline = pipeline
        let dimensions = [("pipeline", pipeline)]
        backlogGauge = backlogLabel.map { Gauge(label: $0, dimensions: dimensions) }
        received = Gauge(label: "siphon_source_position_received", dimensions: dimensions)
        durable = Gauge(label: "siphon_source_position_durable", dimensions: dimensions)
        acknowledged = Gauge(label: "siphon_source_position_acknowledged", dimensions: dimensions)
    }

    public var current: Report { report.withLock { $0 } }

    /// The source lost its connection (or database) to a transient
    /// failure and is about to try again.
    public func reconnecting(after error: SiphonError) {
        let kind = error.code.rawValue
        report.withLock {
            $0.reconnects += 1
            $0.lastReconnectError = error.message
            $0.lastReconnectErrorKind = kind
        }
        reconnectCounters.withLock { counters in
            let counter = counters[kind] ?? Counter(label: "siphon_source_reconnects_total",
                                                    dimensions: [("pipeline", pipeline), ("kind", kind)])
            counters[kind] = counter
            return counter
        }.increment()
    }

    public func received(_ position: UInt64) {
        report.withLock { $0.received = position }
        received.record(Double(position))
    }

    public func durable(_ position: UInt64) {
        report.withLock { $0.durable = position }
        durable.record(Double(position))
    }

    public func acknowledged(_ position: UInt64) {
        report.withLock { $0.acknowledged = position }
        acknowledged.record(Double(position))
    }

    /// The retained log and its state, read by the source on a slow timer
    /// (it records its own metric: it knows the slot's name).
    public func retainedLog(bytes: Int64?, status: String?) {
        report.withLock {
            $0.retainedLogBytes = bytes
            $0.logStatus = status
        }
    }

    public func backlog(_ rows: Int64) {
        report.withLock { $0.backlog = rows }
        backlogGauge?.record(rows)
    }

    /// A table's snapshot read `rowsDone` rows so far, of about `rowsTotal`;
    /// `done`: all of them (the total is then `rowsDone`).
    public func snapshot(table: String, rowsDone: Int64, rowsTotal: Int64?, done: Bool = false) {
        let total = done ? rowsDone : rowsTotal
        report.withLock { report in
            let progress = TableProgress(table: table, rowsDone: rowsDone, rowsTotal: total, done: done)
            if let index = report.snapshot.firstIndex(where: { $0.table == table }) {
                report.snapshot[index] = progress
            } else {
                report.snapshot.append(progress)
            }
        }
        let gauges = snapshotGauges.withLock { gauges in
            let made = gauges[table] ?? (
                Gauge(label: "siphon_snapshot_rows_done", dimensions: [("pipeline", pipeline), ("table", table)]),
                Gauge(label: "siphon_snapshot_rows_total", dimensions: [("pipeline", pipeline), ("table", table)]))
            gauges[table] = made
            return made
        }
        gauges.done.record(rowsDone)
        if let total { gauges.total.record(total) }
    }
}
