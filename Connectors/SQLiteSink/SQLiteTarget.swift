import Foundation
import Logging
import SiphonCore

/// An SQLite file as an `ApplyTarget`: one connection (WAL, synchronous
/// FULL, so a commit is on disk when it returns), tables read with
/// `PRAGMA table_info`, prepared statements kept per shape, and
/// `_siphon_offsets` in the same file.
final class SQLiteTarget: ApplyTarget, @unchecked Sendable {
    let configuration: SQLiteSinkConfiguration
    let pipeline: String
    let logger: Logger
    private(set) var database: TargetDatabase?
    var tables: [String: TargetColumns] = [:]
    /// Which source table each target table holds: two source tables may not share one.
    var sources: [String: TableName] = [:]
    private var statements: [String: TargetStatement] = [:]

    func forgetStatements() async { statements = [:] }

    /// A target table's columns (declared types) and primary key, in key order.
    struct TargetColumns {
        var columns: [String: String]
        var order: [String]
        var primaryKey: [String]
    }

    init(configuration: SQLiteSinkConfiguration, pipeline: String, logger: Logger) {
        self.configuration = configuration
        self.pipeline = pipeline
        self.logger = logger
    }

    static func quoted(_ name: String) -> String { "\"" + name.replacingAll("\"", with: "\"\"") + "\"" }

    func open() async throws -> Position? {
        let database = try TargetDatabase(path: configuration.path, create: true)
        self.database = database
        tables = [:]
        statements = [:]
        try Self.checkHeader(database)
        try database.execute("PRAGMA journal_mode = WAL", doing: "switching to WAL")
        try database.execute("PRAGMA synchronous = FULL", doing: "setting synchronous = FULL")
        try database.execute("""
            CREATE TABLE IF NOT EXISTS _siphon_offsets (pipeline TEXT PRIMARY KEY, position TEXT NOT NULL, updated_at TEXT NOT NULL)
            """, doing: "creating _siphon_offsets")
        let stored = try Self.readPosition(database, pipeline: pipeline)
        logger.info("target opened", metadata: ["path": .string(configuration.path), "position": .string(stored?.description ?? "none")])
        return stored
    }

    /// Reading the schema is the first thing that fails on a file that is not a database.
    private static func checkHeader(_ database: TargetDatabase) throws {
        let statement = try database.prepare("SELECT count(*) FROM sqlite_schema", doing: "reading the schema")
        _ = try statement.step(doing: "reading the schema")
    }

    static func storedPosition(path: String, pipeline: String) throws -> Position? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let database = try TargetDatabase(path: path, create: false)
        defer { database.close() }
        let exists = try database.prepare("SELECT count(*) FROM sqlite_schema WHERE name = '_siphon_offsets'", doing: "looking for _siphon_offsets")
        guard try exists.step(doing: "looking for _siphon_offsets"), exists.int64(0) == 1 else { return nil }
        return try readPosition(database, pipeline: pipeline)
    }

    private static func readPosition(_ database: TargetDatabase, pipeline: String) throws -> Position? {
        let statement = try database.prepare("SELECT position FROM _siphon_offsets WHERE pipeline = ?", doing: "reading _siphon_offsets")
        statement.bind(1, .text(pipeline))
        guard try statement.step(doing: "reading _siphon_offsets"), let text = statement.text(0) else { return nil }
        guard let position = Position(text) else {
            throw SiphonError(.sink, "_siphon_offsets in \(database.path) holds '\(text)' for pipeline \(pipeline), which is not a position: delete that row to start again from the pipeline's checkpoint")
        }
        return position
    }

    func live() throws -> TargetDatabase {
        guard let database else { throw SiphonError(.sink, "the SQLite target is not open", transient: true) }
        return database
    }

    /// A statement prepared once per connection.
    func statement(_ sql: String, doing: String) throws -> TargetStatement {
        if let known = statements[sql] { return known }
        let prepared = try live().prepare(sql, doing: doing)
        statements[sql] = prepared
        return prepared
    }

    func begin() async throws {
        try live().execute("BEGIN IMMEDIATE", doing: "starting a transaction")
    }

    func commit(through position: Position) async throws {
        let record = try statement("""
            INSERT INTO _siphon_offsets (pipeline, position, updated_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
            ON CONFLICT (pipeline) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at
            """, doing: "recording the position in _siphon_offsets")
        record.bind(1, .text(pipeline))
        record.bind(2, .text(position.description))
        try record.run(doing: "recording the position in _siphon_offsets")
        try live().execute("COMMIT", doing: "committing")
    }

    func rollback() async {
        if let database, !database.isAutocommit { try? database.execute("ROLLBACK", doing: "rolling back") }
        tables = [:]
        statements = [:]
    }

    func close() async {
        statements = [:]
        database?.close()
        database = nil
        tables = [:]
    }

    func truncate(_ source: TableName) async throws {
        let name = try targetName(for: source)
        guard try table(name) != nil else { return }
        try live().execute("DELETE FROM \(Self.quoted(name))", doing: "emptying \(name)")
    }

    /// The target table of `source`; two source tables may not share one.
    func targetName(for source: TableName) throws -> String {
        let name = configuration.targetTable(for: source)
        if let other = sources[name], other != source {
            throw SiphonError(.sink, "source tables \(other) and \(source) both go to table \(name) of \(configuration.path): map one of them to another name under sink.tables")
        }
        sources[name] = source
        return name
    }

    func table(_ name: String) throws -> TargetColumns? {
        if let known = tables[name] { return known }
        let info = try live().prepare("SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid", doing: "reading the columns of \(name)")
        info.bind(1, .text(name))
        var columns: [String: String] = [:]
        var order: [String] = []
        var key: [(Int64, String)] = []
        while try info.step(doing: "reading the columns of \(name)") {
            let column = info.text(0) ?? ""
            columns[column] = info.text(1) ?? ""
            order.append(column)
            if info.int64(2) > 0 { key.append((info.int64(2), column)) }
        }
        guard !order.isEmpty else { return nil }
        let loaded = TargetColumns(columns: columns, order: order, primaryKey: key.sorted { $0.0 < $1.0 }.map(\.1))
        tables[name] = loaded
        return loaded
    }
}
