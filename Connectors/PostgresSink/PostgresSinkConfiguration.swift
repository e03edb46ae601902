import SiphonCore

/// The `sink:` keys of a `type: postgres` sink.
public struct PostgresSinkConfiguration: Sendable, Equatable {
    /// `sink.replication_role`.
    public enum ReplicationRole: String, Sendable, CaseIterable {
        /// Target triggers and foreign keys fire as for any client.
        case origin
        /// `session_replication_role = replica`: ordinary triggers and
        /// foreign-key checks do not fire (superuser only).
        case replica
    }

    /// libpq conninfo or `postgres://` URL (`sink.url`). May hold the
    /// password: never log or quote it.
    public var url: String
    /// The target schema (`sink.schema`); nil: each source table's own
    /// schema (`public` for an SQLite source). `_siphon_offsets` lives here,
    /// or in `public`.
    public var schema: String?
    /// Source `schema.table` to target `table` or `schema.table` (`sink.tables`).
    public var tables: [String: String]
    /// Create missing tables from schema-change events (`sink.create_tables`).
    public var createTables: Bool
    /// Events per target transaction at most, and per chunk of a larger
    /// source transaction (`sink.batch_max_events`).
    public var batchMaxEvents: Int
    /// How long complete source transactions wait to be committed at most (`sink.batch_max_delay`).
    public var batchMaxDelay: Duration
    public var replicationRole: ReplicationRole

    public init(url: String, schema: String? = nil, tables: [String: String] = [:], createTables: Bool = true,
                batchMaxEvents: Int = 10_000, batchMaxDelay: Duration = .milliseconds(500),
                replicationRole: ReplicationRole = .origin) {
        self.url = url
        self.schema = schema
        self.tables = tables
        self.createTables = createTables
        self.batchMaxEvents = batchMaxEvents
        self.batchMaxDelay = batchMaxDelay
        self.replicationRole = replicationRole
    }

    /// Where the rows of source table `source` go.
    public func targetTable(for source: TableName) -> TableName {
        let defaultSchema = schema ?? (source.schema == "main" ? "public" : source.schema)
        guard let mapped = tables[source.description] else { return TableName(schema: defaultSchema, name: source.name) }
        if let dot = mapped.firstIndex(of: ".") {
            return TableName(schema: String(mapped[..<dot]), name: String(mapped[mapped.index(after: dot)...]))
        }
        return TableName(schema: defaultSchema, name: mapped)
    }

    /// The schema of `_siphon_offsets`.
    var offsetsSchema: String { schema ?? "public" }
}
