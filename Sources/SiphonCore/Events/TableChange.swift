import Foundation

/// One entry of a schema-change event's `tableChanges`, in the shape of
/// Debezium's schema change topic (docs/EVENTS.md): what every source
/// knows about a table version, written the same way for all of them.
public struct TableChange: Sendable {
    public enum Kind: String, Sendable {
        case create = "CREATE", alter = "ALTER", drop = "DROP"
    }

    public struct Column: Sendable {
        public var name: String
        /// The java.sql.Types code, where the source has one (SQLite's
        /// affinity); null otherwise, as Debezium's PostgreSQL connector.
        public var jdbcType: Int?
        /// The source's own type id (PostgreSQL's type OID).
        public var nativeType: Int?
        public var typeName: String
        public var typeExpression: String
        public var length: Int?
        public var scale: Int?
        public var optional: Bool
        public var autoIncremented: Bool
        public var defaultValueExpression: String?

        public init(name: String, jdbcType: Int? = nil, nativeType: Int? = nil, typeName: String, typeExpression: String,
                    length: Int? = nil, scale: Int? = nil, optional: Bool, autoIncremented: Bool,
                    defaultValueExpression: String?) {
            self.name = name
            self.jdbcType = jdbcType
            self.nativeType = nativeType
            self.typeName = typeName
            self.typeExpression = typeExpression
            self.length = length
            self.scale = scale
            self.optional = optional
            self.autoIncremented = autoIncremented
            self.defaultValueExpression = defaultValueExpression
        }
    }

    public var kind: Kind
    public var table: TableName
    /// In key order.
    public var primaryKeyColumnNames: [String]
    /// In table order; `position` is the index from 1.
    public var columns: [Column]

    public init(kind: Kind, table: TableName, primaryKeyColumnNames: [String], columns: [Column]) {
        self.kind = kind
        self.table = table
        self.primaryKeyColumnNames = primaryKeyColumnNames
        self.columns = columns
    }

    /// `{"type":"ALTER","id":"\"schema\".\"table\"","table":{...}}`
    public func write(to json: inout JSONBuffer) {
        json.appendRaw("{\"type\":\"")
        json.appendRaw(kind.rawValue.utf8)
        json.appendRaw("\",\"id\":")
        json.appendString(Self.quoted(table.schema) + "." + Self.quoted(table.name))
        json.appendRaw(",\"table\":{\"defaultCharsetName\":null,\"primaryKeyColumnNames\":[")
        for (index, name) in primaryKeyColumnNames.enumerated() {
            if index > 0 { json.appendByte(UInt8(ascii: ",")) }
            json.appendString(name)
        }
        json.appendRaw("],\"columns\":[")
        for (index, column) in columns.enumerated() {
            if index > 0 { json.appendByte(UInt8(ascii: ",")) }
            Self.write(column, position: index + 1, to: &json)
        }
        json.appendRaw("],\"attributes\":[],\"comment\":null}}")
    }

    /// Debezium's charset, comment and enum values are always null: no
    /// source reports them; `generated` is false, since generated columns
    /// are not captured.
    private static func write(_ column: Column, position: Int, to json: inout JSONBuffer) {
        json.appendRaw("{\"name\":")
        json.appendString(column.name)
        json.appendRaw(",\"jdbcType\":")
        appendOptional(column.jdbcType, to: &json)
        if let nativeType = column.nativeType {
            json.appendRaw(",\"nativeType\":")
            json.appendInt(nativeType)
        }
        json.appendRaw(",\"typeName\":")
        json.appendString(column.typeName)
        json.appendRaw(",\"typeExpression\":")
        json.appendString(column.typeExpression)
        json.appendRaw(",\"charsetName\":null,\"length\":")
        appendOptional(column.length, to: &json)
        json.appendRaw(",\"scale\":")
        appendOptional(column.scale, to: &json)
        json.appendRaw(",\"position\":")
        json.appendInt(position)
        json.appendRaw(",\"optional\":")
        json.appendBool(column.optional)
        json.appendRaw(",\"autoIncremented\":")
        json.appendBool(column.autoIncremented)
        json.appendRaw(",\"generated\":false,\"comment\":null,\"defaultValueExpression\":")
        if let value = column.defaultValueExpression { json.appendString(value) } else { json.appendNull() }
        json.appendRaw(",\"enumValues\":null}")
    }

    private static func appendOptional(_ value: Int?, to json: inout JSONBuffer) {
        if let value { json.appendInt(value) } else { json.appendNull() }
    }

    /// A name in double quotes, inner quotes doubled (Debezium's table id).
    private static func quoted(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
