import Foundation
import SiphonCore

/// Which target types a source column gets, which type changes are safe to
/// apply, and which defaults may be copied: the rules README "Database
/// sinks" documents.
enum PostgresTypes {
    /// A type as PostgreSQL's `format_type` writes a built-in one
    /// (`character varying(40)`, `numeric(10,2)`, `timestamp(3) with time
    /// zone`, `integer[]`). Anything else (a quoted or schema-qualified name)
    /// is never put into SQL.
    static func isPlainTypeExpression(_ text: String) -> Bool {
        text.range(of: #"^[a-z_][a-z0-9_ ]*(\([0-9]+(,[0-9]+)?\))?( with(out)? time zone)?(\[\])*$"#,
                   options: .regularExpression) != nil
    }

    /// The PostgreSQL type for a column of an SQLite source, by SQLite's type
    /// affinity rules (https://sqlite.org/datatype3.html, 3.1).
    static func fromSQLite(_ declared: String) -> String {
        let upper = declared.uppercased()
        if upper.contains("INT") { return "bigint" }
        if upper.contains("CHAR") || upper.contains("CLOB") || upper.contains("TEXT") { return "text" }
        if upper.contains("BLOB") { return "bytea" }
        if upper.contains("REAL") || upper.contains("FLOA") || upper.contains("DOUB") { return "double precision" }
        if upper.hasPrefix("BOOL") { return "boolean" }
        if upper.hasPrefix("NUMERIC") || upper.hasPrefix("DECIMAL") { return "numeric" }
        // No declared type, dates kept as text, and anything else: text keeps every value.
        return "text"
    }

    /// Whether changing a column from `from` to `to` keeps every value
    /// (`ALTER COLUMN ... TYPE` then never fails or rounds).
    static func widens(from: String, to: String) -> Bool {
        if from == to { return true }
        if from.hasSuffix("[]") && to.hasSuffix("[]") { return widens(from: String(from.dropLast(2)), to: String(to.dropLast(2))) }
        let integers = ["smallint", "integer", "bigint"]
        if let a = integers.firstIndex(of: from) {
            if let b = integers.firstIndex(of: to) { return b >= a }
            if to == "numeric" || to == "text" { return true }
            if let (precision, scale) = numeric(to) { return precision - scale >= [5, 10, 19][a] }
            return false
        }
        if from == "real" && to == "double precision" { return true }
        if let (p1, s1) = numeric(from) {
            if to == "numeric" { return true }
            if let (p2, s2) = numeric(to) { return s2 >= s1 && p2 - s2 >= p1 - s1 }
            return false
        }
        if let n = length(from, "character varying") ?? length(from, "character") {
            if to == "text" || to == "character varying" { return true }
            if let m = length(to, "character varying") { return m >= n }
            return false
        }
        if from == "character varying" && to == "text" { return true }
        if from == "text" && to == "character varying" { return true }
        if from == "timestamp without time zone" && to == "timestamp with time zone" { return false }
        return false
    }

    /// `numeric(p,s)` as (p, s); `numeric(p)` as (p, 0).
    private static func numeric(_ type: String) -> (Int, Int)? {
        guard type.hasPrefix("numeric("), type.hasSuffix(")") else { return nil }
        let inner = type.dropFirst("numeric(".count).dropLast().split(separator: ",").compactMap { Int($0) }
        if inner.count == 2 { return (inner[0], inner[1]) }
        if inner.count == 1 { return (inner[0], 0) }
        return nil
    }

    private static func length(_ type: String, _ base: String) -> Int? {
        guard type.hasPrefix(base + "("), type.hasSuffix(")") else { return nil }
        return Int(type.dropFirst(base.count + 1).dropLast())
    }

    /// A default the sink copies to the target: a literal, optionally cast
    /// (`'x'::text`, `0`, `-1.5`, `true`, `'{}'::integer[]`). Function calls
    /// (`nextval(...)`, `now()`) are never copied: they would name objects
    /// the target may not have, or compute other values than the source did.
    static func copyableDefault(_ expression: String?) -> String? {
        guard let expression else { return nil }
        let pattern = #"^('([^']|'')*'|-?[0-9]+(\.[0-9]+)?|true|false|TRUE|FALSE)(::[a-z_][a-z0-9_ ]*(\([0-9]+(,[0-9]+)?\))?( with(out)? time zone)?(\[\])*)?$"#
        return expression.range(of: pattern, options: .regularExpression) != nil ? expression : nil
    }
}
