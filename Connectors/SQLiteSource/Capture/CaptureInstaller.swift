import Foundation
import Logging
import SiphonCore

/// Installs, updates and removes what Siphon keeps inside the captured database.
///
/// Objects (all named `_siphon_*`, so the application never sees them in
/// its own tables' schema):
/// - `_siphon_changelog(seq, tbl, op, ver, ts, old, new, v0, v1, ...)`: one
///   row per change, written by triggers; `seq` is the position. The row's
///   values are copied as they are into `v0...` (old values first for an
///   update, then new ones; a table keyed by rowid adds the rowid after its
///   columns): no conversion in the trigger, so the application's writes pay
///   only for one more row, and every value keeps its SQLite type. The
///   table grows `v` columns when a wider table is captured. Rows of op `s` are
///   schema changes, written by Siphon itself in the transaction that
///   rebuilds the triggers, so they sit at the exact point where the trigger
///   version changes. One row of op `o` (origin) keeps `seq` counting from the
///   pipeline's position when the table is new; cleanup never deletes the
///   highest row, so `seq` never goes backwards (no AUTOINCREMENT, so no
///   `sqlite_sequence` table is left behind by `uninstall`).
/// - `_siphon_schema(tbl, version, columns, dropped, ddl)`: every version of
///   every captured table, with the table's CREATE TABLE statement as
///   SQLite kept it when the version was recorded (`ddl`: added by Siphon
///   0.2; null in rows an older Siphon wrote, and for a dropped table). It
///   lives in the database, not in the state folder, because it must change
///   in the same transaction as the triggers.
/// - `_siphon_meta`: which pipeline owns the capture.
/// - Triggers `_siphon_<table>_c`, `_u`, `_d` (AFTER INSERT/UPDATE/DELETE).
struct CaptureInstaller {
    static let changelog = "_siphon_changelog"
    static let schemaTable = "_siphon_schema"
    static let metaTable = "_siphon_meta"
    static let prefix = "_siphon_"

    let connection: SQLiteConnection
    let patterns: TablePatterns
    let pipeline: String
    let logger: Logger

    /// What `sync` did.
    struct SyncResult {
        /// Tables captured for the first time (or again after a drop).
        var created: [String] = []
        /// Tables still captured whose triggers were all missing: a table
        /// rebuilt by the application (create new, copy, drop, rename), with
        /// its columns changed or not. Changes between the rebuild and now
        /// were not recorded.
        var repaired: [String] = []
        var schemaChanges = 0
    }

