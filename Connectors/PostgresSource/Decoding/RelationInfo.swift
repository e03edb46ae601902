import SiphonCore

/// What the decoder knows about one relation: its columns with their value
/// kinds and pre-rendered JSON keys, and the schema version its rows carry.
/// Rows are rendered by `appendObject` (pgoutput tuples) and `appendCopyRow`.
///
/// A class, immutable: each change looks its relation up by id, and a
/// struct copied out of the dictionary retained and released each of its
/// nine arrays and strings, per row.
final class RelationInfo: Sendable {
    struct Column: Sendable {
        var schema: ColumnSchema
        var kind: ValueKind
        /// How values sent in binary form are decoded; nil when they cannot be.
        var binary: BinaryFormat?
    }

    let id: UInt32
    let table: TableName
    let columns: [Column]
    let schemaVersion: Int
    /// Whether the table matches the pipeline's `tables` patterns.
    let captured: Bool
    /// How every value of the table is written (json as a string or embedded).
    let valueOptions: ValueOptions
    /// `{"version":...,"connector":"postgresql",...,"table":"t",` shared by every event of this table.
    let sourcePrefix: [UInt8]
    /// Where the key columns are in `columns`.
    let keyIndices: [Int]
    /// Whether each column is a key column.
    private let isKeyColumn: [Bool]
    /// Every column's `"name":`, escaped, back to back; column `index`'s is
    /// at `memberKeyRanges[index]`. Rows read them through one buffer pointer:
    /// an array per column cost a retain and a release for every value.
    private let memberKeys: [UInt8]
    private let memberKeyRanges: [Range<Int>]

    init(id: UInt32, table: TableName, columns: [ColumnSchema], types: TypeRegistry,
         schemaVersion: Int, captured: Bool, pipeline: String, database: String,
         valueOptions: ValueOptions = ValueOptions()) {
        self.id = id
        self.table = table
        self.schemaVersion = schemaVersion
        self.captured = captured
        self.valueOptions = valueOptions
        // The type modifier carries a timestamptz(p) column's precision, which its values are written with.
        self.columns = columns.map { column in
            Column(schema: column, kind: types.kind(of: column.typeOID, typeModifier: column.typeModifier),
                   binary: types.binaryFormat(of: column.typeOID, typeModifier: column.typeModifier))
        }
        keyIndices = columns.indices.filter { columns[$0].isKey }
        isKeyColumn = columns.map(\.isKey)
        var keys = JSONBuffer(capacity: columns.count * 16)
        memberKeyRanges = columns.map { column in
            let start = keys.count
            keys.appendString(column.name)
            keys.appendByte(UInt8(ascii: ":"))
            return start..<keys.count
        }
        memberKeys = keys.bytes
        sourcePrefix = Self.sourcePrefix(table: table, pipeline: pipeline, database: database)
    }

    /// `{"version":...,"connector":"postgresql",...,"table":"t",`: the
    /// start of the `source` object of the table's events.
    static func sourcePrefix(table: TableName, pipeline: String, database: String) -> [UInt8] {
        var prefix = JSONBuffer(capacity: 128)
        prefix.appendRaw("{\"version\":")
        prefix.appendString(SiphonVersion.sourceVersion)
        prefix.appendRaw(",\"connector\":\"postgresql\",\"name\":")
        prefix.appendString(pipeline)
        prefix.appendRaw(",\"db\":")
        prefix.appendString(database)
        prefix.appendRaw(",\"schema\":")
        prefix.appendString(table.schema)
        prefix.appendRaw(",\"table\":")
        prefix.appendString(table.name)
        prefix.appendByte(UInt8(ascii: ","))
        return prefix.bytes
    }

    var schemaColumns: [ColumnSchema] { columns.map(\.schema) }

    /// How a value PostgreSQL did not send (unchanged TOAST) is written.
    enum Unavailable {
        /// Debezium's placeholder string.
        case placeholder
        /// Left out of the object.
        case omit
    }

    /// Writes `{"col":value,...}` for a tuple, every column of the relation
    /// (columns the tuple lacks, such as the non-key columns of a key-only
    /// old tuple, as null). A value PostgreSQL did not send (unchanged TOAST)
    /// is taken from `fallback` (the old row under REPLICA IDENTITY FULL)
    /// when that has it; otherwise it is written as `unavailable` says and
    /// named in `unchanged`. With `keysOnly`, only key columns are written.
    ///
    /// A value in binary form that cannot be decoded (a type without a
    /// `BinaryFormat`, or bytes without the format's shape) is written as
    /// null and its column named in `undecodable`: the caller must then
    /// discard the output (binary values have no faithful fallback).
    func appendObject(_ tuple: TupleData, keysOnly: Bool, fallback: TupleData? = nil, unavailable: Unavailable,
                      to json: inout JSONBuffer, unchanged: inout [String], undecodable: inout String?) {
        // Columns are read in place (`columns[index].kind`), never copied out
        // whole: a copy of `Column` retains its strings and arrays, per value.
        json.appendByte(UInt8(ascii: "{"))
        let message = tuple.message.span
        memberKeys.withUnsafeBufferPointer { keys in
            var first = true
            for index in 0..<columns.count {
                if keysOnly && !isKeyColumn[index] { continue }
                let key = UnsafeBufferPointer(rebasing: keys[memberKeyRanges[index]])
                let value = index < tuple.count ? tuple.values[index] : TupleData.Value(kind: .null, range: 0..<0)
                if value.kind == .unchangedToast {
                    if let fallback, index < fallback.count, fallback.values[index].kind != .unchangedToast {
                        // Rare (REPLICA IDENTITY FULL, unchanged TOAST): the old row's value.
                        if !first { json.appendByte(UInt8(ascii: ",")) }
                        first = false
                        let old = fallback.values[index]
                        if old.kind == .binary {
                            if !appendMember(index, key: key, binary: fallback.message.span.extracting(old.range), to: &json),
                               undecodable == nil {
                                undecodable = columns[index].schema.name
                            }
                        } else {
                            appendMember(index, key: key, text: old.kind == .null ? nil : fallback.bytes(of: old), to: &json)
                        }
                        continue
                    } else {
                        unchanged.append(columns[index].schema.name)
                        guard case .placeholder = unavailable else { continue }
                        if !first { json.appendByte(UInt8(ascii: ",")) }
                        first = false
                        json.appendRaw(key)
                        json.appendString(EventOptions.unavailableValuePlaceholder)
                        continue
                    }
                }
                if !first { json.appendByte(UInt8(ascii: ",")) }
                first = false
                switch value.kind {
                case .null, .unchangedToast:
                    appendMember(index, key: key, text: nil, to: &json)
                case .text:
                    appendMember(index, key: key, text: tuple.bytes(of: value), to: &json)
                case .binary:
                    if !appendMember(index, key: key, binary: message.extracting(value.range), to: &json),
                       undecodable == nil {
                        undecodable = columns[index].schema.name
                    }
                }
            }
        }
        json.appendByte(UInt8(ascii: "}"))
    }

