import Logging
import SiphonCore

/// A PostgreSQL database as an `ApplyTarget`: one connection, a cache of
/// target tables read from the catalog, and `_siphon_offsets`.
final class PostgresTarget: ApplyTarget, @unchecked Sendable {
    let configuration: PostgresSinkConfiguration
    let pipeline: String
    let logger: Logger
    private(set) var connection: TargetConnection?
    /// Target tables by target name, as last read from the catalog.
    var tables: [TableName: TargetTable] = [:]

    init(configuration: PostgresSinkConfiguration, pipeline: String, logger: Logger) {
        self.configuration = configuration
        self.pipeline = pipeline
        self.logger = logger
    }

    var offsetsTable: String { SQL.quoted(TableName(schema: configuration.offsetsSchema, name: "_siphon_offsets")) }

    func open() async throws -> Position? {
        let address = try TargetAddress(configuration.url)
        let connection = try await TargetConnection.connect(address)
        self.connection = connection
        tables = [:]
        if configuration.replicationRole == .replica {
            do {
                try await connection.query("SET session_replication_role = replica", doing: "setting session_replication_role")
            } catch let error as SiphonError where !error.isTransient {
                throw SiphonError(.sink, "PostgreSQL target at \(address.display) does not let user \(address.user) set session_replication_role (superuser only): use a superuser in sink.url or set sink.replication_role: origin")
            }
        }
        // Created only when missing: CREATE ... IF NOT EXISTS checks the
        // CREATE privilege first, which a user that only writes rows lacks.
        let offsets = TableName(schema: configuration.offsetsSchema, name: "_siphon_offsets")
        if try await !Self.exists(offsets, on: connection) {
            try await Self.createSchemaIfMissing(offsets.schema, on: connection)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS \(offsetsTable) (pipeline text PRIMARY KEY, position text NOT NULL,
                    updated_at timestamptz NOT NULL DEFAULT now())
                """, doing: "creating \(offsets)")
        }
        let stored = try await Self.readPosition(connection, table: offsetsTable, pipeline: pipeline)
        logger.info("target connected", metadata: ["target": .string(address.display),
                                                   "position": .string(stored?.description ?? "none")])
        return stored
    }

    /// The pipeline's row in `_siphon_offsets`, nil when there is none (or no table).
    static func storedPosition(_ configuration: PostgresSinkConfiguration, pipeline: String) async throws -> Position? {
        let connection = try await TargetConnection.connect(try TargetAddress(configuration.url))
        defer { connection.close() }
        let table = TableName(schema: configuration.offsetsSchema, name: "_siphon_offsets")
        guard try await exists(table, on: connection) else { return nil }
        return try await readPosition(connection, table: SQL.quoted(table), pipeline: pipeline)
    }

    static func exists(_ table: TableName, on connection: TargetConnection) async throws -> Bool {
        let rows = try await connection.query("SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL",
                                              [table.schema, table.name], doing: "looking for table \(table)")
        return rows.first?.first == "t"
    }

    static func createSchemaIfMissing(_ schema: String, on connection: TargetConnection) async throws {
        let rows = try await connection.query("SELECT to_regnamespace(format('%I', $1::text)) IS NOT NULL", [schema],
                                              doing: "looking for schema \(schema)")
        guard rows.first?.first != "t" else { return }
        try await connection.query("CREATE SCHEMA IF NOT EXISTS \(SQL.quoted(schema))", doing: "creating schema \(schema)")
    }

    static func readPosition(_ connection: TargetConnection, table: String, pipeline: String) async throws -> Position? {
        let rows = try await connection.query("SELECT position FROM \(table) WHERE pipeline = $1", [pipeline],
                                              doing: "reading _siphon_offsets")
        guard let text = rows.first?.first ?? nil else { return nil }
        guard let position = Position(text) else {
            throw SiphonError(.sink, "_siphon_offsets holds '\(text)' for pipeline \(pipeline), which is not a position: delete that row to start again from the pipeline's checkpoint")
        }
        return position
    }

    func live() throws -> TargetConnection {
        guard let connection else { throw SiphonError(.sink, "the PostgreSQL target is not connected", transient: true) }
        return connection
    }

    // The apply path sends without waiting (the connection's pipeline
    // mode): BEGIN, the set-based statements, the position and COMMIT go
    // out with one sync point per target transaction, and the target
    // executes them while the sink reads the next events. `confirm` reads
    // the outcome.

    func begin() async throws {
        try await live().send("BEGIN", [], doing: "starting a transaction")
    }

    func commit(through position: Position) async throws {
        let connection = try live()
        try await connection.send("""
            INSERT INTO \(offsetsTable) (pipeline, position) VALUES ($1, $2)
            ON CONFLICT (pipeline) DO UPDATE SET position = EXCLUDED.position, updated_at = now()
            """, [pipeline, position.description], prepare: true, doing: "recording the position in _siphon_offsets")
        try await connection.send("COMMIT", [], doing: "committing")
        try await connection.sync(doing: "committing")
    }

    func confirm() async throws {
        try await live().settle()
    }

    func rollback() async {
        if let connection {
            // The transaction's own failure, if any, was thrown already.
            try? await connection.settle()
            _ = try? await connection.query("ROLLBACK", doing: "rolling back")
        }
        // A failed statement may have left prepared statements or cached tables stale.
        tables = [:]
    }

    func close() async {
        connection?.close()
        connection = nil
        tables = [:]
    }

    func truncate(_ source: TableName) async throws {
        let name = configuration.targetTable(for: source)
        guard try await table(name) != nil else { return }
        try await live().query("TRUNCATE \(SQL.quoted(name))", doing: "truncating \(name)")
    }

    /// The target table, from the cache or the catalog.
    func table(_ name: TableName) async throws -> TargetTable? {
        if let known = tables[name] { return known }
        let loaded = try await TargetTable.load(name, on: try live())
        tables[name] = loaded
        return loaded
    }

    func apply(_ changes: ChangeSet) async throws {
        let connection = try live()
        for group in changes.tables {
            let name = configuration.targetTable(for: group.name)
            guard let table = try await table(name) else {
                throw SiphonError(.sink, "target table \(name) (for source table \(group.name)) does not exist, and no schema-change event has described it since the sink started: create it, or start the pipeline from the beginning (siphon offsets reset) so that it is created")
            }
            guard !table.primaryKey.isEmpty else {
                throw SiphonError(.sink, "target table \(name) has no primary key: the sink applies changes by key; add the source table's key (\(group.rows.first.flatMap { try? $0.key() }.map { $0.columns.names.sorted().joined(separator: ", ") } ?? "")) as its primary key")
            }
            var deletes: [RowValues] = []
            // Rows by the columns they carry, in first-seen order; rows
            // mostly carry the same column list as the row before them.
            var upserts: [(columns: ColumnList, rows: [RowValues])] = []
            var groupOf: [[String]: Int] = [:]
            for row in group.rows {
                if row.values == nil || row.deleteFirst { deletes.append(try row.key()) }
                guard let values = row.values else { continue }
                if let last = upserts.indices.last, upserts[last].columns.sameNames(as: values.columns) {
                    upserts[last].rows.append(values)
                } else if let known = groupOf[values.columns.names] {
                    upserts[known].rows.append(values)
                } else {
                    groupOf[values.columns.names] = upserts.count
                    upserts.append((values.columns, [values]))
                }
            }
            if let key = deletes.first {
                try check(key: key, of: table, source: group.name)
                let columns = table.primaryKey
                let parameters = try ApplyStatements.parameters(rows: deletes.count, columns: columns, table: table, source: group.name) { row, column in
                    guard let text = deletes[row].text(columns[column]) else {
                        throw SiphonError(.sink, "a delete of source table \(group.name) has the key \(deletes[row].columns.names.joined(separator: ", ")), target table \(name) the primary key (\(columns.joined(separator: ", "))): give both the same primary key")
                    }
                    return text
                }
                try await connection.send(table.statements.text(["DELETE"]) { ApplyStatements.delete(table) }, parameters, prepare: true,
                                          doing: "deleting \(deletes.count) rows from \(name)")
            }
            for (list, rows) in upserts {
                let columns = list.names
                if let missing = columns.first(where: { table.column($0) == nil }) {
                    throw SiphonError(.sink, "source table \(group.name) has column \(missing), which target table \(name) lacks: add it to the target table (the sink adds columns when a schema-change event says they were added)")
                }
                if let key = table.primaryKey.first(where: { !columns.contains($0) }) {
                    throw SiphonError(.sink, "rows of source table \(group.name) do not carry column \(key) of target table \(name)'s primary key (\(table.primaryKey.joined(separator: ", "))): give the target table the source table's primary key")
                }
                // Every row of the group carries these columns in this order.
                let parameters = try ApplyStatements.parameters(rows: rows.count, columns: columns, table: table, source: group.name) { row, column in
                    rows[row].text(at: column)
                }
                try await connection.send(table.statements.text(["INSERT"] + columns) { ApplyStatements.upsert(table, columns: columns) },
                                          parameters, prepare: true,
                                          doing: "writing \(rows.count) rows to \(name)")
            }
        }
    }

    /// The event's key must be the target's primary key.
    private func check(key: RowValues, of table: TargetTable, source: TableName) throws {
        guard Set(key.columns.names) == Set(table.primaryKey) else {
            throw SiphonError(.sink, "source table \(source) is keyed by (\(key.columns.names.sorted().joined(separator: ", "))), target table \(table.name) by (\(table.primaryKey.joined(separator: ", "))): give both the same primary key")
        }
    }
}
