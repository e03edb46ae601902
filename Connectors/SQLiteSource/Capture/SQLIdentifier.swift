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
        patterns.contains { Self.glob($0.utf8[...], table.utf8[...]) }
    }

    /// The patterns that match none of `tables`.
    func unmatched(in tables: [String]) -> [String] {
        patterns.filter { pattern in !tables.contains { Self.glob(pattern.utf8[...], $0.utf8[...]) } }
    }

    private static func glob(_ pattern: Substring.UTF8View, _ text: Substring.UTF8View) -> Bool {
        guard let first = pattern.first else { return text.isEmpty }
        if first == UInt8(ascii: "*") {
            let rest = pattern.dropFirst()
            var candidate = text
            while true {
                if glob(rest, candidate) { return true }
                guard !candidate.isEmpty else { return false }
                candidate = candidate.dropFirst()
            }
        }
        guard let head = text.first, head == first else { return false }
        return glob(pattern.dropFirst(), text.dropFirst())
    }
}
