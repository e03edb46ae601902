import SiphonCore

extension PostgresSinkConfiguration {
    /// Reads the `sink:` mapping of a `type: postgres` sink, reporting every
    /// problem with its key. The url is never quoted: it may hold the password.
    public init?(reading reader: ConfigReader) {
        var valid = true
        let url = reader.requiredString("url")
        let schema = reader.string("schema")
        var tables: [String: String] = [:]
        if let mapping = reader.child("tables") {
            for key in mapping.keys {
                guard let value = mapping.scalarText(key) else { continue }
                let parts = key.split(separator: ".", omittingEmptySubsequences: false)
                if parts.count != 2 || parts.contains(where: \.isEmpty) {
                    valid = false
                    mapping.report(key, "must be a source table as schema.table (SQLite tables: main.table)")
                } else if value.isEmpty || value.hasPrefix(".") || value.hasSuffix(".") {
                    valid = false
                    mapping.report(key, "must name the target table as table or schema.table")
                } else {
                    tables[key] = value
                }
            }
        }
        let createTables = reader.bool("create_tables", default: true)
        let batchMaxEvents = reader.int("batch_max_events", default: 10_000, range: 1...1_000_000)
        let batchMaxDelay = reader.duration("batch_max_delay", default: .milliseconds(500))
        let role = reader.choice("replication_role", allowed: ReplicationRole.allCases.map(\.rawValue), default: "origin")
        reader.finish()
        if let url {
            do throws(SiphonError) { _ = try TargetAddress(url) } catch {
                valid = false
                reader.report("url", error.message)
            }
        }
        if let schema, schema.isEmpty || schema.utf8.contains(0) {
            valid = false
            reader.report("schema", "must be a schema name")
        }
        if batchMaxDelay <= .zero || batchMaxDelay > .seconds(3600) {
            valid = false
            reader.report("batch_max_delay", "must be between 1ms and 1h, such as 500ms")
        }
        guard valid, let url else { return nil }
        self.init(url: url, schema: schema, tables: tables, createTables: createTables, batchMaxEvents: batchMaxEvents,
                  batchMaxDelay: batchMaxDelay, replicationRole: ReplicationRole(rawValue: role) ?? .origin)
    }
}
