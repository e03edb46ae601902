import SiphonCore

/// Every version of every captured table, read from `_siphon_schema`: a
/// changelog row names the version its trigger wrote, and its values are
/// read with that version's column list.
struct SchemaRegistry {
    private var versions: [String: [Int: TableSchema]] = [:]

    static func load(_ connection: SQLiteConnection) throws -> SchemaRegistry {
        var registry = SchemaRegistry()
        let statement = try connection.prepare("SELECT tbl, version, columns FROM \(CaptureInstaller.schemaTable)")
        while try statement.step() {
            let table = statement.string(0) ?? ""
            let version = Int(statement.int64(1))
            guard let schema = TableSchema(table: table, version: version, columnsJSON: statement.string(2) ?? "") else {
                throw SiphonError(.sourceFatal, "\(CaptureInstaller.schemaTable) in \(connection.path) has a damaged row for \(table) version \(version)")
            }
            registry.versions[table, default: [:]][version] = schema
        }
        return registry
    }

    func schema(_ table: String, version: Int) -> TableSchema? {
        versions[table]?[version]
    }

    func latest(_ table: String) -> TableSchema? {
        versions[table]?.max { $0.key < $1.key }?.value
    }
}
