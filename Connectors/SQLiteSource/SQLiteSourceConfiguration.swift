import SiphonCore

/// The `source:` keys of a `type: sqlite` pipeline.
public struct SQLiteSourceConfiguration: Sendable {
    public enum SnapshotMode: String, Sendable {
        /// Read every captured table's rows when it starts being captured.
        case initial
        /// Changes only.
        case never
    }

    /// The database file; it must exist (Siphon never creates one).
    public var path: String
    /// Include patterns on table names, `*` as wildcard.
    public var tables: [String]
    public var snapshot: SnapshotMode
    /// Switch a database in another journal mode to WAL instead of refusing it.
    public var enableWAL: Bool
    /// How often `PRAGMA data_version` is checked when no file event came
    /// (the safety net behind inotify, and the only mechanism without it).
    public var pollInterval: Duration
    /// How long to keep retrying while the application holds a lock Siphon
    /// needs (installing triggers, cleanup) before logging a warning.
    public var busyTimeout: Duration
    /// Changelog rows read per query.
    public var batchSize: Int
    /// Acknowledged changelog rows deleted per (short) write transaction.
    public var cleanupBatch: Int

    public init(path: String, tables: [String] = ["*"], snapshot: SnapshotMode = .initial, enableWAL: Bool = false,
                pollInterval: Duration = .milliseconds(100), busyTimeout: Duration = .seconds(5),
                batchSize: Int = 5_000, cleanupBatch: Int = 5_000) {
        self.path = path
        self.tables = tables
        self.snapshot = snapshot
        self.enableWAL = enableWAL
        self.pollInterval = pollInterval
        self.busyTimeout = busyTimeout
        self.batchSize = batchSize
        self.cleanupBatch = cleanupBatch
    }
}

extension SQLiteSourceConfiguration {
    /// Reads and validates the `source:` mapping, reporting every problem
    /// with its key path. Returns nil when something is wrong.
    public init?(reading reader: ConfigReader) {
        let path = reader.requiredString("path")
        let tables = reader.stringList("tables", default: ["*"])
        let snapshot = reader.choice("snapshot", allowed: ["initial", "never"], default: "initial")
        let enableWAL = reader.bool("enable_wal", default: false)
        let pollInterval = reader.duration("poll_interval", default: .milliseconds(100))
        let busyTimeout = reader.duration("busy_timeout", default: .seconds(5))
        let batchSize = reader.int("batch_size", default: 5_000, range: 1...1_000_000)
        let cleanupBatch = reader.int("cleanup_batch", default: 5_000, range: 1...1_000_000)
        reader.finish()
        var valid = path != nil
        if let path, path.isEmpty {
            reader.report("path", "must name the SQLite database file")
            valid = false
        }
        if tables.isEmpty {
            reader.report("tables", "must list at least one pattern such as \"*\"")
            valid = false
        }
        for (index, pattern) in tables.enumerated() where pattern.isEmpty {
            reader.report("tables[\(index)]", "must be a table name with * wildcards")
            valid = false
        }
        if pollInterval <= .zero || pollInterval > .seconds(60) {
            reader.report("poll_interval", "must be between 1ms and 60s")
            valid = false
        }
        guard valid, let path else { return nil }
        self.init(path: path, tables: tables, snapshot: SnapshotMode(rawValue: snapshot) ?? .initial,
                  enableWAL: enableWAL, pollInterval: pollInterval, busyTimeout: busyTimeout,
                  batchSize: batchSize, cleanupBatch: cleanupBatch)
    }
}