    /// Brings triggers and schema versions in line with the database's
    /// tables. Must run inside `BEGIN IMMEDIATE` (one transaction, so the
    /// application never sees half of it). Idempotent.
    ///
    /// `resumeAfter` is the highest changelog sequence the pipeline has
    /// seen: a changelog created now starts counting after it.
    func sync(resumeAfter: Int64) throws -> SyncResult {
        try createObjects(resumeAfter: resumeAfter)
        var result = SyncResult()
        var width = try changelogWidth()
        let registry = try latestVersions()
        let allTables = try userTables()
        let captured = allTables.filter(patterns.matches)
        let triggers = try installedTriggers()

        for table in captured {
            let current = try readSchema(table)
            let latest = registry[table]
            let needed = 2 * current.valueCount
            if needed > width {
                for index in width..<needed {
                    try connection.execute("ALTER TABLE \(Self.changelog) ADD COLUMN v\(index)")
                }
                width = needed
            }
            // Every trigger gone from a table still captured: the table was
            // rebuilt (create new, copy, drop, rename), with the same columns
            // or not, and changes since then were not recorded.
            let rebuilt = latest.map { !$0.dropped } == true
                && ["c", "u", "d"].allSatisfy { triggers[Self.triggerName(table, $0)] == nil }
            if rebuilt { result.repaired.append(table) }
            if let latest, !latest.dropped, current.sameShape(as: latest.schema) {
                try installTriggers(Self.triggerStatements(for: current, version: latest.schema.version), existing: triggers)
                continue
            }
            let version = (latest?.schema.version ?? 0) + 1
            var schema = current
            schema.version = version
            var diff: SchemaDiff
            if let latest, !latest.dropped {
                diff = SchemaDiff(from: latest.schema, to: schema)
            } else {
                diff = SchemaDiff(from: TableSchema(table: table, version: 0, columns: [], keyedByRowid: false), to: schema)
                diff.tableCreated = true
                diff.keyChanged = []
                result.created.append(table)
            }
            try recordVersion(schema, dropped: false, diff: diff, ddl: try tableSQL(table))
            try installTriggers(Self.triggerStatements(for: schema, version: version), existing: triggers)
            result.schemaChanges += 1
            logger.info("captured table \(table) at schema version \(version)",
                        metadata: diff.tableCreated ? [:] : ["changes": "\(Self.describe(diff))"])
        }

        for (table, latest) in registry where !latest.dropped && !captured.contains(table) {
            var schema = latest.schema
            schema.version += 1
            var diff = SchemaDiff(from: latest.schema, to: TableSchema(table: table, version: schema.version, columns: [], keyedByRowid: false))
            diff.tableDropped = true
            schema.columns = []
            schema.keyedByRowid = false
            try recordVersion(schema, dropped: true, diff: diff, ddl: nil)
            result.schemaChanges += 1
            let reason = allTables.contains(table) ? "no longer matches source.tables" : "was dropped"
            logger.info("table \(table) \(reason); it is no longer captured")
        }

        // Triggers of tables no longer captured (and strays from older versions).
        let wanted = Set(captured.flatMap { table in ["c", "u", "d"].map { Self.triggerName(table, $0) } })
        for (name, _) in triggers where !wanted.contains(name) {
            try connection.execute("DROP TRIGGER IF EXISTS \(SQL.identifier(name))")
        }
        return result
    }

    /// Removes every trigger and table Siphon added; the application's
    /// tables and rows are untouched. Runs in one transaction.
    func uninstall() throws -> Int {
        try connection.execute("BEGIN IMMEDIATE")
        do {
            let dropped = try dropTriggers()
            for table in [Self.changelog, Self.schemaTable, Self.metaTable] {
                try connection.execute("DROP TABLE IF EXISTS \(SQL.identifier(table))")
            }
            try connection.execute("COMMIT")
            return dropped
        } catch {
            connection.rollbackQuietly()
            throw error
        }
    }

    /// Drops every trigger Siphon installed (inside the caller's transaction); returns how many.
    private func dropTriggers() throws -> Int {
        let triggers = try installedTriggers()
        for name in triggers.keys.sorted() {
            try connection.execute("DROP TRIGGER IF EXISTS \(SQL.identifier(name))")
        }
        return triggers.count
    }

    /// `offsets reset`: removes the triggers, the schema registry and the
    /// owner, and empties the changelog down to one origin row at its
    /// highest `seq`, so that the next start captures every table afresh (new
    /// snapshots, schema versions from 1) while positions go on after the
    /// old ones: an event id is never given out twice. Returns how many
    /// triggers were dropped.
    func resetKeepingPositions() throws -> Int {
        try connection.execute("BEGIN IMMEDIATE")
        do {
            let dropped = try dropTriggers()
            let exists = try connection.integer("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '\(Self.changelog)'")
            if exists > 0 {
                let highest = try connection.integer("SELECT coalesce(max(seq), -1) FROM \(Self.changelog)")
                try connection.execute("DELETE FROM \(Self.changelog)")
                if highest >= 0 {
                    let origin = try connection.prepare("INSERT INTO \(Self.changelog) (seq, tbl, op, ver, ts) VALUES (?1, '', 'o', 0, 0)")
                    origin.bind(1, highest)
                    try origin.run()
                }
            }
            for table in [Self.schemaTable, Self.metaTable] {
                try connection.execute("DROP TABLE IF EXISTS \(SQL.identifier(table))")
            }
            try connection.execute("COMMIT")
            return dropped
        } catch {
            connection.rollbackQuietly()
            throw error
        }
    }

    // MARK: Objects

