import SiphonCore

/// Turns changelog rows and snapshot rows into events (format v1, docs/EVENTS.md).
///
/// Positions: the change with changelog sequence `n` is `(high: n, low: 0)`;
/// the rows of a snapshot taken when the changelog ended at `s` are
/// `(high: s, low: 1, 2, ...)`, after every change up to `s` and before the
/// next one.
struct ChangeRenderer {
    let pipeline: String
    let database: String
    var registry: SchemaRegistry

    /// The columns of a changelog query, in this order.
    static let changelogColumns = "seq, tbl, op, ver, ts, old, new"

    /// A row written with a schema version this registry has not loaded:
    /// another process (`siphon sqlite exec`) rebuilt the triggers.
    struct UnknownVersion: Error {
        var seq: Int64
        var table: String
        var version: Int
    }

    /// Appends the event of the changelog row `row` is on. Returns false for
    /// rows that are not events (the origin marker).
    mutating func appendChange(_ row: SQLiteStatement, to batch: inout EventBatch,
                               transaction: (id: String, order: Int)?) throws -> Bool {
        let seq = row.int64(0)
        let table = row.string(1) ?? ""
        let op = row.bytes(2).first ?? 0
        let version = Int(row.int64(3))
        let timestamp = row.int64(4)
        let position = Position(high: UInt64(bitPattern: seq), low: 0)
        let name = TableName(schema: "main", name: table)
        let now = Clock.unixMillis()
        switch op {
        case UInt8(ascii: "o"):
            return false
        case UInt8(ascii: "s"):
            let changes = row.bytes(5), columns = row.bytes(6)
            batch.appendSchemaEvent(
                position: position, table: name,
                source: { self.writeSource(&$0, table: table, seq: seq, timestamp: timestamp, snapshot: false) },
                version: version, previousVersion: version > 1 ? version - 1 : nil,
                columns: { $0.appendRaw(columns) }, changes: { $0.appendRaw(changes) },
                transaction: transaction, timestampMillis: now)
            return true
        default:
            guard let schema = registry.schema(table, version: version) else {
                throw UnknownVersion(seq: seq, table: table, version: version)
            }
            let operation: Operation = op == UInt8(ascii: "c") ? .create : op == UInt8(ascii: "u") ? .update : .delete
            let old = row.isNull(5) ? nil : try image(row.bytes(5), schema: schema, seq: seq)
            let new = row.isNull(6) ? nil : try image(row.bytes(6), schema: schema, seq: seq)
            guard let keySource = new ?? old else {
                throw SiphonError(.sourceFatal, "changelog row \(seq) of table \(table) has no row image")
            }
            batch.appendRowEvent(
                position: position, op: operation, table: name,
                before: old.map { image in { Self.writeObject(image, schema: schema, to: &$0) } },
                after: new.map { image in { Self.writeObject(image, schema: schema, to: &$0) } },
                source: { self.writeSource(&$0, table: table, seq: seq, timestamp: timestamp, snapshot: false) },
                key: { Self.writeKey(keySource, schema: schema, to: &$0) },
                schemaVersion: version, transaction: transaction, timestampMillis: now)
            return true
        }
    }

    /// Appends an `op: "r"` event for a row read by a snapshot; `row`
    /// column 0 is the image built by `CaptureInstaller.imageSQL`.
    func appendSnapshotRow(_ row: SQLiteStatement, schema: TableSchema, position: Position, seq: Int64,
                           to batch: inout EventBatch) throws {
        let image = try image(row.bytes(0), schema: schema, seq: seq)
        batch.appendRowEvent(
            position: position, op: .read, table: TableName(schema: "main", name: schema.table),
            before: nil, after: { Self.writeObject(image, schema: schema, to: &$0) },
            source: { self.writeSource(&$0, table: schema.table, seq: seq, timestamp: Clock.unixMillis(), snapshot: true) },
            key: { Self.writeKey(image, schema: schema, to: &$0) },
            schemaVersion: schema.version, transaction: nil, timestampMillis: Clock.unixMillis())
    }

    private func image(_ bytes: UnsafeBufferPointer<UInt8>, schema: TableSchema, seq: Int64) throws -> RowImage {
        let expected = schema.columns.count + (schema.keyedByRowid ? 1 : 0)
        guard let image = RowImage(bytes), image.count == expected else {
            throw SiphonError(.sourceFatal, "changelog row \(seq) of table \(schema.table) does not match its schema version \(schema.version) (\(expected) values expected)")
        }
        return image
    }

    private static func writeObject(_ image: RowImage, schema: TableSchema, to json: inout JSONBuffer) {
        json.appendByte(UInt8(ascii: "{"))
        for (index, column) in schema.columns.enumerated() {
            if index > 0 { json.appendByte(UInt8(ascii: ",")) }
            json.appendString(column.name)
            json.appendByte(UInt8(ascii: ":"))
            image.write(index, to: &json)
        }
        json.appendByte(UInt8(ascii: "}"))
    }

    private static func writeKey(_ image: RowImage, schema: TableSchema, to json: inout JSONBuffer) {
        json.appendByte(UInt8(ascii: "{"))
        if schema.keyedByRowid {
            json.appendRaw("\"rowid\":")
            image.write(schema.columns.count, to: &json)
        } else {
            for (position, index) in schema.keyColumns.enumerated() {
                if position > 0 { json.appendByte(UInt8(ascii: ",")) }
                json.appendString(schema.columns[index].name)
                json.appendByte(UInt8(ascii: ":"))
                image.write(index, to: &json)
            }
        }
        json.appendByte(UInt8(ascii: "}"))
    }

    private func writeSource(_ json: inout JSONBuffer, table: String, seq: Int64, timestamp: Int64, snapshot: Bool) {
        json.appendRaw("{\"version\":\"siphon-")
        json.appendRaw(SiphonVersion.current.utf8)
        json.appendRaw("\",\"connector\":\"sqlite\",\"name\":")
        json.appendString(pipeline)
        json.appendRaw(",\"db\":")
        json.appendString(database)
        json.appendRaw(",\"schema\":\"main\",\"table\":")
        json.appendString(table)
        json.appendRaw(",\"seq\":")
        json.appendInt(seq)
        json.appendRaw(",\"ts_ms\":")
        json.appendInt(timestamp)
        json.appendRaw(",\"snapshot\":")
        json.appendBool(snapshot)
        json.appendByte(UInt8(ascii: "}"))
    }
}
