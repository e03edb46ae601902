import SiphonCore

/// Quoting for SQL text that Siphon generates from table and column names.
enum SQL {
    /// `"name"`, with embedded quotes doubled: safe for any identifier.
    static func identifier(_ name: String) -> String {
        "\"" + name.replacingAll("\"", with: "\"\"") + "\""
    }

    /// `'text'`, with embedded quotes doubled.
    static func literal(_ text: String) -> String {
        "'" + text.replacingAll("'", with: "''") + "'"
    }
}

/// Include patterns on table names, with `*` matching any run of characters
/// (`"*"`, `"orders"`, `"audit_*"`); a `main.` prefix is accepted and ignored.
struct TablePatterns: Sendable {
    let patterns: [String]

    init(_ patterns: [String]) {
        self.patterns = patterns.map { $0.hasPrefix("main.") ? String($0.dropFirst(5)) : $0 }
    }

    func matches(_ table: String) -> Bool {
        patterns.contains { NamePattern.matches($0, table) }
    }

    /// The patterns that match none of `tables`.
    func unmatched(in tables: [String]) -> [String] {
        patterns.filter { pattern in !tables.contains { NamePattern.matches(pattern, $0) } }
    }
}
