import Logging
import SiphonCore

/// The tables a source may capture, and the publication that carries them.
///
/// A partitioned table is captured under its own name whichever partition
/// a row lives in, and through ATTACH and DETACH PARTITION: PostgreSQL 13+
/// does that for a publication with `publish_via_partition_root = true`
/// (without it, changes come under each partition's name). Older servers
/// cannot publish a partitioned table at all; there its partitions are
/// ordinary tables to capture by name.
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
        /// relkind 'p': its rows live in its partitions.
        var isPartitioned = false
        /// A partition whose UPDATEs PostgreSQL would reject once the
        /// partitioned table is published (updates happen in partitions,
        /// each with its own replica identity).
        var partitionWithoutIdentity: String?

        /// PostgreSQL can send updates and deletes for it without failing the application's writes.
        var hasUsableIdentity: Bool { identityProblem == nil }

        /// Why PostgreSQL would reject the table's UPDATEs and DELETEs once
        /// it is published; nil when it would not.
        var identityProblem: String? {
            if let partitionWithoutIdentity {
                return "its partition \(partitionWithoutIdentity) has no primary key or replica identity PostgreSQL can use"
            }
            switch replicaIdentity {
            case "f": return nil
            case "i": return hasIdentityIndex ? nil : "its REPLICA IDENTITY USING INDEX index is gone or unusable (dropped, invalid or DEFERRABLE)"
            case "n": return "it has REPLICA IDENTITY NOTHING"
            default: return hasPrimaryKey ? nil : "it has no primary key PostgreSQL can use (none, or DEFERRABLE)"
            }
        }
    }

    /// Whether the server publishes a partitioned table under its own name.
    var publishesViaPartitionRoot: Bool { connection.serverVersion >= 130_000 }

    /// Ordinary and partitioned tables outside the system schemas. From
    /// PostgreSQL 13 partitions are left out (their partitioned table
    /// carries them); before, they are what can be captured.
    func userTables() async throws -> [Table] {
        /// PostgreSQL's own test for an identity (RelationGetReplicaIndex, CheckCmdReplicaIdentity) on relation `r`.
        func usableIndex(_ kind: String, of relation: String) -> String {
            "EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = \(relation).oid AND i.\(kind) AND i.indisvalid AND i.indimmediate)"
        }
        let viaRoot = publishesViaPartitionRoot
        let rows = try await connection.query("""
            SELECT c.oid, n.nspname, c.relname, c.relreplident,
                   \(usableIndex("indisprimary", of: "c")), \(usableIndex("indisreplident", of: "c")), c.relkind = 'p',
                   \(viaRoot ? """
                       (SELECT pn.nspname || '.' || p.relname
                        FROM pg_partition_tree(c.oid) t JOIN pg_class p ON p.oid = t.relid JOIN pg_namespace pn ON pn.oid = p.relnamespace
                        WHERE c.relkind = 'p' AND t.isleaf AND p.relkind = 'r'
                          AND NOT (p.relreplident = 'f'
                                   OR (p.relreplident = 'i' AND \(usableIndex("indisreplident", of: "p")))
                                   OR (p.relreplident = 'd' AND \(usableIndex("indisprimary", of: "p"))))
                        ORDER BY 1 LIMIT 1)
                       """ : "NULL")
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') \(viaRoot ? "AND NOT c.relispartition" : "")
              AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
              AND NOT (n.nspname = '\(DatabaseSchemaHistory.schema)' AND c.relname = '\(DatabaseSchemaHistory.table)')
            ORDER BY n.nspname, c.relname
            """)
        return rows.compactMap { row in
            guard let oid = row[0].flatMap({ UInt32($0) }), let schema = row[1], let name = row[2] else { return nil }
            return Table(oid: oid, name: TableName(schema: schema, name: name), replicaIdentity: row[3] ?? "d",
                         hasPrimaryKey: row[4] == "t", hasIdentityIndex: row[5] == "t", isPartitioned: row[6] == "t",
                         partitionWithoutIdentity: row[7])
        }
    }

    /// An existing publication: the tables it publishes under their own
    /// names, and whether it publishes partitioned tables so.
    struct Publication {
        var tables: Set<TableName>
        var viaPartitionRoot: Bool
    }

    /// The publication, or nil when it does not exist.
    func publication(_ name: String) async throws -> Publication? {
        let exists = try await connection.query(
            "SELECT \(publishesViaPartitionRoot ? "pubviaroot" : "false") FROM pg_publication WHERE pubname = $1", parameters: [name])
        guard let row = exists.first else { return nil }
        let rows = try await connection.query(
            "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1", parameters: [name])
        let tables = Set(rows.compactMap { row -> TableName? in
            guard let schema = row[0], let name = row[1] else { return nil }
            return TableName(schema: schema, name: name)
        })
        return Publication(tables: tables, viaPartitionRoot: row.first == "t")
    }

    /// Creates the publication for the matching tables that have a usable
    /// replica identity, when it does not exist; returns the tables captured.
    func ensurePublication(_ publication: String, filter: TableFilter) async throws -> [Table] {
        let tables = try await userTables()
        let matching = tables.filter { filter.matches($0.name) }
        if matching.isEmpty {
            logger.warning("no table matches source.tables", metadata: ["tables": .string(filter.patterns.joined(separator: ", "))])
        }
        if let existing = try await self.publication(publication) {
            return use(existing, named: publication, matching: matching)
        }
        var eligible: [Table] = []
        for table in matching {
            if table.isPartitioned && !publishesViaPartitionRoot {
                logger.warning("skipping partitioned table: PostgreSQL before 13 cannot publish one", metadata: [
                    "table": .string(table.name.description),
                    "fix": .string("capture its partitions under their own names by listing them in source.tables, or upgrade to PostgreSQL 13+"),
                ])
            } else if table.hasUsableIdentity {
                eligible.append(table)
            } else {
                logger.warning("skipping table without a primary key or replica identity (adding it would make PostgreSQL reject its UPDATEs and DELETEs)", metadata: [
                    "table": .string(table.name.description), "reason": .string(table.identityProblem ?? ""),
                    "fix": .string("add a primary key (not DEFERRABLE), or ALTER TABLE \(table.partitionWithoutIdentity ?? table.name.description) REPLICA IDENTITY FULL (or USING INDEX a unique index), then restart Siphon after ALTER PUBLICATION \(publication) ADD TABLE \(table.name)"),
                ])
            }
        }
        let list = try eligible.map { try qualifiedName($0.name) }.joined(separator: ", ")
        try await connection.query("CREATE PUBLICATION \(try connection.identifier(publication))"
                                   + (list.isEmpty ? "" : " FOR TABLE \(list)")
                                   + (publishesViaPartitionRoot ? " WITH (publish_via_partition_root = true)" : ""))
        logger.info("created publication", metadata: [
            "publication": .string(publication), "tables": .string(eligible.map(\.name.description).joined(separator: ", ")),
        ])
        return eligible
    }

    /// The matching tables an existing publication carries; the others are
    /// logged with what would make it carry them.
    private func use(_ existing: Publication, named publication: String, matching: [Table]) -> [Table] {
        var captured: [Table] = []
        for table in matching {
            if existing.tables.contains(table.name) {
                captured.append(table)
            } else if table.isPartitioned && !publishesViaPartitionRoot {
                logger.warning("partitioned table not captured: PostgreSQL before 13 cannot publish one", metadata: [
                    "table": .string(table.name.description),
                    "fix": .string("capture its partitions under their own names by listing them in source.tables, or upgrade to PostgreSQL 13+"),
                ])
            } else if table.isPartitioned && publishesViaPartitionRoot && !existing.viaPartitionRoot {
                // pg_publication_tables then lists the partitions, which is how their changes come.
                logger.warning("the publication sends a partitioned table's changes under its partitions' names, so they are not captured as the table", metadata: [
                    "table": .string(table.name.description), "publication": .string(publication),
                    "fix": .string("ALTER PUBLICATION \(publication) SET (publish_via_partition_root = true) (and ALTER PUBLICATION \(publication) ADD TABLE \(table.name) if it is not in it), then restart Siphon"),
                ])
            } else {
                logger.warning("table matches source.tables but is not in the publication; it is not captured", metadata: [
                    "table": .string(table.name.description), "publication": .string(publication),
                    "fix": .string("ALTER PUBLICATION \(publication) ADD TABLE \(table.name)"),
                ])
            }
        }
        logger.info("using existing publication", metadata: [
            "publication": .string(publication), "tables": .stringConvertible(captured.count),
        ])
        return captured
    }
}
