import SiphonCore

/// The `source:` keys of a `type: postgres` pipeline.
public struct PostgresSourceConfiguration: Sendable {
    public enum SnapshotMode: String, Sendable {
        /// On first start, read every captured table in a snapshot consistent with the slot.
        case initial
        /// Stream changes only, from the slot's position.
        case never
    }

    /// A libpq conninfo string or `postgres://` URL (holds the password: never log it).
    public var url: String
    public var slot: String
    /// Defaults to the slot name.
    public var publication: String
    public var tables: [String]
    public var snapshot: SnapshotMode
    /// How often a standby status update is sent when nothing else prompts one.
    public var statusInterval: Duration
    /// Ask PostgreSQL 14+ to stream large in-progress transactions (protocol 2);
    /// they are spilled to the state folder until they commit.
    public var streaming: Bool
    /// Ask PostgreSQL 14+ for values in their binary send format instead of
    /// text (less work for the server and for Siphon); the events are the
    /// same. Used only when every captured column's type has a binary
    /// decoder; otherwise, or if the stream brings one that has not, values
    /// stream as text. On by default.
    public var binary: Bool
    /// Capture logical decoding messages (`pg_logical_emit_message`) as
    /// `op: "m"` events (`source.messages`, PostgreSQL 14+).
    public var messages: Bool = true
    /// Pause before the first reconnect; doubles up to `maxRetryDelay`. At
    /// least 10ms when read from a pipeline file.
    public var retryDelay: Duration
    /// At least `retryDelay` when read from a pipeline file.
    public var maxRetryDelay: Duration
    /// `source.heartbeat`: a statement run on the source every `interval`
    /// while streaming, so the slot advances on servers where the WAL end
    /// keepalives report is not enough (see `Heartbeat`); nil: none.
    public var heartbeat: Heartbeat?
    /// `source.max_lag`: WAL the slot may hold back (bytes) before Siphon
    /// warns, once per check; nil: no check. It never drops the slot.
    public var maxLagBytes: Int64?

    /// What `source.heartbeat` runs, and how often.
    public struct Heartbeat: Sendable, Equatable {
        /// Written by the default heartbeat: a non-transactional logical
        /// message that Siphon drops instead of turning into an event.
        public static let messagePrefix = "siphon-heartbeat"
        public static let defaultQuery = "SELECT pg_logical_emit_message(false, '\(messagePrefix)', '')"

        public var interval: Duration
        /// The statement, run on a normal connection to the source database
        /// (Debezium's `heartbeat.action.query`).
        public var query: String

        public init(interval: Duration, query: String = Heartbeat.defaultQuery) {
            self.interval = interval
            self.query = query
        }
    }

    public init(url: String, slot: String, publication: String? = nil, tables: [String] = ["public.*"],
                snapshot: SnapshotMode = .initial, statusInterval: Duration = .seconds(10), streaming: Bool = true,
                binary: Bool = true, retryDelay: Duration = .milliseconds(500), maxRetryDelay: Duration = .seconds(30)) {
        self.url = url
        self.slot = slot
        self.publication = publication ?? slot
        self.tables = tables
        self.snapshot = snapshot
        self.statusInterval = statusInterval
        self.streaming = streaming
        self.binary = binary
        self.retryDelay = retryDelay
        self.maxRetryDelay = maxRetryDelay
    }
}
