import Logging
import SiphonCore

/// Catalog queries and the one-time setup of a source: server checks, the
/// publication, the slot. Runs over a normal (non-replication) connection.
struct Catalog {
    let connection: PostgresConnection
    let logger: Logger

    struct Table: Hashable {
        var oid: UInt32
        var name: TableName
        /// pg_class.relreplident: d (default: primary key), f (full), i (index), n (nothing).
        var replicaIdentity: String
        var hasPrimaryKey: Bool

        /// PostgreSQL can send updates and deletes for it without failing the application's writes.
        var hasUsableIdentity: Bool {
            replicaIdentity == "f" || replicaIdentity == "i" || (replicaIdentity == "d" && hasPrimaryKey)
        }
    }

    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingAll("\"", with: "\"\"") + "\""
    }

    static func quoteLiteral(_ text: String) -> String {
        "'" + text.replacingAll("'", with: "''") + "'"
    }

    /// Fails with what to fix when the server cannot do logical replication.
    func checkServer() async throws {
        let rows = try await connection.query("SHOW wal_level")
        let level = rows.first?.first.flatMap { $0 } ?? "unknown"
        guard level == "logical" else {
            throw SiphonError(.sourceSetup, "PostgreSQL at \(connection.target.display) has wal_level = \(level); Siphon needs wal_level = logical: set it in postgresql.conf (ALTER SYSTEM SET wal_level = logical) and restart the server")
        }
        guard connection.serverVersion >= 100_000 else {
            throw SiphonError(.sourceSetup, "PostgreSQL \(connection.serverVersion) is too old; Siphon needs 10 or later (14+ for streamed large transactions)")
        }
    }

    /// Ordinary and partitioned tables outside the system schemas.
    func userTables() async throws -> [Table] {
        let rows = try await connection.query("""
            SELECT c.oid, n.nspname, c.relname, c.relreplident,
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
            ORDER BY n.nspname, c.relname
            """)
        return rows.compactMap { row in
            guard let oid = row[0].flatMap({ UInt32($0) }), let schema = row[1], let name = row[2] else { return nil }
            return Table(oid: oid, name: TableName(schema: schema, name: name), replicaIdentity: row[3] ?? "d",
                         hasPrimaryKey: row[4] == "t")
        }
    }

    /// Tables currently in the publication, or nil when it does not exist.
    func publicationTables(_ publication: String) async throws -> Set<TableName>? {
        let exists = try await connection.query("SELECT 1 FROM pg_publication WHERE pubname = \(Self.quoteLiteral(publication))")
        guard !exists.isEmpty else { return nil }
        let rows = try await connection.query(
            "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = \(Self.quoteLiteral(publication))")
        return Set(rows.compactMap { row in
            guard let schema = row[0], let name = row[1] else { return nil }
            return TableName(schema: schema, name: name)
        })
    }

    /// Creates the publication for the matching tables that have a usable
    /// replica identity, when it does not exist; returns the tables captured.
    func ensurePublication(_ publication: String, filter: TableFilter) async throws -> [TableName] {
        let tables = try await userTables()
        let matching = tables.filter { filter.matches($0.name) }
        if matching.isEmpty {
            logger.warning("no table matches source.tables", metadata: ["tables": .string(filter.patterns.joined(separator: ", "))])
        }
        if let existing = try await publicationTables(publication) {
            let captured = matching.filter { existing.contains($0.name) }.map(\.name)
            for table in matching where !existing.contains(table.name) {
                logger.warning("table matches source.tables but is not in the publication; it is not captured", metadata: [
                    "table": .string(table.name.description), "publication": .string(publication),
                    "fix": .string("ALTER PUBLICATION \(publication) ADD TABLE \(table.name)"),
                ])
            }
            logger.info("using existing publication", metadata: [
                "publication": .string(publication), "tables": .stringConvertible(captured.count),
            ])
            return captured
        }
        var eligible: [TableName] = []
        for table in matching {
            if table.hasUsableIdentity {
                eligible.append(table.name)
            } else {
                logger.warning("skipping table without a primary key or replica identity (adding it would make PostgreSQL reject its UPDATEs and DELETEs)", metadata: [
                    "table": .string(table.name.description),
                    "fix": .string("add a primary key, or ALTER TABLE \(table.name) REPLICA IDENTITY FULL, then restart Siphon after ALTER PUBLICATION \(publication) ADD TABLE \(table.name)"),
                ])
            }
        }
        let list = eligible.map { Self.quoteIdentifier($0.schema) + "." + Self.quoteIdentifier($0.name) }.joined(separator: ", ")
        try await connection.query("CREATE PUBLICATION \(Self.quoteIdentifier(publication))" + (list.isEmpty ? "" : " FOR TABLE \(list)"))
        logger.info("created publication", metadata: [
            "publication": .string(publication), "tables": .string(eligible.map(\.description).joined(separator: ", ")),
        ])
        return eligible
    }

    struct Slot {
        var plugin: String
        var database: String
        var active: Bool
        var confirmedFlush: LSN?
    }

    func slot(_ name: String) async throws -> Slot? {
        let rows = try await connection.query("""
            SELECT plugin, database, active, confirmed_flush_lsn FROM pg_replication_slots
            WHERE slot_name = \(Self.quoteLiteral(name))
            """)
        guard let row = rows.first else { return nil }
        return Slot(plugin: row[0] ?? "", database: row[1] ?? "", active: row[2] == "t",
                    confirmedFlush: row[3].flatMap { LSN($0) })
    }

    /// Columns as pgoutput describes them: attribute order, no dropped or
    /// generated columns, key = the replica identity's columns.
    func columns(of table: TableName, types: TypeRegistry) async throws -> [ColumnSchema] {
        let rows = try await connection.query("""
            SELECT a.attname, a.atttypid, a.atttypmod,
                   CASE c.relreplident
                     WHEN 'f' THEN true
                     WHEN 'n' THEN false
                     WHEN 'i' THEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident AND a.attnum = ANY(i.indkey))
                     ELSE EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY(i.indkey))
                   END
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE c.oid = (\(Self.quoteLiteral(Self.quoteIdentifier(table.schema) + "." + Self.quoteIdentifier(table.name))))::regclass
              AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum
            """)
        return rows.compactMap { row in
            guard let name = row[0], let oid = row[1].flatMap({ UInt32($0) }) else { return nil }
            return ColumnSchema(name: name, typeOID: oid, typeModifier: row[2].flatMap { Int32($0) } ?? -1,
                                typeName: types.typeName(of: oid) ?? String(oid), isKey: row[3] == "t")
        }
    }

    /// Looks up types the registry does not know (enums, domains, arrays of
    /// them, extension types) and registers how to render them.
    func resolveTypes(_ oids: [UInt32], into types: inout TypeRegistry) async throws {
        let unknown = Array(Set(oids.filter { types.typeName(of: $0) == nil }))
        guard !unknown.isEmpty else { return }
        let list = unknown.map(String.init).joined(separator: ",")
        let rows = try await connection.query("""
            SELECT t.oid, t.typname, t.typtype, t.typelem, t.typbasetype, t.typcategory, e.typbasetype, e.typtype
            FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem
            WHERE t.oid IN (\(list))
            """)
        for row in rows {
            guard let oid = row[0].flatMap({ UInt32($0) }), let name = row[1] else { continue }
            let element = row[3].flatMap { UInt32($0) } ?? 0
            let base = row[4].flatMap { UInt32($0) } ?? 0
            let elementBase = row[6].flatMap { UInt32($0) } ?? 0
            let kind: ValueKind
            if row[2] == "d", base != 0 {
                kind = types.kind(of: base)
            } else if row[5] == "A", element != 0 {
                kind = .array(types.kind(of: elementBase != 0 ? elementBase : element))
            } else {
                kind = .text
            }
            types.register(oid: oid, name: name, kind: kind)
        }
    }
}
