import SiphonCore

/// The `tables` include patterns: `schema.table` with `*` matching any run
/// of characters (`public.*`, `sales.order_*`). A pattern without a dot
/// names a table in schema `public`.
struct TableFilter: Sendable, Equatable {
    let patterns: [String]

    init(patterns: [String]) {
        self.patterns = patterns.map { $0.contains(".") ? $0 : "public." + $0 }
    }

    /// Siphon's own table (`lease:` keeps schema versions there) is never captured.
    func matches(_ table: TableName) -> Bool {
        if table.schema == DatabaseSchemaHistory.schema && table.name == DatabaseSchemaHistory.table { return false }
        let name = table.schema + "." + table.name
        return patterns.contains { NamePattern.matches($0, name) }
    }

    /// Whether any pattern is a plain name (no wildcard) equal to `table`.
    func namesExactly(_ table: TableName) -> Bool {
        patterns.contains(table.description)
    }
}
