import SiphonCore

extension SQLiteSinkConfiguration {
    /// Reads the `sink:` mapping of a `type: sqlite` sink, reporting every problem with its key.
    public init?(reading reader: ConfigReader) {
        var valid = true
        let path = reader.requiredString("path")
        var tables: [String: String] = [:]
        if let mapping = reader.child("tables") {
            var targets: [String: String] = [:]
            for key in mapping.keys {
                guard let value = mapping.scalarText(key) else { continue }
                let parts = key.split(separator: ".", omittingEmptySubsequences: false)
                if parts.count != 2 || parts.contains(where: \.isEmpty) {
                    valid = false
                    mapping.report(key, "must be a source table as schema.table (SQLite tables: main.table)")
                } else if value.isEmpty {
                    valid = false
                    mapping.report(key, "must name the target table")
                } else if let other = targets[value] {
                    valid = false
                    mapping.report(key, "maps to table \(value), as \(other) does: give each source table its own target table")
                } else {
                    targets[value] = key
                    tables[key] = value
                }
            }
        }
        let createTables = reader.bool("create_tables", default: true)
        let batchMaxEvents = reader.int("batch_max_events", default: 10_000, range: 1...1_000_000)
        let batchMaxDelay = reader.duration("batch_max_delay", default: .milliseconds(500))
        reader.finish()
        if let path, path.isEmpty {
            valid = false
            reader.report("path", "must name the SQLite database file (created when missing)")
        }
        if batchMaxDelay <= .zero || batchMaxDelay > .seconds(3600) {
            valid = false
            reader.report("batch_max_delay", "must be between 1ms and 1h, such as 500ms")
        }
        guard valid, let path else { return nil }
        self.init(path: path, tables: tables, createTables: createTables, batchMaxEvents: batchMaxEvents, batchMaxDelay: batchMaxDelay)
    }
}
