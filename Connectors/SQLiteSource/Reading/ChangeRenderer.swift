import CSQLite
import Glibc
import SiphonCore

/// Turns changelog rows and snapshot rows into events (format 2,
/// docs/EVENTS.md, "SQLite source"); positions as `SQLitePosition` says.
///
/// Per row it allocates nothing: the table name and its JSON are kept
/// from the previous row, the fixed parts of `source` are rendered once,
/// and values go from SQLite's buffers straight into the batch.
struct ChangeRenderer {
    let envelope: EventEnvelope
    let database: String
    var registry: SchemaRegistry
    private let source: SourceBlock
    /// The last table read, so consecutive rows of one table do not each
    /// allocate a String (and its JSON form).
    private var lastTable = (bytes: [UInt8](), name: "", json: [UInt8]())
    /// Where the changes being read stand in their transaction.
    var order = TransactionOrder()

    init(envelope: EventEnvelope, pipeline: String, database: String, registry: SchemaRegistry) {
        self.envelope = envelope
        self.database = database
        self.registry = registry
        source = SourceBlock(pipeline: pipeline, database: database)
    }

    private mutating func enterTable(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard !bytes.elementsEqual(lastTable.bytes) else { return }
        var json = JSONBuffer(capacity: bytes.count + 2)
        json.appendString(utf8: bytes)
        lastTable = (Array(bytes), String(decoding: bytes, as: UTF8.self), json.bytes)
    }

    // MARK: Transactions

    /// The `transaction` block of each change: SQLite has no transaction
    /// id, so the changes `CaptureSession.readAvailable` reads together share
    /// the id of the first one's sequence; `total_order` counts the events
    /// and `data_collection_order` the events of each table (from 1).
    struct TransactionOrder {
        private var transaction: EventTransaction?
        private var tables: [(name: String, count: Int)] = []

        /// The next event, of `table`, a change at `seq`.
        mutating func next(table: String, seq: Int64) -> EventTransaction {
            var current = transaction ?? EventTransaction(id: String(seq), totalOrder: 0, dataCollectionOrder: 0)
            current.totalOrder += 1
            // Rows come in runs of one table: look at the latest entry first.
            var index = tables.count - 1
            if index < 0 || tables[index].name != table {
                index = tables.firstIndex { $0.name == table } ?? tables.count
                if index == tables.count { tables.append((table, 0)) }
            }
            tables[index].count += 1
            current.dataCollectionOrder = tables[index].count
            transaction = current
            return current
        }

        /// The next change opens a new transaction.
        mutating func end() {
            transaction = nil
            tables.removeAll(keepingCapacity: true)
        }
    }

    mutating func endTransaction() {
        order.end()
    }

    // MARK: Changes

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

    /// Appends the events of the changelog row `row` is on, read at `now`
    /// (µs, taken once per read). Returns false for rows that are not events
    /// (origin and marker rows).
    mutating func appendChange(_ row: SQLiteStatement, to batch: inout EventBatch, now: Int64) throws -> Bool {
        let seq = row.int64(0)
        let op = row.bytes(2).first ?? 0
        if op == UInt8(ascii: "o") { return false }
        enterTable(row.bytes(1))
        let table = lastTable.name
        let version = Int(row.int64(3))
        let recorded = row.int64(4) * 1000
        let position = Position(high: UInt64(bitPattern: seq), low: 0)
        if op == UInt8(ascii: "s") {
            try appendSchemaChange(row, seq: seq, version: version, recorded: recorded, now: now, to: &batch)
            return true
        }
        guard let schema = registry.schema(table, version: version) else {
            throw UnknownVersion(seq: seq, table: table, version: version)
        }
        let first = Self.firstValue, count = Int32(schema.valueCount)
        guard row.columnCount >= first + (op == UInt8(ascii: "u") ? 2 * count : count) else {
            throw SiphonError(.sourceFatal, "changelog row \(seq) of table \(table) has fewer values than its schema version \(version) has columns")
        }
        switch op {
        case UInt8(ascii: "c"):
            appendRow(row, .create, schema: schema, position: position, before: nil, after: first, seq: seq,
                      recorded: recorded, now: now, to: &batch)
        case UInt8(ascii: "u") where Self.keyChanged(row, old: first, new: first + count, schema: schema):
            // As Debezium writes it: the old key deleted, then the new row created.
            appendRow(row, .delete, schema: schema, position: position, before: first, after: nil, seq: seq,
                      recorded: recorded, now: now, to: &batch)
            appendRow(row, .create, schema: schema, position: Position(high: position.high, low: SQLitePosition.newKeyLow),
                      before: nil, after: first + count, seq: seq, recorded: recorded, now: now, to: &batch)
        case UInt8(ascii: "u"):
            appendRow(row, .update, schema: schema, position: position, before: first, after: first + count, seq: seq,
                      recorded: recorded, now: now, to: &batch)
        default:
            appendRow(row, .delete, schema: schema, position: position, before: first, after: nil, seq: seq,
                      recorded: recorded, now: now, to: &batch)
        }
        return true
    }

