import SiphonCore

/// The set-based statements that apply a `ChangeSet` to one target table:
/// each column's values for the whole batch travel as one array parameter
/// (`ArrayLiteral`), unpacked by `unnest` into rows, and each value is
/// converted from its event form (docs/EVENTS.md) to the column's type in
/// SQL. (Measured against `json_to_recordset` of one JSON parameter, which
/// the sink used before: the target's CPU per upserted row about 30% lower,
/// and no JSON is rendered or parsed on either side.)
enum ApplyStatements {
    /// `DELETE ... USING unnest($1, ...)` matching every key column.
    static func delete(_ table: TargetTable) -> String {
        let match = table.primaryKey.map { "t.\(SQL.quoted($0)) = \(valueExpression($0, table))" }.joined(separator: " AND ")
        return "DELETE FROM \(SQL.quoted(table.name)) AS t USING \(rows(table.primaryKey, table)) WHERE \(match)"
    }

    /// `INSERT ... SELECT FROM unnest($1, ...) ON CONFLICT (key) DO UPDATE`
    /// of `columns` only: columns an event does not carry are left as they are.
    static func upsert(_ table: TargetTable, columns: [String]) -> String {
        let names = columns.map(SQL.quoted).joined(separator: ", ")
        let values = columns.map { valueExpression($0, table) }.joined(separator: ", ")
        let key = table.primaryKey.map(SQL.quoted).joined(separator: ", ")
        let updates = columns.filter { !table.primaryKey.contains($0) }
            .map { "\(SQL.quoted($0)) = EXCLUDED.\(SQL.quoted($0))" }.joined(separator: ", ")
        let conflict = updates.isEmpty ? "DO NOTHING" : "DO UPDATE SET \(updates)"
        return "INSERT INTO \(SQL.quoted(table.name)) AS t (\(names)) SELECT \(values) FROM \(rows(columns, table)) ON CONFLICT (\(key)) \(conflict)"
    }

    /// The parameters of `delete` or `upsert` of `columns` of `table`:
    /// `value(row, column)` (the JSON text of row `row`'s value of
    /// `columns[column]`) as one array per column. `source` names the
    /// table in errors.
    static func parameters(rows: Int, columns: [String], table: TargetTable, source: TableName,
                           _ value: (_ row: Int, _ column: Int) throws -> ArraySlice<UInt8>) throws -> [String?] {
        var parameters: [String?] = []
        parameters.reserveCapacity(columns.count)
        for column in columns.indices {
            // An array column's values stay JSON text, which SQL reads
            // (`valueExpression`): decoded, a JSON string holding an array
            // literal (how the source sends box[]) could not be told from a
            // JSON array.
            let keepsJSON = table.column(columns[column])?.isArray ?? false
            var literal = ArrayLiteral(capacity: rows * 16)
            for row in 0..<rows {
                do {
                    if keepsJSON {
                        literal.append(jsonText: try value(row, column))
                    } else {
                        try literal.append(json: try value(row, column))
                    }
                } catch is ArrayLiteral.NulCharacter {
                    throw SiphonError(.sink, "a value of column \(columns[column]) of table \(source) holds the character U+0000, which PostgreSQL text cannot store: remove it at the source, or leave the table out of the pipeline")
                } catch let error as JSONMembers.Malformed {
                    throw SiphonError(.sink, "a value of column \(columns[column]) of table \(source) is not valid JSON (\(error)): the event was damaged between the source and the sink")
                }
            }
            parameters.append(literal.finish())
        }
        return parameters
    }

    /// `unnest($1::type[], ...) AS r(columns)`.
    private static func rows(_ columns: [String], _ table: TargetTable) -> String {
        let arrays = columns.enumerated().map { "$\($0.offset + 1)::\(elementType($0.element, table))[]" }.joined(separator: ", ")
        return "unnest(\(arrays)) AS r(\(columns.map(SQL.quoted).joined(separator: ", ")))"
    }

    /// The type of a column's elements in its array parameter: the type
    /// whose input function reads the value (`Column.inputType`; the INSERT
    /// assigns it to the column), or text when SQL converts it
    /// (`valueExpression`).
    private static func elementType(_ name: String, _ table: TargetTable) -> String {
        let column = table.column(name)!
        return passesAsText(column) ? "text" : column.inputType
    }

    /// Arrays (an array of arrays would be unnested element by element),
    /// types whose event form is not their input form, and types whose
    /// array literals are not comma-separated.
    private static func passesAsText(_ column: TargetTable.Column) -> Bool {
        column.isArray || converted.contains(column.typeName) || column.delimiter != ","
    }

    /// Types whose event form is not their input form: the record reads them
    /// as text (arrays of them as text[]) and SQL converts each value.
    private static let converted: Set<String> = ["json", "jsonb", "bytea", "numeric", "date"]

    /// The column's value from the unnested row, in the column's type.
    private static func valueExpression(_ name: String, _ table: TargetTable) -> String {
        let column = table.column(name)!
        let field = "r.\(SQL.quoted(name))"
        if column.isArray {
            // The JSON array's text, read into a PostgreSQL array as
            // `json_to_record` reads one (nested arrays, NULLs kept).
            let element = String(column.typeName.dropFirst())
            let isConverted = converted.contains(element)
            let array = "(SELECT x.v FROM json_to_record(json_build_object('v', \(field)::json)) AS x(v \(isConverted ? "text[]" : column.type)))"
            guard isConverted else { return array }
            // One-dimensional arrays, element by element, NULLs kept.
            let base = column.elementType ?? String(column.type.dropLast(2))
            return "(CASE WHEN \(field) IS NULL THEN NULL ELSE ARRAY(SELECT \(convert("e", typeName: element, type: base)) FROM unnest(\(array)) WITH ORDINALITY AS u(e, n) ORDER BY n) END)::\(column.type)"
        }
        if column.delimiter != "," { return "\(field)::\(column.inputType)" }
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
}
