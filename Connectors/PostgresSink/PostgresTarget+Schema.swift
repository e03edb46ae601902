import SiphonCore

/// Schema-change events, applied to the target inside the open transaction.
///
/// The table is reconciled with the event's columns, so replaying an event
/// changes nothing: a missing table is created (key included); a missing
/// column is added, with the source's default when it is a literal, so
/// existing rows match the source; a column whose type the source widened
/// is widened; a column the source no longer has is kept and made nullable
/// (the sink never drops data). A change that cannot be applied safely is
/// a permanent error naming the table, the column and both types.
extension PostgresTarget {
    func applySchema(_ change: SchemaChange) async throws {
        guard change.table.kind != .drop, !change.table.columns.isEmpty else { return }
        let connection = try live()
        let source = change.table.table
        let name = configuration.targetTable(for: source)
        let types = try await targetTypes(for: change)
        tables[name] = nil
        guard let existing = try await table(name) else {
            guard configuration.createTables else {
                throw SiphonError(.sink, "target table \(name) (for source table \(source)) does not exist and sink.create_tables is false: create it, or set create_tables: true")
            }
            var definitions = zip(change.table.columns, types).map { column, type in
                "\(SQL.quoted(column.name)) \(type)\(column.optional ? "" : " NOT NULL")"
            }
            if !change.table.primaryKeyColumnNames.isEmpty {
                definitions.append("PRIMARY KEY (\(change.table.primaryKeyColumnNames.map(SQL.quoted).joined(separator: ", ")))")
            }
            try await Self.createSchemaIfMissing(name.schema, on: connection)
            try await connection.query("CREATE TABLE \(SQL.quoted(name)) (\(definitions.joined(separator: ", ")))",
                                       doing: "creating table \(name)")
            logger.info("target table created", metadata: ["table": .string(name.description)])
            tables[name] = nil
            return
        }
        var statements: [(sql: String, doing: String)] = []
        for (column, type) in zip(change.table.columns, types) {
            guard let current = existing.column(column.name) else {
                let fill = change.added.contains(column.name) ? PostgresTypes.copyableDefault(column.defaultValueExpression) : nil
                statements.append(("ALTER TABLE \(SQL.quoted(name)) ADD COLUMN \(SQL.quoted(column.name)) \(type)\(fill.map { " DEFAULT \($0)" } ?? "")",
                                   "adding column \(column.name) to \(name)"))
                continue
            }
            if current.type == type || PostgresTypes.widens(from: type, to: current.type) { continue }
            guard PostgresTypes.widens(from: current.type, to: type) else {
                throw SiphonError(.sink, "column \(column.name) of target table \(name) is \(current.type), and source table \(source) has it as \(type); the sink only widens types (int to bigint, varchar(10) to varchar(20), numeric precision up): change the target column by hand, then restart")
            }
            statements.append(("ALTER TABLE \(SQL.quoted(name)) ALTER COLUMN \(SQL.quoted(column.name)) TYPE \(type)",
                               "widening column \(column.name) of \(name) from \(current.type) to \(type)"))
        }
        let sourceColumns = Set(change.table.columns.map(\.name))
        for column in existing.columns where column.notNull && !sourceColumns.contains(column.name)
            && !existing.primaryKey.contains(column.name) {
            statements.append(("ALTER TABLE \(SQL.quoted(name)) ALTER COLUMN \(SQL.quoted(column.name)) DROP NOT NULL",
                               "making dropped column \(column.name) of \(name) nullable"))
        }
        let sourceKey = change.table.primaryKeyColumnNames
        if !sourceKey.isEmpty, !existing.primaryKey.isEmpty, sourceKey != existing.primaryKey {
            throw SiphonError(.sink, "source table \(source) has primary key (\(sourceKey.joined(separator: ", "))), target table \(name) has (\(existing.primaryKey.joined(separator: ", "))): change the target table's primary key by hand, then restart")
        }
        for statement in statements {
            try await connection.query(statement.sql, doing: statement.doing)
            logger.info("target table altered", metadata: ["table": .string(name.description), "change": .string(statement.doing)])
        }
        tables[name] = nil
    }

    /// The target type of each column: PostgreSQL's own type where the
    /// target has it (enums and other types it lacks become text), the
    /// affinity mapping for an SQLite source.
    private func targetTypes(for change: SchemaChange) async throws -> [String] {
        if change.connector == "sqlite" { return change.table.columns.map { PostgresTypes.fromSQLite($0.typeExpression) } }
        let candidates = change.table.columns.map { column in
            PostgresTypes.isPlainTypeExpression(column.typeExpression) ? column.typeExpression : ""
        }
        // to_regtype: whether the target knows the type (NULL for an enum it lacks).
        let known = try await live().query(
            "SELECT CASE WHEN t = '' THEN NULL ELSE format_type(to_regtype(t), NULL) END FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n",
            [Self.arrayLiteral(candidates)], doing: "looking up the column types of \(change.table.table)")
        return zip(zip(candidates, known), change.table.columns).map { pair, column in
            let (candidate, row) = pair
            if !candidate.isEmpty, row.first.flatMap({ $0 }) != nil { return candidate }
            return column.typeExpression.hasSuffix("[]") ? "text[]" : "text"
        }
    }

    /// A text[] literal: each element double-quoted, `"` and `\` escaped.
    static func arrayLiteral(_ values: [String]) -> String {
        "{" + values.map { "\"" + $0.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") + "\"" }.joined(separator: ",") + "}"
    }
}
