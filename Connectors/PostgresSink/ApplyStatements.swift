import SiphonCore

/// The set-based statements that apply a `ChangeSet` to one target table:
/// rows travel as one JSON array parameter, unpacked by
/// `json_to_recordset` (not jsonb's: no jsonb value is built for the
/// whole batch, and a text field gets its value's own text),
/// and each value is converted from its event form
/// (docs/EVENTS.md) to the column's type in SQL.
enum ApplyStatements {
    /// `DELETE ... USING json_to_recordset($1)` matching every key column.
    static func delete(_ table: TargetTable) -> String {
        let record = table.primaryKey.map { recordField($0, table) }.joined(separator: ", ")
        let match = table.primaryKey.map { "t.\(SQL.quoted($0)) = \(valueExpression($0, table))" }.joined(separator: " AND ")
        return "DELETE FROM \(SQL.quoted(table.name)) AS t USING json_to_recordset($1::json) AS r(\(record)) WHERE \(match)"
    }

    /// `INSERT ... SELECT FROM json_to_recordset($1) ON CONFLICT (key) DO
    /// UPDATE` of `columns` only: columns an event does not carry are left
    /// as they are.
    static func upsert(_ table: TargetTable, columns: [String]) -> String {
        let names = columns.map(SQL.quoted).joined(separator: ", ")
        let values = columns.map { valueExpression($0, table) }.joined(separator: ", ")
        let record = columns.map { recordField($0, table) }.joined(separator: ", ")
        let key = table.primaryKey.map(SQL.quoted).joined(separator: ", ")
        let updates = columns.filter { !table.primaryKey.contains($0) }
            .map { "\(SQL.quoted($0)) = EXCLUDED.\(SQL.quoted($0))" }.joined(separator: ", ")
        let conflict = updates.isEmpty ? "DO NOTHING" : "DO UPDATE SET \(updates)"
        return "INSERT INTO \(SQL.quoted(table.name)) AS t (\(names)) SELECT \(values) FROM json_to_recordset($1::json) AS r(\(record)) ON CONFLICT (\(key)) \(conflict)"
    }

    /// Types whose event form is not their input form: the record reads them
    /// as text (arrays of them as text[]) and SQL converts each value.
    private static let converted: Set<String> = ["json", "jsonb", "bytea", "numeric", "date"]

    private static func recordField(_ name: String, _ table: TargetTable) -> String {
        let column = table.column(name)!
        let type: String
        if converted.contains(column.typeName) {
            type = "text"
        } else if column.typeName.hasPrefix("_"), converted.contains(String(column.typeName.dropFirst())) {
            type = "text[]"
        } else {
            type = column.type
        }
        return "\(SQL.quoted(name)) \(type)"
    }

    /// The column's value from the record, in the column's type.
    private static func valueExpression(_ name: String, _ table: TargetTable) -> String {
        let column = table.column(name)!
        let field = "r.\(SQL.quoted(name))"
        if column.typeName.hasPrefix("_"), converted.contains(String(column.typeName.dropFirst())) {
            // One-dimensional arrays, element by element, NULLs kept.
            let element = String(column.typeName.dropFirst())
            let base = String(column.type.dropLast(2))
            return "(CASE WHEN \(field) IS NULL THEN NULL ELSE ARRAY(SELECT \(convert("e", typeName: element, type: base)) FROM unnest(\(field)) WITH ORDINALITY AS u(e, n) ORDER BY n) END)::\(column.type)"
        }
        return convert(field, typeName: column.typeName, type: column.type)
    }

    /// `value` (text in the event's form) converted to `type`.
    private static func convert(_ value: String, typeName: String, type: String) -> String {
        switch typeName {
        case "json", "jsonb":
            return "\(value)::\(type)"
        case "bytea":
            return "decode(\(value), 'base64')"
        case "numeric":
            return "(CASE \(value) WHEN 'NAN' THEN 'NaN' WHEN 'POSITIVE_INFINITY' THEN 'Infinity' WHEN 'NEGATIVE_INFINITY' THEN '-Infinity' ELSE \(value) END)::\(type)"
        case "date":
            // "2024-02-29Z"; years up to 1 BC are astronomical ("-0043" is 44 BC).
            return """
                (CASE WHEN \(value) ~ '^(-|0000-)' THEN make_date(substring(\(value) from '^(-?[0-9]+)-')::int - 1, \
                substring(\(value) from '^-?[0-9]+-([0-9]+)-')::int, substring(\(value) from '^-?[0-9]+-[0-9]+-([0-9]+)')::int) \
                ELSE rtrim(\(value), 'Z')::date END)
                """
        default:
            return value
        }
    }

    /// The rows as the JSON array `$1`: each row's values as the event wrote them.
    static func payload(_ rows: [[String: String]], columns: [String]) -> String {
        // Each column's `"name":`, rendered once for all rows.
        let names = columns.map { column -> [UInt8] in
            var name = JSONBuffer(capacity: column.utf8.count + 3)
            name.appendString(column)
            name.appendByte(UInt8(ascii: ":"))
            return name.bytes
        }
        var json = JSONBuffer(capacity: 256 * rows.count)
        json.appendByte(UInt8(ascii: "["))
        for (index, row) in rows.enumerated() {
            if index > 0 { json.appendByte(UInt8(ascii: ",")) }
            json.appendByte(UInt8(ascii: "{"))
            var first = true
            for (column, name) in zip(columns, names) {
                guard let value = row[column] else { continue }
                if !first { json.appendByte(UInt8(ascii: ",")) }
                first = false
                json.appendRaw(name)
                json.appendRaw(value.utf8)
            }
            json.appendByte(UInt8(ascii: "}"))
        }
        json.appendByte(UInt8(ascii: "]"))
        return String(decoding: json.bytes, as: UTF8.self)
    }
}