    /// One row event of a change: `before` and `after` are where those
    /// images start among the row's values, the key is read from `after`'s
    /// values, or `before`'s for a delete.
    private mutating func appendRow(_ row: SQLiteStatement, _ op: Operation, schema: TableSchema, position: Position,
                                    before: Int32?, after: Int32?, seq: Int64, recorded: Int64, now: Int64,
                                    to batch: inout EventBatch) {
        let table = lastTable.name
        let transaction = order.next(table: table, seq: seq)
        batch.appendRowEvent(
            position: position, op: op, table: TableName(schema: "main", name: table), envelope: envelope,
            source: { source.write(&$0, table: lastTable.json, seq: seq, micros: recorded, snapshot: .none) },
            transaction: transaction, timestampMicros: now, schemaVersion: schema.version,
            facts: { CloudEventFacts(sourceMillis: recorded / 1000, snapshot: .none, database: database, schema: "main",
                                     table: table, transactionID: transaction.id) }
        ) { image, json in
            let start: Int32?
            switch image {
            case .before: start = before
            case .after: start = after
            case .key:
                Self.writeKey(row, from: after ?? before ?? Self.firstValue, schema: schema, to: &json)
                return true
            }
            guard let start else { return false }
            Self.writeObject(row, from: start, schema: schema, to: &json)
            return true
        }
    }

    /// Whether an update changed the row's key (its primary key columns,
    /// or its rowid), value and SQLite type alike: a key event names the key.
    static func keyChanged(_ row: SQLiteStatement, old: Int32, new: Int32, schema: TableSchema) -> Bool {
        if schema.keyedByRowid {
            let rowid = Int32(schema.columns.count)
            return !sameValue(row, old + rowid, new + rowid)
        }
        for index in schema.keyColumns where !sameValue(row, old + Int32(index), new + Int32(index)) {
            return true
        }
        return false
    }

    private static func sameValue(_ row: SQLiteStatement, _ a: Int32, _ b: Int32) -> Bool {
        let type = row.type(a)
        guard type == row.type(b) else { return false }
        switch type {
        case SQLITE_NULL: return true
        case SQLITE_INTEGER: return row.int64(a) == row.int64(b)
        case SQLITE_FLOAT: return row.double(a).bitPattern == row.double(b).bitPattern
        default:
            let left = row.bytes(a), right = row.bytes(b)
            return left.count == right.count && (left.isEmpty || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
        }
    }

    // MARK: Schema changes

    /// A schema-change event: Debezium's shape, from the version the
    /// registry recorded (a drop describes the table as it was before).
    private mutating func appendSchemaChange(_ row: SQLiteStatement, seq: Int64, version: Int, recorded: Int64, now: Int64,
                                             to batch: inout EventBatch) throws {
        let table = lastTable.name
        guard let recordedVersion = registry.version(table, version) else {
            throw UnknownVersion(seq: seq, table: table, version: version)
        }
        let previous = version > 1 ? registry.version(table, version - 1) : nil
        let type: TableSchema.ChangeType
        var described = recordedVersion.schema
        if recordedVersion.dropped {
            type = .drop
            described = previous?.schema ?? described
        } else {
            type = previous.map { $0.dropped } == false ? .alter : .create
        }
        let changes = row.bytes(5)
        batch.appendSchemaEvent(
            position: Position(high: UInt64(bitPattern: seq), low: 0), table: TableName(schema: "main", name: table),
            envelope: envelope,
            source: { source.write(&$0, table: lastTable.json, seq: seq, micros: recorded, snapshot: .none) },
            timestampMicros: now, database: database, ddl: recordedVersion.ddl,
            version: version, previousVersion: version > 1 ? version - 1 : nil,
            tableChange: { described.writeTableChange(type, to: &$0) },
            changes: { $0.appendRaw(changes) },
            facts: { CloudEventFacts(sourceMillis: recorded / 1000, snapshot: .none, database: database, schema: "main", table: table) })
    }

    // MARK: Snapshots

    /// Appends an `op: "r"` event for a row read by `CaptureInstaller.snapshotSQL`
    /// at `now` (µs) with the marker `snapshot`; returns where the marker's
    /// text sits in the batch, for `SnapshotMarking`'s later word.
    mutating func appendSnapshotRow(_ row: SQLiteStatement, schema: TableSchema, position: Position, seq: Int64,
                                    now: Int64, snapshot: SnapshotMarker, to batch: inout EventBatch) -> Range<Int> {
        if lastTable.name != schema.table { enterTable(schema.table) }
        var marker = 0..<0
        batch.appendRowEvent(
            position: position, op: .read, table: TableName(schema: "main", name: schema.table), envelope: envelope,
            source: { marker = source.write(&$0, table: lastTable.json, seq: seq, micros: now, snapshot: snapshot) },
            transaction: nil, timestampMicros: now, schemaVersion: schema.version,
            facts: { CloudEventFacts(sourceMillis: now / 1000, snapshot: snapshot, database: database, schema: "main",
                                     table: schema.table) }
        ) { image, json in
            switch image {
            case .before: return false
            case .after: Self.writeObject(row, from: 0, schema: schema, to: &json)
            case .key: Self.writeKey(row, from: 0, schema: schema, to: &json)
            }
            return true
        }
        return marker
    }

    private mutating func enterTable(_ name: String) {
        var name = name
        name.withUTF8 { enterTable($0) }
    }

    // MARK: Values

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
}
