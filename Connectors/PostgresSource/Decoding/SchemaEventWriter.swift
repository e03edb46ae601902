import SiphonCore

/// The `tableChanges` entry of a schema-change event, in the shape of
/// Debezium's schema change topic (docs/EVENTS.md).
enum SchemaEventWriter {
    /// `{"type":"CREATE"|"ALTER","id":"\"schema\".\"table\"","table":{...}}`
    static func appendTableChange(_ table: TableName, columns: [ColumnSchema], created: Bool, to json: inout JSONBuffer) {
        json.appendRaw("{\"type\":\"")
        json.appendRaw(created ? "CREATE" : "ALTER")
        json.appendRaw("\",\"id\":")
        json.appendString("\"\(table.schema)\".\"\(table.name)\"")
        json.appendRaw(",\"table\":{\"defaultCharsetName\":null,\"primaryKeyColumnNames\":[")
        var first = true
        for column in columns where column.isKey {
            if !first { json.appendByte(UInt8(ascii: ",")) }
            first = false
            json.appendString(column.name)
        }
        json.appendRaw("],\"columns\":[")
        for (index, column) in columns.enumerated() {
            if index > 0 { json.appendByte(UInt8(ascii: ",")) }
            appendColumn(column, position: index + 1, to: &json)
        }
        json.appendRaw("],\"attributes\":[],\"comment\":null}}")
    }

    private static func appendColumn(_ column: ColumnSchema, position: Int, to json: inout JSONBuffer) {
        let (length, scale) = lengthAndScale(column)
        json.appendRaw("{\"name\":")
        json.appendString(column.name)
        json.appendRaw(",\"jdbcType\":null,\"nativeType\":")
        json.appendInt(column.typeOID)
        json.appendRaw(",\"typeName\":")
        json.appendString(column.typeName)
        json.appendRaw(",\"typeExpression\":")
        json.appendString(column.typeExpression ?? column.typeName)
        json.appendRaw(",\"charsetName\":null,\"length\":")
        if let length { json.appendInt(length) } else { json.appendNull() }
        json.appendRaw(",\"scale\":")
        if let scale { json.appendInt(scale) } else { json.appendNull() }
        json.appendRaw(",\"position\":")
        json.appendInt(position)
        json.appendRaw(",\"optional\":")
        json.appendBool(column.optional)
        json.appendRaw(",\"autoIncremented\":")
        json.appendBool(column.defaultExpression?.hasPrefix("nextval(") ?? false)
        json.appendRaw(",\"generated\":false,\"comment\":null,\"defaultValueExpression\":")
        if let value = column.defaultExpression { json.appendString(value) } else { json.appendNull() }
        json.appendRaw(",\"enumValues\":null}")
    }

    /// What the type modifier says: the length of character and bit types,
    /// precision and scale of numeric; nil where it says nothing.
    static func lengthAndScale(_ column: ColumnSchema) -> (Int?, Int?) {
        let modifier = Int(column.typeModifier)
        guard modifier >= 0 else { return (nil, nil) }
        switch column.typeOID {
        case 1043, 1042:  // varchar, bpchar
            return (modifier - 4, nil)
        case 1560, 1562:  // bit, varbit
            return (modifier, nil)
        case 1700:  // numeric
            let packed = modifier - 4
            return ((packed >> 16) & 0xFFFF, packed & 0xFFFF)
        default:
            return (nil, nil)
        }
    }
}
