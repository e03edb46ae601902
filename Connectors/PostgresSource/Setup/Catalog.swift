import Logging
import SiphonCore

/// Catalog queries and the one-time setup of a source: server checks, the
/// publication, the slot. Runs over a normal (non-replication) connection.
///
/// Names and text reach the server as parameters, or quoted by libpq where
/// a statement takes none (CREATE PUBLICATION, a VALUES list): table names
/// are the application's and may hold quotes and backslashes.
struct Catalog {
    let connection: PostgresConnection
    let logger: Logger

    struct Table: Hashable {
        var oid: UInt32
        var name: TableName
        /// pg_class.relreplident: d (default: primary key), f (full), i (index), n (nothing).
        var replicaIdentity: String
        /// A primary key PostgreSQL takes as the identity: valid and not
        /// DEFERRABLE (it ignores any other, as it ignores a missing one).
        var hasPrimaryKey: Bool
        /// The index named by REPLICA IDENTITY USING INDEX, valid and not
        /// DEFERRABLE. Dropping it leaves relreplident at 'i' with no identity.
        var hasIdentityIndex: Bool

        /// PostgreSQL can send updates and deletes for it without failing the application's writes.
        var hasUsableIdentity: Bool { identityProblem == nil }

        /// Why PostgreSQL would reject the table's UPDATEs and DELETEs once
        /// it is published; nil when it would not.
        var identityProblem: String? {
            switch replicaIdentity {
            case "f": return nil
            case "i": return hasIdentityIndex ? nil : "its REPLICA IDENTITY USING INDEX index is gone or unusable (dropped, invalid or DEFERRABLE)"
            case "n": return "it has REPLICA IDENTITY NOTHING"
            default: return hasPrimaryKey ? nil : "it has no primary key PostgreSQL can use (none, or DEFERRABLE)"
            }
        }
    }

