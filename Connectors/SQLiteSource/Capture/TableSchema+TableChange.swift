import Foundation
import SiphonCore

/// A schema version as an entry of Debezium's `tableChanges`
/// (docs/EVENTS.md, "SQLite source").
extension TableSchema {
    typealias ChangeType = TableChange.Kind

    /// The table as this version describes it (for a drop, pass the
    /// version before it). `generated` is false, since `PRAGMA table_info`
    /// (what Siphon captures) leaves generated columns out. A version an
    /// older Siphon recorded has no details: `optional` true, no default.
    func tableChange(_ type: ChangeType) -> TableChange {
        TableChange(
            kind: type, table: TableName(schema: "main", name: table),
            primaryKeyColumnNames: keyColumns.map { columns[$0].name },
            columns: columns.map { column in
                let type = DeclaredType(column.type)
                return TableChange.Column(
                    name: column.name, jdbcType: type.jdbcType, typeName: type.name, typeExpression: column.type,
                    length: type.length, scale: type.scale, optional: !(column.details?.notNull ?? false),
                    autoIncremented: column.details?.autoIncrement ?? false,
                    defaultValueExpression: column.details?.defaultValue)
            })
    }

    func writeTableChange(_ type: ChangeType, to json: inout JSONBuffer) {
        tableChange(type).write(to: &json)
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