    /// Whether the key columns' values differ between two tuples (a primary
    /// key changed by an UPDATE under REPLICA IDENTITY FULL).
    func keyValuesDiffer(_ old: TupleData, _ new: TupleData) -> Bool {
        for index in keyIndices {
            guard index < old.count, index < new.count else { return true }
            let before = old.values[index], after = new.values[index]
            if before.kind == .unchangedToast || after.kind == .unchangedToast { continue }
            if before.kind != after.kind || !old.bytes(of: before).elementsEqual(new.bytes(of: after)) { return true }
        }
        return false
    }

    /// Writes `{"col":value,...}` for one row of `COPY ... TO STDOUT` and
    /// appends to `keyMembers` where each key column's `"name":value` is in
    /// `json`. Returns the first column whose binary value did not decode
    /// (the output must then be discarded, see `appendMember(_:key:binary:to:)`);
    /// throws when the row is malformed. Fields beyond the relation's
    /// columns are ignored.
    func appendCopyRow(_ row: ArraySlice<UInt8>, binary: Bool, to json: inout JSONBuffer,
                       keyMembers: inout [Range<Int>]) throws -> String? {
        json.appendByte(UInt8(ascii: "{"))
        defer { json.appendByte(UInt8(ascii: "}")) }
        return try memberKeys.withUnsafeBufferPointer { keys in
            var index = 0
            var undecodable: String?
            /// Starts column `index`'s member; nil past the relation's columns.
            func beginMember() -> (key: UnsafeBufferPointer<UInt8>, start: Int)? {
                guard index < columns.count else { return nil }
                if index > 0 { json.appendByte(UInt8(ascii: ",")) }
                return (UnsafeBufferPointer(rebasing: keys[memberKeyRanges[index]]), json.count)
            }
            func endMember(from start: Int) {
                if isKeyColumn[index] { keyMembers.append(start..<json.count) }
            }
            if binary {
                let message = row.span
                guard var fields = try CopyBinaryParser.Fields(message) else { return nil }
                while let field = try fields.next(in: message) {
                    defer { index += 1 }
                    guard let (key, start) = beginMember() else { continue }
                    let decoded = if let range = field {
                        appendMember(index, key: key, binary: message.extracting(range), to: &json)
                    } else {
                        appendMember(index, key: key, binary: nil, to: &json)
                    }
                    if !decoded, undecodable == nil { undecodable = columns[index].schema.name }
                    endMember(from: start)
                }
            } else {
                CopyTextParser.parseRow(row) { field in
                    defer { index += 1 }
                    guard let (key, start) = beginMember() else { return }
                    appendMember(index, key: key, text: field, to: &json)
                    endMember(from: start)
                }
            }
            return undecodable
        }
    }

    /// Writes `"name":value` for column `index`, given its value in text
    /// form (nil for SQL NULL).
    private func appendMember(_ index: Int, key: UnsafeBufferPointer<UInt8>, text: ArraySlice<UInt8>?,
                              to json: inout JSONBuffer) {
        json.appendRaw(key)
        if let text {
            ValueRenderer.appendJSON(text: text, kind: columns[index].kind, options: valueOptions, to: &json)
        } else {
            json.appendNull()
        }
    }

    /// Writes `"name":value` for column `index`, given its value in binary
    /// send format (nil for SQL NULL). Returns false, having written null,
    /// when the column's type has no `BinaryFormat` or the bytes do not have
    /// its shape: the caller must then discard the output.
    private func appendMember(_ index: Int, key: UnsafeBufferPointer<UInt8>, binary: Span<UInt8>?,
                              to json: inout JSONBuffer) -> Bool {
        json.appendRaw(key)
        guard let binary else {
            json.appendNull()
            return true
        }
        if let format = columns[index].binary,
           ValueRenderer.appendJSON(binary: binary, format: format, options: valueOptions, to: &json) {
            return true
        }
        json.appendNull()
        return false
    }

    /// Whether every column's values can be read in binary form.
    var decodesBinary: Bool { columns.allSatisfy { $0.binary != nil } }

    /// Whether the tuple carries a value for every key column.
    func hasKeyValues(_ tuple: TupleData) -> Bool {
        guard !keyIndices.isEmpty else { return false }
        for index in keyIndices {
            guard index < tuple.count else { return false }
            if tuple.values[index].kind == .unchangedToast { return false }
        }
        return true
    }
}
