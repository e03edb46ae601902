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
            SELECT a.attname, a.atttypid, a.atttypmod, \(Self.keyColumnExpression),
                   format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE n.nspname = $1 AND c.relname = $2
              AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum
            """, parameters: [table.schema, table.name])
        return rows.compactMap { row in
            guard let name = row[0], let oid = row[1].flatMap({ UInt32($0) }) else { return nil }
            return ColumnSchema(name: name, typeOID: oid, typeModifier: row[2].flatMap { Int32($0) } ?? -1,
                                typeName: types.typeName(of: oid) ?? String(oid), isKey: row[3] == "t",
                                typeExpression: row[4], optional: row[5] != "f", defaultExpression: row[6])
        }
    }

    /// Whether column `a` of relation `c` is part of the event key: the
    /// primary key, or when there is none, the replica identity index
    /// (Debezium's message key; a REPLICA IDENTITY FULL table is keyed by
    /// its primary key, not by every column).
    static let keyColumnExpression = """
        CASE WHEN EXISTS (SELECT 1 FROM pg_index p WHERE p.indrelid = c.oid AND p.indisprimary)
             THEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY(i.indkey))
             ELSE EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident AND a.attnum = ANY(i.indkey))
        END
        """

    /// What a Relation message does not say about a table's columns: the
    /// event key, the type as `format_type` writes it, nullability and
    /// defaults, by column name (from the catalog as it is now).
    func columnDetails(of table: TableName) async throws -> [String: ColumnSchema] {
        let columns = try await columns(of: table, types: TypeRegistry())
        return Dictionary(columns.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
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
            SELECT t.oid, t.typname, t.typtype, t.typelem, t.typbasetype, t.typcategory, t.typtypmod
            FROM pg_type t WHERE t.oid IN (\(list))
            """)
        let found: [UserType] = rows.compactMap { row in
            guard let oid = row[0].flatMap({ UInt32($0) }), let name = row[1] else { return nil }
            return UserType(oid: oid, name: name, typeType: row[2] ?? "", element: row[3].flatMap { UInt32($0) } ?? 0,
                            base: row[4].flatMap { UInt32($0) } ?? 0, isArray: row[5] == "A",
                            typeModifier: row[6].flatMap { Int32($0) } ?? -1)
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
        /// typtypmod: a domain's type modifier (`CREATE DOMAIN d AS timestamptz(3)`), -1 for none.
        var typeModifier: Int32

        /// The type whose rendering this one takes (a domain's base, an array's element), or 0.
        var dependency: UInt32 {
            typeType == "d" ? base : (isArray ? element : 0)
        }

        func rendering(with types: TypeRegistry) -> (ValueKind, BinaryFormat?) {
            if typeType == "d", base != 0 {
                return (types.kind(of: base, typeModifier: typeModifier),
                        types.binaryFormat(of: base, typeModifier: typeModifier))
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