    /// How many `v` columns the changelog has.
    func changelogWidth() throws -> Int {
        Int(try connection.integer("SELECT count(*) FROM pragma_table_info('\(Self.changelog)') WHERE name GLOB 'v[0-9]*'"))
    }

    private func createObjects(resumeAfter: Int64) throws {
        try connection.execute("""
            CREATE TABLE IF NOT EXISTS \(Self.changelog) (
              seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, op TEXT NOT NULL, ver INTEGER NOT NULL,
              ts INTEGER NOT NULL, old TEXT, new TEXT);
            CREATE TABLE IF NOT EXISTS \(Self.schemaTable) (
              tbl TEXT NOT NULL, version INTEGER NOT NULL, columns TEXT NOT NULL, dropped INTEGER NOT NULL DEFAULT 0,
              ddl TEXT, PRIMARY KEY (tbl, version)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS \(Self.metaTable) (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
            """)
        // A registry created by Siphon 0.1 has no `ddl` column; its rows keep null there.
        if try connection.integer("SELECT count(*) FROM pragma_table_info('\(Self.schemaTable)') WHERE name = 'ddl'") == 0 {
            try connection.execute("ALTER TABLE \(Self.schemaTable) ADD COLUMN ddl TEXT")
        }
        let owner = try connection.prepare("SELECT value FROM \(Self.metaTable) WHERE key = 'pipeline'")
        if try owner.step(), let name = owner.string(0) {
            guard name == pipeline else {
                throw SiphonError(.configuration, "source.path: \(connection.path) is already captured by pipeline '\(name)'; one database has one capturing pipeline: use that pipeline's name, or run `siphon sqlite uninstall` with its file first")
            }
        } else {
            let insert = try connection.prepare("INSERT INTO \(Self.metaTable) (key, value) VALUES ('pipeline', ?1), ('format', '1')")
            insert.bind(1, pipeline)
            try insert.run()
        }
        let highest = try connection.integer("SELECT coalesce(max(seq), -1) FROM \(Self.changelog)")
        if highest < resumeAfter {
            if highest >= 0 {
                logger.warning("the changelog in \(connection.path) ends at \(highest), before the pipeline's position \(resumeAfter) (was it recreated or restored from a backup?); new changes continue after \(resumeAfter)")
            }
            let origin = try connection.prepare("INSERT INTO \(Self.changelog) (seq, tbl, op, ver, ts) VALUES (?1, '', 'o', 0, 0)")
            origin.bind(1, resumeAfter)
            try origin.run()
        }
    }

    struct RegistryEntry {
        var schema: TableSchema
        var dropped: Bool
    }

    /// The latest version of every table ever captured.
    func latestVersions() throws -> [String: RegistryEntry] {
        let statement = try connection.prepare("""
            SELECT tbl, version, columns, dropped FROM \(Self.schemaTable) AS s
            WHERE version = (SELECT max(version) FROM \(Self.schemaTable) WHERE tbl = s.tbl)
            """)
        var result: [String: RegistryEntry] = [:]
        while try statement.step() {
            let table = statement.string(0) ?? ""
            guard let schema = TableSchema(table: table, version: Int(statement.int64(1)), columnsJSON: statement.string(2) ?? "") else {
                throw SiphonError(.sourceFatal, "\(Self.schemaTable) in \(connection.path) has a damaged row for table \(table)")
            }
            result[table] = RegistryEntry(schema: schema, dropped: statement.int64(3) != 0)
        }
        return result
    }

    private func recordVersion(_ schema: TableSchema, dropped: Bool, diff: SchemaDiff, ddl: String?) throws {
        let columns = schema.columnsJSON
        let insert = try connection.prepare("INSERT INTO \(Self.schemaTable) (tbl, version, columns, dropped, ddl) VALUES (?1, ?2, ?3, ?4, ?5)")
        insert.bind(1, schema.table)
        insert.bind(2, Int64(schema.version))
        insert.bind(3, columns)
        insert.bind(4, Int64(dropped ? 1 : 0))
        if let ddl { insert.bind(5, ddl) } else { insert.bindNull(5) }
        try insert.run()
        var changes = JSONBuffer(capacity: 128)
        diff.write(&changes)
        let row = try connection.prepare("INSERT INTO \(Self.changelog) (tbl, op, ver, ts, old, new) VALUES (?1, 's', ?2, ?3, ?4, ?5)")
        row.bind(1, schema.table)
        row.bind(2, Int64(schema.version))
        row.bind(3, SiphonCore.Clock.unixMillis())
        row.bind(4, String(decoding: changes.bytes, as: UTF8.self))
        row.bind(5, columns)
        try row.run()
    }

