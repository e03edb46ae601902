import SiphonCore

/// The `tableChanges` entry of a schema-change event (docs/EVENTS.md) for
/// a PostgreSQL table version.
enum SchemaEventWriter {
    static func tableChange(_ table: TableName, columns: [ColumnSchema], created: Bool) -> TableChange {
        TableChange(
            kind: created ? .create : .alter, table: table,
            primaryKeyColumnNames: columns.filter(\.isKey).map(\.name),
            columns: columns.map { column in
                let (length, scale) = lengthAndScale(column)
                return TableChange.Column(
                    name: column.name, nativeType: Int(column.typeOID), typeName: column.typeName,
                    typeExpression: column.typeExpression ?? column.typeName, length: length, scale: scale,
                    optional: column.optional,
                    autoIncremented: column.defaultExpression?.hasPrefix("nextval(") ?? false,
                    defaultValueExpression: column.defaultExpression)
            })
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
