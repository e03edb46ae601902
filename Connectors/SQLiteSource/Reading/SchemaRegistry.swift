import SiphonCore

/// Every version of every captured table, read from `_siphon_schema`: a
/// changelog row names the version its trigger wrote, and its values are
/// read with that version's column list.
struct SchemaRegistry {
    struct Version {
        var schema: TableSchema
        /// The table was dropped (or left `tables`); `schema` has no columns.
        var dropped: Bool
        /// The CREATE TABLE statement when the version was recorded; nil for
        /// a dropped table and in rows an older Siphon wrote.
        var ddl: String?
    }

    private var versions: [String: [Int: Version]] = [:]

    static func load(_ connection: SQLiteConnection) throws -> SchemaRegistry {
        var registry = SchemaRegistry()
        let statement = try connection.prepare("SELECT tbl, version, columns, dropped, ddl FROM \(CaptureInstaller.schemaTable)")
        while try statement.step() {
            let table = statement.string(0) ?? ""
            let version = Int(statement.int64(1))
            guard let schema = TableSchema(table: table, version: version, columnsJSON: statement.string(2) ?? "") else {
                throw SiphonError(.sourceFatal, "\(CaptureInstaller.schemaTable) in \(connection.path) has a damaged row for \(table) version \(version)")
            }
            registry.versions[table, default: [:]][version] = Version(schema: schema, dropped: statement.int64(3) != 0,
                                                                      ddl: statement.string(4))
        }
        return registry
    }

    func schema(_ table: String, version: Int) -> TableSchema? {
        versions[table]?[version]?.schema
    }

    func version(_ table: String, _ version: Int) -> Version? {
        versions[table]?[version]
    }

    func latest(_ table: String) -> TableSchema? {
        versions[table]?.max { $0.key < $1.key }?.value.schema
    }
}
