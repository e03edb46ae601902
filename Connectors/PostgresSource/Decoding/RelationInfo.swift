import SiphonCore

/// What the decoder knows about one relation: its columns with their value
/// kinds and pre-rendered JSON keys, and the schema version its rows carry.
struct RelationInfo: Sendable {
    struct Column: Sendable {
        var schema: ColumnSchema
        var kind: ValueKind
        /// How values sent in binary form are decoded; nil when they cannot be.
        var binary: BinaryFormat?
        /// `"name":` already escaped, so rows only append values.
        var jsonKey: [UInt8]
    }

    var id: UInt32
    var table: TableName
    var columns: [Column]
    var schemaVersion: Int
    /// Whether the table matches the pipeline's `tables` patterns.
    var captured: Bool
    /// `{"version":...,"connector":"postgresql",...,"table":"t",` shared by every event of this table.
    var sourcePrefix: [UInt8]

    init(id: UInt32, table: TableName, columns: [ColumnSchema], types: TypeRegistry,
         schemaVersion: Int, captured: Bool, pipeline: String, database: String) {
        self.id = id
        self.table = table
        self.schemaVersion = schemaVersion
        self.captured = captured
        self.columns = columns.map { column in
            var key = JSONBuffer(capacity: column.name.utf8.count + 4)
            key.appendString(column.name)
            key.appendByte(UInt8(ascii: ":"))
            return Column(schema: column, kind: types.kind(of: column.typeOID),
                          binary: types.binaryFormat(of: column.typeOID), jsonKey: key.bytes)
        }
        var prefix = JSONBuffer(capacity: 128)
        prefix.appendRaw("{\"version\":\"siphon-")
        prefix.appendRaw(SiphonVersion.current.utf8)
        prefix.appendRaw("\",\"connector\":\"postgresql\",\"name\":")
        prefix.appendString(pipeline)
        prefix.appendRaw(",\"db\":")
        prefix.appendString(database)
        prefix.appendRaw(",\"schema\":")
        prefix.appendString(table.schema)
        prefix.appendRaw(",\"table\":")
        prefix.appendString(table.name)
        prefix.appendByte(UInt8(ascii: ","))
        sourcePrefix = prefix.bytes
    }

    var schemaColumns: [ColumnSchema] { columns.map(\.schema) }

    /// Writes `{"col":value,...}` for a tuple; columns PostgreSQL did not
    /// send (unchanged TOAST) are left out and added to `unchanged`.
    /// With `keysOnly`, only key columns are written.
    ///
    /// A value in binary form that cannot be decoded (a type without a
    /// `BinaryFormat`, or bytes without the format's shape) is written as
    /// null and its column named in `undecodable`: the caller must then
    /// discard the output (binary values have no faithful fallback).
    func appendObject(_ tuple: TupleData, keysOnly: Bool, to json: inout JSONBuffer, unchanged: inout [String],
                      undecodable: inout String?) {
        json.appendByte(UInt8(ascii: "{"))
        var first = true
        for (index, value) in tuple.columns.enumerated() where index < columns.count {
            let column = columns[index]
            if keysOnly && !column.schema.isKey { continue }
            switch value {
            case .unchangedToast:
                unchanged.append(column.schema.name)
                continue
            case .null:
                if !first { json.appendByte(UInt8(ascii: ",")) }
                json.appendRaw(column.jsonKey)
                json.appendNull()
            case .text(let text):
                if !first { json.appendByte(UInt8(ascii: ",")) }
                json.appendRaw(column.jsonKey)
                ValueRenderer.appendJSON(text: text, kind: column.kind, to: &json)
            case .binary(let bytes):
                if !first { json.appendByte(UInt8(ascii: ",")) }
                json.appendRaw(column.jsonKey)
                if let format = column.binary, ValueRenderer.appendJSON(binary: bytes, format: format, to: &json) {
                    break
                }
                json.appendNull()
                if undecodable == nil { undecodable = column.schema.name }
            }
            first = false
        }
        json.appendByte(UInt8(ascii: "}"))
    }

    /// Whether the tuple carries a value for every key column.
    func hasKeyValues(_ tuple: TupleData) -> Bool {
        for (index, column) in columns.enumerated() where column.schema.isKey {
            guard index < tuple.columns.count else { return false }
            if case .unchangedToast = tuple.columns[index] { return false }
        }
        return columns.contains { $0.schema.isKey }
    }
}
