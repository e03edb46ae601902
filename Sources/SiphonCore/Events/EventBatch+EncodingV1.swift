// TEMPORARY: the version 1 envelope, kept only while the connectors move to
// version 2 (EventBatch+Encoding.swift); removed in the same change.

extension EventBatch {
    /// Appends a row event (`c`, `u`, `d`, `r` or `t`).
    ///
    /// `images` is asked for `.before`, `.after` and `.key` in that order;
    /// it writes a JSON object and returns true, or writes nothing and
    /// returns false for null. `unchangedColumns` (asked after `.after`)
    /// names columns left out of `after` because the source did not send
    /// their value (PostgreSQL's unchanged TOAST).
    ///
    /// One non-escaping closure instead of one optional closure per image:
    /// optional closures escape, and their captured state was allocated on
    /// the heap for every row.
    public mutating func appendRowEvent(
        position: Position,
        op: Operation,
        table: TableName,
        source: JSONWriter,
        schemaVersion: Int,
        transaction: (id: String, order: Int)?,
        timestampMillis: Int64,
        unchangedColumns: () -> [String] = { [] },
        images: (RowImage, inout JSONBuffer) -> Bool
    ) {
        let start = buffer.count
        beginEnvelopeV1(position: position, op: op)
        buffer.appendRaw(",\"before\":")
        if !images(.before, &buffer) { buffer.appendNull() }
        buffer.appendRaw(",\"after\":")
        if !images(.after, &buffer) { buffer.appendNull() }
        buffer.appendRaw(",\"source\":")
        source(&buffer)
        buffer.appendRaw(",\"key\":")
        let keyStart = buffer.count
        var keyRange: Range<Int>?
        if images(.key, &buffer) {
            keyRange = keyStart..<buffer.count
        } else {
            buffer.appendNull()
        }
        let unchanged = unchangedColumns()
        if !unchanged.isEmpty {
            buffer.appendRaw(",\"unchanged\":[")
            for (index, name) in unchanged.enumerated() {
                if index > 0 { buffer.appendByte(UInt8(ascii: ",")) }
                buffer.appendString(name)
            }
            buffer.appendByte(UInt8(ascii: "]"))
        }
        buffer.appendRaw(",\"schema\":{\"version\":")
        buffer.appendInt(schemaVersion)
        buffer.appendByte(UInt8(ascii: "}"))
        endEnvelopeV1(transaction: transaction, timestampMillis: timestampMillis)
        events.append(EventRecord(position: position, op: op, table: table,
                                  line: start..<(buffer.count), key: keyRange))
        buffer.appendByte(UInt8(ascii: "\n"))
    }

    /// Appends a schema-change event (`op: "schema"`): the table's new
    /// column list, its previous version (null for the first one) and what
    /// changed. `columns` and `changes` write JSON values.
    public mutating func appendSchemaEvent(
        position: Position,
        table: TableName,
        source: JSONWriter,
        version: Int,
        previousVersion: Int?,
        columns: JSONWriter,
        changes: JSONWriter,
        transaction: (id: String, order: Int)?,
        timestampMillis: Int64
    ) {
        let start = buffer.count
        beginEnvelopeV1(position: position, op: .schemaChange)
        buffer.appendRaw(",\"before\":null,\"after\":null,\"source\":")
        source(&buffer)
        buffer.appendRaw(",\"key\":null,\"schema\":{\"version\":")
        buffer.appendInt(version)
        buffer.appendRaw(",\"previous\":")
        if let previousVersion { buffer.appendInt(previousVersion) } else { buffer.appendNull() }
        buffer.appendRaw(",\"columns\":")
        columns(&buffer)
        buffer.appendRaw(",\"changes\":")
        changes(&buffer)
        buffer.appendByte(UInt8(ascii: "}"))
        endEnvelopeV1(transaction: transaction, timestampMillis: timestampMillis)
        events.append(EventRecord(position: position, op: .schemaChange, table: table,
                                  line: start..<buffer.count, key: nil))
        buffer.appendByte(UInt8(ascii: "\n"))
    }

    /// Appends an application message event (`op: "message"`).
    public mutating func appendMessageEvent(
        position: Position,
        source: JSONWriter,
        prefix: String,
        content: [UInt8],
        transactional: Bool,
        transaction: (id: String, order: Int)?,
        timestampMillis: Int64
    ) {
        let start = buffer.count
        beginEnvelopeV1(position: position, op: .message)
        buffer.appendRaw(",\"before\":null,\"after\":null,\"source\":")
        source(&buffer)
        buffer.appendRaw(",\"key\":null,\"message\":{\"prefix\":")
        buffer.appendString(prefix)
        buffer.appendRaw(",\"transactional\":")
        buffer.appendBool(transactional)
        buffer.appendRaw(",\"content\":")
        buffer.appendBase64(content)
        if let text = String(validating: content, as: UTF8.self) {
            buffer.appendRaw(",\"text\":")
            buffer.appendString(text)
        }
        buffer.appendByte(UInt8(ascii: "}"))
        endEnvelopeV1(transaction: transaction, timestampMillis: timestampMillis)
        events.append(EventRecord(position: position, op: .message, table: nil,
                                  line: start..<buffer.count, key: nil))
        buffer.appendByte(UInt8(ascii: "\n"))
    }

    private mutating func beginEnvelopeV1(position: Position, op: Operation) {
        precondition(events.last.map { $0.position < position } ?? true,
                     "events in a batch must have increasing positions")
        buffer.appendRaw("{\"id\":\"")
        position.withHexDigits { buffer.appendRaw($0) }
        buffer.appendRaw("\",\"op\":\"")
        buffer.appendRaw(op.rawValue.utf8)
        buffer.appendByte(UInt8(ascii: "\""))
    }

    private mutating func endEnvelopeV1(transaction: (id: String, order: Int)?, timestampMillis: Int64) {
        buffer.appendRaw(",\"ts_ms\":")
        buffer.appendInt(timestampMillis)
        buffer.appendRaw(",\"transaction\":")
        if let transaction {
            buffer.appendRaw("{\"id\":")
            buffer.appendString(transaction.id)
            buffer.appendRaw(",\"order\":")
            buffer.appendInt(transaction.order)
            buffer.appendByte(UInt8(ascii: "}"))
        } else {
            buffer.appendNull()
        }
        buffer.appendByte(UInt8(ascii: "}"))
    }
}