    /// `"schema"."table"`, quoted by libpq.
    func qualifiedName(_ table: TableName) throws -> String {
        try connection.identifier(table.schema) + "." + connection.identifier(table.name)
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
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary AND i.indisvalid AND i.indimmediate),
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident AND i.indisvalid AND i.indimmediate)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
            ORDER BY n.nspname, c.relname
            """)
        return rows.compactMap { row in
            guard let oid = row[0].flatMap({ UInt32($0) }), let schema = row[1], let name = row[2] else { return nil }
            return Table(oid: oid, name: TableName(schema: schema, name: name), replicaIdentity: row[3] ?? "d",
                         hasPrimaryKey: row[4] == "t", hasIdentityIndex: row[5] == "t")
        }
    }

    /// Tables currently in the publication, or nil when it does not exist.
    func publicationTables(_ publication: String) async throws -> Set<TableName>? {
        let exists = try await connection.query("SELECT 1 FROM pg_publication WHERE pubname = $1", parameters: [publication])
        guard !exists.isEmpty else { return nil }
        let rows = try await connection.query(
            "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1", parameters: [publication])
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
                    "table": .string(table.name.description), "reason": .string(table.identityProblem ?? ""),
                    "fix": .string("add a primary key (not DEFERRABLE), or ALTER TABLE \(table.name) REPLICA IDENTITY FULL (or USING INDEX a unique index), then restart Siphon after ALTER PUBLICATION \(publication) ADD TABLE \(table.name)"),
                ])
            }
        }
        let list = try eligible.map { try qualifiedName($0) }.joined(separator: ", ")
        try await connection.query("CREATE PUBLICATION \(try connection.identifier(publication))" + (list.isEmpty ? "" : " FOR TABLE \(list)"))
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
            WHERE slot_name = $1
            """, parameters: [name])
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
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relname = $2
              AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum
            """, parameters: [table.schema, table.name])
        return rows.compactMap { row in
            guard let name = row[0], let oid = row[1].flatMap({ UInt32($0) }) else { return nil }
            return ColumnSchema(name: name, typeOID: oid, typeModifier: row[2].flatMap { Int32($0) } ?? -1,
                                typeName: types.typeName(of: oid) ?? String(oid), isKey: row[3] == "t")
        }
    }

    /// Looks up types the registry does not know (enums, domains, arrays of
    /// them, extension types) and registers how to render them, in text and
    /// in binary form. A domain renders as its base type and an array as its
    /// elements; bases and elements not known yet are looked up first, so a
    /// domain over a domain or over an enum gets its final base's rendering.
    func resolveTypes(_ oids: [UInt32], into types: inout TypeRegistry) async throws {
        try await resolveTypes(oids, into: &types, depth: 0)
    }

    private func resolveTypes(_ oids: [UInt32], into types: inout TypeRegistry, depth: Int) async throws {
        let unknown = Set(oids.filter { types.typeName(of: $0) == nil })
        guard !unknown.isEmpty else { return }
        let list = unknown.map(String.init).joined(separator: ",")
        let rows = try await connection.query("""
            SELECT t.oid, t.typname, t.typtype, t.typelem, t.typbasetype, t.typcategory
            FROM pg_type t WHERE t.oid IN (\(list))
            """)
        let found: [UserType] = rows.compactMap { row in
            guard let oid = row[0].flatMap({ UInt32($0) }), let name = row[1] else { return nil }
            return UserType(oid: oid, name: name, typeType: row[2] ?? "", element: row[3].flatMap { UInt32($0) } ?? 0,
                            base: row[4].flatMap { UInt32($0) } ?? 0, isArray: row[5] == "A")
        }
        // Domains nest only a few levels in practice; the cap guards against a catalog that never ends.
        let outside = found.map(\.dependency).filter { $0 != 0 && types.typeName(of: $0) == nil && !unknown.contains($0) }
        if !outside.isEmpty && depth < 8 {
            try await resolveTypes(outside, into: &types, depth: depth + 1)
        }
        // Within this batch, register an array after its element and a domain after its base.
        var pending = found
        while !pending.isEmpty {
            let waiting = Set(pending.map(\.oid))
            var ready = pending.filter { !waiting.contains($0.dependency) }
            if ready.isEmpty { ready = pending }  // pg_type has no cycles; never loop forever regardless
            for type in ready {
                let (kind, binary) = type.rendering(with: types)
                types.register(oid: type.oid, name: type.name, kind: kind, binary: binary)
            }
            let done = Set(ready.map(\.oid))
            pending.removeAll { done.contains($0.oid) }
        }
    }

    /// A pg_type row of a type created in the database.
    private struct UserType {
        var oid: UInt32
        var name: String
        /// typtype: b base, c composite, d domain, e enum, p pseudo, r range, m multirange.
        var typeType: String
        var element: UInt32
        var base: UInt32
        var isArray: Bool

        /// The type whose rendering this one takes (a domain's base, an array's element), or 0.
        var dependency: UInt32 {
            typeType == "d" ? base : (isArray ? element : 0)
        }

        func rendering(with types: TypeRegistry) -> (ValueKind, BinaryFormat?) {
            if typeType == "d", base != 0 {
                return (types.kind(of: base), types.binaryFormat(of: base))
            }
            if isArray, element != 0 {
                return (.array(types.kind(of: element)), types.binaryFormat(of: element).map { .array($0) })
            }
            // enum_send sends the label's text, as enum_out does.
            return typeType == "e" ? (.text, .text) : (.text, nil)
        }
    }

    /// The type of every column pgoutput sends for `tables` (no dropped or
    /// generated columns), in one query. PostgreSQL 12 or later.
    func columnTypes(of tables: [TableName]) async throws -> [(table: TableName, column: String, typeOID: UInt32)] {
        guard !tables.isEmpty else { return [] }
        let list = try tables.map { "(\(try connection.literal($0.schema)), \(try connection.literal($0.name)))" }.joined(separator: ", ")
        let rows = try await connection.query("""
            SELECT n.nspname, c.relname, a.attname, a.atttypid
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE (n.nspname, c.relname) IN (VALUES \(list))
              AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY n.nspname, c.relname, a.attnum
            """)
        return rows.compactMap { row in
            guard let schema = row[0], let table = row[1], let column = row[2], let oid = row[3].flatMap({ UInt32($0) }) else {
                return nil
            }
            return (TableName(schema: schema, name: table), column, oid)
        }
    }
}