    // MARK: Tables

    /// Ordinary tables of the main schema, without SQLite's and Siphon's own.
    func userTables() throws -> [String] {
        let statement = try connection.prepare("""
            SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
              AND name NOT LIKE '\\_siphon\\_%' ESCAPE '\\' AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name
            """)
        var names: [String] = []
        while try statement.step() { names.append(statement.string(0) ?? "") }
        return names
    }

    /// The table's CREATE TABLE statement as SQLite keeps it (ALTER TABLE
    /// rewrites it), or nil.
    func tableSQL(_ table: String) throws -> String? {
        let sql = try connection.prepare("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1")
        sql.bind(1, table)
        return try sql.step() ? sql.string(0) : nil
    }

    /// The table's columns now, from `PRAGMA table_info` (which leaves out
    /// generated columns: they are not captured).
    func readSchema(_ table: String) throws -> TableSchema {
        let info = try connection.prepare("SELECT name, type, pk, \"notnull\", dflt_value FROM pragma_table_info(?1)")
        info.bind(1, table)
        var columns: [TableSchema.Column] = []
        var declaredNotNull: [Bool] = []
        var defaults: [String?] = []
        while try info.step() {
            columns.append(TableSchema.Column(name: info.string(0) ?? "", type: info.string(1) ?? "", keyIndex: Int(info.int64(2))))
            declaredNotNull.append(info.int64(3) != 0)
            defaults.append(info.string(4))
        }
        let text = try tableSQL(table) ?? ""
        let withoutRowid = text.range(of: #"\)\s*(STRICT\s*,\s*)?WITHOUT\s+ROWID"#, options: [.regularExpression, .caseInsensitive]) != nil
        let keys = columns.indices.filter { columns[$0].keyIndex > 0 }
        // A rowid table's single INTEGER key column is the rowid itself
        // unless SQLite built an index for the key (`INTEGER PRIMARY KEY
        // DESC`, `INT PRIMARY KEY`, ...): the documented rule, asked of SQLite.
        var rowidAlias: Int?
        if !withoutRowid, keys.count == 1 {
            let index = try connection.prepare("SELECT count(*) FROM pragma_index_list(?1) WHERE origin = 'pk'")
            index.bind(1, table)
            if try index.step(), index.int64(0) == 0 { rowidAlias = keys[0] }
        }
        for index in columns.indices {
            let isAlias = index == rowidAlias
            columns[index].details = TableSchema.Details(
                notNull: declaredNotNull[index] || isAlias || (withoutRowid && columns[index].keyIndex > 0),
                defaultValue: defaults[index], autoIncrement: isAlias)
        }
        let schema = TableSchema(table: table, version: 0, columns: columns, keyedByRowid: keys.isEmpty && !withoutRowid)
        if schema.keyedByRowid, schema.rowidAlias == nil {
            throw SiphonError(.configuration, "source.tables: table \(table) has no primary key, and its columns rowid, _rowid_ and oid hide all three names of SQLite's rowid, so Siphon cannot tell its rows apart; give it a PRIMARY KEY, rename one of those columns, or leave it out of source.tables")
        }
        return schema
    }

    // MARK: Triggers

    static func triggerName(_ table: String, _ op: String) -> String { "\(prefix)\(table)_\(op)" }

    /// Trigger name to its SQL, for every `_siphon_*` trigger.
    func installedTriggers() throws -> [String: String] {
        let statement = try connection.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND name LIKE '\\_siphon\\_%' ESCAPE '\\'")
        var result: [String: String] = [:]
        while try statement.step() { result[statement.string(0) ?? ""] = statement.string(1) ?? "" }
        return result
    }

    private func installTriggers(_ statements: [(name: String, sql: String)], existing: [String: String]) throws {
        for (name, sql) in statements where existing[name] != sql {
            try connection.execute("DROP TRIGGER IF EXISTS \(SQL.identifier(name))")
            try connection.execute(sql)
        }
    }

    /// The three triggers for one version of a table: each copies the row's
    /// values into the changelog's `v` columns, old ones first.
    static func triggerStatements(for schema: TableSchema, version: Int) -> [(name: String, sql: String)] {
        let table = SQL.identifier(schema.table)
        let tableLiteral = SQL.literal(schema.table)
        let count = schema.valueCount
        func values(_ row: String) -> [String] {
            schema.columns.map { "\(row).\(SQL.identifier($0.name))" } + (rowid(schema).map { ["\(row).\($0)"] } ?? [])
        }
        func targets(from start: Int) -> [String] { (start..<(start + count)).map { "v\($0)" } }
        let now = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
        func statement(_ op: String, _ event: String, columns: [String], values: [String]) -> (String, String) {
            let name = triggerName(schema.table, op)
            let names = (["tbl", "op", "ver", "ts"] + columns).joined(separator: ", ")
            let list = ([tableLiteral, "'\(op)'", String(version), now] + values).joined(separator: ", ")
            return (name, "CREATE TRIGGER \(SQL.identifier(name)) AFTER \(event) ON \(table) BEGIN INSERT INTO \(changelog) (\(names)) VALUES (\(list)); END")
        }
        return [
            statement("c", "INSERT", columns: targets(from: 0), values: values("NEW")),
            statement("u", "UPDATE", columns: targets(from: 0) + targets(from: count), values: values("OLD") + values("NEW")),
            statement("d", "DELETE", columns: targets(from: 0), values: values("OLD")),
        ]
    }

    /// The columns a snapshot reads, in the order the triggers write them.
    /// In key order, so that a snapshot read again after an interruption
    /// (nothing changed in between: same changelog end, same positions)
    /// yields its rows in the same order and the pipeline can skip those the
    /// sink already holds. Without ORDER BY the order is the query plan's,
    /// which ANALYZE or a new index may change. By the primary key when
    /// there is one (the table's own order for INTEGER PRIMARY KEY and
    /// WITHOUT ROWID tables), else by rowid, which is free.
    static func snapshotSQL(_ schema: TableSchema) -> String {
        let rowidColumn = rowid(schema).map { [$0] } ?? []
        let columns = schema.columns.map { SQL.identifier($0.name) } + rowidColumn
        let key = schema.keyedByRowid ? rowidColumn : schema.keyColumns.map { SQL.identifier(schema.columns[$0].name) }
        let order = key.isEmpty ? "" : " ORDER BY \(key.joined(separator: ", "))"
        return "SELECT \(columns.joined(separator: ", ")) FROM \(SQL.identifier(schema.table))\(order)"
    }

    /// How SQL reads the rowid of a table keyed by it (`rowid`, or `_rowid_` or
    /// `oid` when a column takes that name; `readSchema` refuses a table whose
    /// columns take all three); nil for a table with a primary key.
    private static func rowid(_ schema: TableSchema) -> String? {
        guard schema.keyedByRowid else { return nil }
        return schema.rowidAlias ?? "rowid"
    }

    static func describe(_ diff: SchemaDiff) -> String {
        var parts: [String] = []
        if !diff.added.isEmpty { parts.append("added \(diff.added.joined(separator: ", "))") }
        if !diff.dropped.isEmpty { parts.append("dropped \(diff.dropped.joined(separator: ", "))") }
        if !diff.renamed.isEmpty { parts.append("renamed " + diff.renamed.map { "\($0.from) to \($0.to)" }.joined(separator: ", ")) }
        if !diff.retyped.isEmpty { parts.append("retyped " + diff.retyped.map { "\($0.name) \($0.from) to \($0.to)" }.joined(separator: ", ")) }
        if parts.isEmpty { return !diff.keyChanged.isEmpty ? "key changed" : "NOT NULL or DEFAULT changed" }
        return parts.joined(separator: "; ")
    }
}
