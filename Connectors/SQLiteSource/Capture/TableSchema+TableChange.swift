import Foundation
import SiphonCore

/// A schema version as an entry of Debezium's `tableChanges`
/// (docs/EVENTS.md, "SQLite source").
extension TableSchema {
    enum ChangeType: String {
        case create = "CREATE", alter = "ALTER", drop = "DROP"
    }

    /// `{"type":..., "id":"\"main\".\"<table>\"", "table":{...}}`, the table
    /// as this version describes it (for a drop, pass the version before it).
    func writeTableChange(_ type: ChangeType, to json: inout JSONBuffer) {
        json.appendRaw("{\"type\":\"")
        json.appendRaw(type.rawValue.utf8)
        json.appendRaw("\",\"id\":")
        json.appendString("\"main\"." + SQL.identifier(table))
        json.appendRaw(",\"table\":{\"defaultCharsetName\":null,\"primaryKeyColumnNames\":[")
        for (position, index) in keyColumns.enumerated() {
            if position > 0 { json.appendByte(UInt8(ascii: ",")) }
            json.appendString(columns[index].name)
        }
        json.appendRaw("],\"columns\":[")
        for (index, column) in columns.enumerated() {
            if index > 0 { json.appendByte(UInt8(ascii: ",")) }
            Self.writeColumn(column, position: index + 1, to: &json)
        }
        json.appendRaw("],\"comment\":null}}")
    }

    /// One column in Debezium's shape. SQLite keeps no charset, comment or
    /// enum values; `generated` is false, since `PRAGMA table_info` (what
    /// Siphon captures) leaves generated columns out. A version an older
    /// Siphon recorded has no details: `optional` true, no default.
    private static func writeColumn(_ column: Column, position: Int, to json: inout JSONBuffer) {
        let type = DeclaredType(column.type)
        json.appendRaw("{\"name\":")
        json.appendString(column.name)
        json.appendRaw(",\"jdbcType\":")
        json.appendInt(type.jdbcType)
        json.appendRaw(",\"typeName\":")
        json.appendString(type.name)
        json.appendRaw(",\"typeExpression\":")
        json.appendString(column.type)
        json.appendRaw(",\"charsetName\":null,\"length\":")
        appendOptional(type.length, to: &json)
        json.appendRaw(",\"scale\":")
        appendOptional(type.scale, to: &json)
        json.appendRaw(",\"position\":")
        json.appendInt(position)
        json.appendRaw(",\"optional\":")
        json.appendBool(!(column.details?.notNull ?? false))
        json.appendRaw(",\"autoIncremented\":")
        json.appendBool(column.details?.autoIncrement ?? false)
        json.appendRaw(",\"generated\":false,\"comment\":null,\"defaultValueExpression\":")
        if let value = column.details?.defaultValue { json.appendString(value) } else { json.appendNull() }
        json.appendRaw(",\"enumValues\":null}")
    }

    private static func appendOptional(_ value: Int?, to json: inout JSONBuffer) {
        if let value { json.appendInt(value) } else { json.appendNull() }
    }
}

/// A column's declared type, read the way SQLite reads it: a name, maybe
/// followed by one or two signed numbers in parentheses (`VARCHAR(20)`,
/// `DECIMAL(10,2)`), which SQLite ignores but Debezium's `length` and
/// `scale` report.
struct DeclaredType: Equatable {
    /// The declared type without its parenthesized numbers (`VARCHAR`).
    var name: String
    var length: Int?
    var scale: Int?
    /// The java.sql.Types code of the column's SQLite type affinity
    /// (sqlite.org/datatype3.html, 3.1): INTEGER is BIGINT (-5, SQLite
    /// integers are 64-bit), TEXT is VARCHAR (12), REAL is DOUBLE (8),
    /// NUMERIC is NUMERIC (2), a declared BLOB is BLOB (2004), and no
    /// declared type, which takes any value, is OTHER (1111).
    var jdbcType: Int

    init(_ declared: String) {
        let text = declared.trimmingCharacters(in: .whitespaces)
        if let open = text.firstIndex(of: "("), text.hasSuffix(")") {
            name = text[..<open].trimmingCharacters(in: .whitespaces)
            let arguments = text[text.index(after: open)..<text.index(before: text.endIndex)]
                .split(separator: ",", omittingEmptySubsequences: false)
                .map { Int($0.trimmingCharacters(in: .whitespaces)) }
            if arguments.count <= 2, arguments.allSatisfy({ $0 != nil }) {
                length = arguments.first ?? nil
                scale = arguments.count == 2 ? arguments[1] : nil
            }
        } else {
            name = text
        }
        let upper = text.uppercased()
        if upper.contains("INT") {
            jdbcType = -5
        } else if upper.contains("CHAR") || upper.contains("CLOB") || upper.contains("TEXT") {
            jdbcType = 12
        } else if upper.contains("BLOB") {
            jdbcType = 2004
        } else if upper.isEmpty {
            jdbcType = 1111
        } else if upper.contains("REAL") || upper.contains("FLOA") || upper.contains("DOUB") {
            jdbcType = 8
        } else {
            jdbcType = 2
        }
    }
}
