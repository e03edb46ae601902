import SiphonCore

/// Schema-change events in an SQLite target, reconciled as in PostgreSQL
/// with SQLite's limits: columns are created nullable (SQLite cannot relax
/// NOT NULL later, and a column the source drops must take rows without
/// it), a retyped column keeps its declared type (SQLite stores any value
/// in any column), a changed primary key is a permanent error.
extension SQLiteTarget {
    func applySchema(_ change: SchemaChange) async throws {
        guard change.table.kind != .drop, !change.table.columns.isEmpty else { return }
        let database = try live()
        let source = change.table.table
        let name = try targetName(for: source)
        let types = change.table.columns.map { column in
            change.connector == "sqlite" ? SQLiteTypes.fromSQLite(column.typeExpression)
                : SQLiteTypes.fromPostgres(typeName: column.typeName, typeExpression: column.typeExpression)
        }
        tables[name] = nil
        guard let existing = try table(name) else {
            guard configuration.createTables else {
                throw SiphonError(.sink, "target table \(name) (for source table \(source)) does not exist in \(configuration.path) and sink.create_tables is false: create it, or set create_tables: true")
            }
            var definitions = zip(change.table.columns, types).map { column, type in
                "\(Self.quoted(column.name))\(type.isEmpty ? "" : " " + type)"
            }
            if !change.table.primaryKeyColumnNames.isEmpty {
                definitions.append("PRIMARY KEY (\(change.table.primaryKeyColumnNames.map(Self.quoted).joined(separator: ", ")))")
            }
            try database.execute("CREATE TABLE \(Self.quoted(name)) (\(definitions.joined(separator: ", ")))", doing: "creating table \(name)")
            logger.info("target table created", metadata: ["table": .string(name)])
            tables[name] = nil
            return
        }
        let sourceKey = change.table.primaryKeyColumnNames
        if !sourceKey.isEmpty, sourceKey != existing.primaryKey {
            throw SiphonError(.sink, "source table \(source) has primary key (\(sourceKey.joined(separator: ", "))), target table \(name) in \(configuration.path) has (\(existing.primaryKey.joined(separator: ", "))): change the target table's primary key by hand, then restart")
        }
        for (column, type) in zip(change.table.columns, types) where existing.columns[column.name] == nil {
            let fill = change.added.contains(column.name) ? SQLiteTypes.copyableDefault(column.defaultValueExpression) : nil
            try database.execute("ALTER TABLE \(Self.quoted(name)) ADD COLUMN \(Self.quoted(column.name))\(type.isEmpty ? "" : " " + type)\(fill.map { " DEFAULT \($0)" } ?? "")",
                                 doing: "adding column \(column.name) to \(name)")
            logger.info("target table altered", metadata: ["table": .string(name), "added": .string(column.name)])
        }
        tables[name] = nil
        // Statements prepared for the old columns are prepared again.
        await forgetStatements()
    }
}
