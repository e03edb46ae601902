import SiphonCore

/// Row changes, applied with statements prepared once per table and column
/// set, run per row (in-process: no round trip per row).
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
            for row in group.rows {
                if row.values == nil || row.deleteFirst { try delete(row.key().dictionary, from: name, table, source: group.name) }
                if let values = row.values { try upsert(values.dictionary, into: name, table, source: group.name) }
            }
        }
    }

    private func delete(_ key: [String: String], from name: String, _ table: TargetColumns, source: TableName) throws {
        guard Set(key.keys) == Set(table.primaryKey) else {
            throw SiphonError(.sink, "source table \(source) is keyed by (\(key.keys.sorted().joined(separator: ", "))), target table \(name) by (\(table.primaryKey.joined(separator: ", "))): give both the same primary key")
        }
        let match = table.primaryKey.map { "\(Self.quoted($0)) = ?" }.joined(separator: " AND ")
        let doing = "deleting from \(name)"
        let statement = try statement("DELETE FROM \(Self.quoted(name)) WHERE \(match)", doing: doing)
        for (index, column) in table.primaryKey.enumerated() {
            statement.bind(Int32(index + 1), SQLiteTypes.value(key[column]!, declared: table.columns[column] ?? ""))
        }
        try statement.run(doing: doing)
    }

    private func upsert(_ values: [String: String], into name: String, _ table: TargetColumns, source: TableName) throws {
        let columns = values.keys.sorted()
        if let missing = columns.first(where: { table.columns[$0] == nil }) {
            throw SiphonError(.sink, "source table \(source) has column \(missing), which target table \(name) in \(configuration.path) lacks: add it (the sink adds columns when a schema-change event says they were added)")
        }
        if let key = table.primaryKey.first(where: { values[$0] == nil }) {
            throw SiphonError(.sink, "rows of source table \(source) do not carry column \(key) of target table \(name)'s primary key: give the target table the source table's primary key")
        }
        let names = columns.map(Self.quoted).joined(separator: ", ")
        let marks = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        let updates = columns.filter { !table.primaryKey.contains($0) }.map { "\(Self.quoted($0)) = excluded.\(Self.quoted($0))" }
        let conflict = updates.isEmpty ? "DO NOTHING" : "DO UPDATE SET \(updates.joined(separator: ", "))"
        let key = table.primaryKey.map(Self.quoted).joined(separator: ", ")
        let doing = "writing to \(name)"
        let statement = try statement("INSERT INTO \(Self.quoted(name)) (\(names)) VALUES (\(marks)) ON CONFLICT (\(key)) \(conflict)", doing: doing)
        for (index, column) in columns.enumerated() {
            statement.bind(Int32(index + 1), SQLiteTypes.value(values[column]!, declared: table.columns[column] ?? ""))
        }
        try statement.run(doing: doing)
    }
}
