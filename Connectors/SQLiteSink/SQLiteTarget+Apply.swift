import SiphonCore

/// Row changes, applied with statements prepared once per table and column
/// list, run per row (in-process: no round trip per row); values are bound
/// from each row's JSON texts in its columns' order.
extension SQLiteTarget {
    func apply(_ changes: ChangeSet) async throws {
        for group in changes.tables {
            let name = try targetName(for: group.name)
            guard let table = try table(name) else {
                throw SiphonError(.sink, "target table \(name) (for source table \(group.name)) does not exist in \(configuration.path), and no schema-change event has described it since the sink started: create it, or start the pipeline from the beginning (siphon offsets reset) so that it is created")
            }
            guard !table.primaryKey.isEmpty else {
                throw SiphonError(.sink, "target table \(name) in \(configuration.path) has no primary key: the sink applies changes by key; give it the source table's key")
            }
            // A row's statement and declared types by its column list:
            // the lists are shared by the table's rows, and live as long as this call.
            var upserts: [ObjectIdentifier: (statement: TargetStatement, declared: [String])] = [:]
            for row in group.rows {
                if row.values == nil || row.deleteFirst { try delete(try row.key(), from: name, table, source: group.name) }
                guard let values = row.values else { continue }
                let list = ObjectIdentifier(values.columns)
                if upserts[list] == nil { upserts[list] = try upsertStatement(values.columns, into: name, table, source: group.name) }
                let (statement, declared) = upserts[list]!
                for index in 0..<values.count {
                    statement.bind(Int32(index + 1), SQLiteTypes.value(String(decoding: values.text(at: index), as: UTF8.self),
                                                                      declared: declared[index]))
                }
                try statement.run(doing: "writing to \(name)")
            }
        }
    }

    private func delete(_ key: RowValues, from name: String, _ table: TargetColumns, source: TableName) throws {
        guard Set(key.columns.names) == Set(table.primaryKey) else {
            throw SiphonError(.sink, "source table \(source) is keyed by (\(key.columns.names.sorted().joined(separator: ", "))), target table \(name) by (\(table.primaryKey.joined(separator: ", "))): give both the same primary key")
        }
        let match = table.primaryKey.map { "\(Self.quoted($0)) = ?" }.joined(separator: " AND ")
        let doing = "deleting from \(name)"
        let statement = try statement("DELETE FROM \(Self.quoted(name)) WHERE \(match)", doing: doing)
        for (index, column) in table.primaryKey.enumerated() {
            statement.bind(Int32(index + 1), SQLiteTypes.value(String(decoding: key.text(column)!, as: UTF8.self),
                                                              declared: table.columns[column] ?? ""))
        }
        try statement.run(doing: doing)
    }

    /// The upsert of a row carrying `list`'s columns, in that order, and each column's declared type.
    private func upsertStatement(_ list: ColumnList, into name: String, _ table: TargetColumns,
                                 source: TableName) throws -> (statement: TargetStatement, declared: [String]) {
        let columns = list.names
        if let missing = columns.first(where: { table.columns[$0] == nil }) {
            throw SiphonError(.sink, "source table \(source) has column \(missing), which target table \(name) in \(configuration.path) lacks: add it (the sink adds columns when a schema-change event says they were added)")
        }
        if let key = table.primaryKey.first(where: { !columns.contains($0) }) {
            throw SiphonError(.sink, "rows of source table \(source) do not carry column \(key) of target table \(name)'s primary key: give the target table the source table's primary key")
        }
        let names = columns.map(Self.quoted).joined(separator: ", ")
        let marks = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        let updates = columns.filter { !table.primaryKey.contains($0) }.map { "\(Self.quoted($0)) = excluded.\(Self.quoted($0))" }
        let conflict = updates.isEmpty ? "DO NOTHING" : "DO UPDATE SET \(updates.joined(separator: ", "))"
        let key = table.primaryKey.map(Self.quoted).joined(separator: ", ")
        let statement = try statement("INSERT INTO \(Self.quoted(name)) (\(names)) VALUES (\(marks)) ON CONFLICT (\(key)) \(conflict)",
                                      doing: "writing to \(name)")
        return (statement, columns.map { table.columns[$0] ?? "" })
    }
}
