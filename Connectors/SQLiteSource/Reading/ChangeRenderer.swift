import CSQLite
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
    /// The last table name read, so consecutive rows of one table do not
    /// each allocate a String.
    private var lastTable = (bytes: [UInt8](), name: "")

    init(pipeline: String, database: String, registry: SchemaRegistry) {
        self.pipeline = pipeline
        self.database = database
        self.registry = registry
    }

    private mutating func tableName(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        if !bytes.elementsEqual(lastTable.bytes) {
            lastTable = (Array(bytes), String(decoding: bytes, as: UTF8.self))
        }
        return lastTable.name
    }

    /// The fixed columns of a changelog query, in this order, followed by `v0...`.
    static let fixedColumns = "seq, tbl, op, ver, ts, old, new"
    static let firstValue: Int32 = 7

    /// A row written with a schema version this registry has not loaded:
    /// another process (`siphon sqlite exec`) rebuilt the triggers.
    struct UnknownVersion: Error {
        var seq: Int64
        var table: String
        var version: Int
    }

    /// Appends the event of the changelog row `row` is on, processed at
    /// `now` (ms, taken once per batch). Returns false for rows that are not
    /// events (origin and marker rows).
    mutating func appendChange(_ row: SQLiteStatement, to batch: inout EventBatch,
                               transaction: (id: String, order: Int)?, now: Int64) throws -> Bool {
        let seq = row.int64(0)
        let table = tableName(row.bytes(1))
        let op = row.bytes(2).first ?? 0
        let version = Int(row.int64(3))
        let timestamp = row.int64(4)
        let position = Position(high: UInt64(bitPattern: seq), low: 0)
        let name = TableName(schema: "main", name: table)
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
            let first = Self.firstValue, count = Int32(schema.valueCount)
            guard row.columnCount >= first + (op == UInt8(ascii: "u") ? 2 * count : count) else {
                throw SiphonError(.sourceFatal, "changelog row \(seq) of table \(table) has fewer values than its schema version \(version) has columns")
            }
            let operation: Operation
            let before: Int32?, after: Int32?
            switch op {
            case UInt8(ascii: "c"): (operation, before, after) = (.create, nil, first)
            case UInt8(ascii: "u"): (operation, before, after) = (.update, first, first + count)
            default: (operation, before, after) = (.delete, first, nil)
            }
            batch.appendRowEvent(
                position: position, op: operation, table: name,
                source: { self.writeSource(&$0, table: table, seq: seq, timestamp: timestamp, snapshot: false) },
                schemaVersion: version, transaction: transaction, timestampMillis: now
            ) { image, json in
                let start: Int32?
                switch image {
                case .before: start = before
                case .after: start = after
                case .key:
                    Self.writeKey(row, from: after ?? first, schema: schema, to: &json)
                    return true
                }
                guard let start else { return false }
                Self.writeObject(row, from: start, schema: schema, to: &json)
                return true
            }
            return true
        }
    }

    /// Appends an `op: "r"` event for a row read by `CaptureInstaller.snapshotSQL`.
    func appendSnapshotRow(_ row: SQLiteStatement, schema: TableSchema, position: Position, seq: Int64,
                           now: Int64, to batch: inout EventBatch) {
        batch.appendRowEvent(
            position: position, op: .read, table: TableName(schema: "main", name: schema.table),
            source: { self.writeSource(&$0, table: schema.table, seq: seq, timestamp: now, snapshot: true) },
            schemaVersion: schema.version, transaction: nil, timestampMillis: now
        ) { image, json in
            switch image {
            case .before: return false
            case .after: Self.writeObject(row, from: 0, schema: schema, to: &json)
            case .key: Self.writeKey(row, from: 0, schema: schema, to: &json)
            }
            return true
        }
    }

    private static func writeObject(_ row: SQLiteStatement, from start: Int32, schema: TableSchema, to json: inout JSONBuffer) {
        json.appendByte(UInt8(ascii: "{"))
        for (index, column) in schema.columns.enumerated() {
            if index > 0 { json.appendByte(UInt8(ascii: ",")) }
            json.appendString(column.name)
            json.appendByte(UInt8(ascii: ":"))
            writeValue(row, start + Int32(index), to: &json)
        }
        json.appendByte(UInt8(ascii: "}"))
    }

    private static func writeKey(_ row: SQLiteStatement, from start: Int32, schema: TableSchema, to json: inout JSONBuffer) {
        json.appendByte(UInt8(ascii: "{"))
        if schema.keyedByRowid {
            json.appendRaw("\"rowid\":")
            writeValue(row, start + Int32(schema.columns.count), to: &json)
        } else {
            for (position, index) in schema.keyColumns.enumerated() {
                if position > 0 { json.appendByte(UInt8(ascii: ",")) }
                json.appendString(schema.columns[index].name)
                json.appendByte(UInt8(ascii: ":"))
                writeValue(row, start + Int32(index), to: &json)
            }
        }
        json.appendByte(UInt8(ascii: "}"))
    }

    /// One SQLite value as JSON: INTEGER a number (exact), REAL a number
    /// (infinities as strings; SQLite has no NaN), TEXT a string, BLOB base64.
    static func writeValue(_ row: SQLiteStatement, _ column: Int32, to json: inout JSONBuffer) {
        switch row.type(column) {
        case SQLITE_INTEGER: json.appendInt(row.int64(column))
        case SQLITE_FLOAT: json.appendDouble(row.double(column))
        case SQLITE_TEXT: json.appendString(utf8: row.bytes(column))
        case SQLITE_BLOB: json.appendBase64(row.bytes(column))
        default: json.appendNull()
        }
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
