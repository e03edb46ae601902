import SiphonCore

/// The `sink:` keys of a `type: sqlite` sink.
public struct SQLiteSinkConfiguration: Sendable, Equatable {
    /// The target database file (`sink.path`), created when missing.
    public var path: String
    /// Source `schema.table` to target table name (`sink.tables`). SQLite
    /// has one namespace: the default is the source table's name alone.
    public var tables: [String: String]
    /// Create missing tables from schema-change events (`sink.create_tables`).
    public var createTables: Bool
    /// Events per target transaction at most, and per chunk of a larger
    /// source transaction (`sink.batch_max_events`).
    public var batchMaxEvents: Int
    /// How long complete source transactions wait to be committed at most (`sink.batch_max_delay`).
    public var batchMaxDelay: Duration

    public init(path: String, tables: [String: String] = [:], createTables: Bool = true, batchMaxEvents: Int = 10_000,
                batchMaxDelay: Duration = .milliseconds(500)) {
        self.path = path
        self.tables = tables
        self.createTables = createTables
        self.batchMaxEvents = batchMaxEvents
        self.batchMaxDelay = batchMaxDelay
    }

    /// The target table of source table `source`.
    public func targetTable(for source: TableName) -> String {
        tables[source.description] ?? source.name
    }
}
