import Logging
import SiphonCore

/// The tables a source may capture, and the publication that carries them.
extension Catalog {
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
}
