/// Writes a JSON value into an event (a `source` object, a column list).
public typealias JSONWriter = (inout JSONBuffer) -> Void

/// The event format, version 2 (docs/EVENTS.md): each event is the value
/// Debezium 3.6 writes for the same change (JSON converter, schemas off,
/// string decimal, isostring time and string interval modes), plus
/// Siphon's own top-level fields, which a Debezium consumer ignores: `id`
/// (the position: deduplicate by it), `key` (the record key, for files),
/// `schema_version` and `unchanged`. No top-level field is named `schema`
/// or `payload`, which readers take for Kafka Connect's schema envelope.
///
/// `id` comes first in every line, so the file sink can read a line's
/// position without parsing it. Other members are in Debezium's order.
public enum EventFormat {
    public static let version = 2
}

/// The row images of a row event, which its source writes.
public enum RowImage: Sendable {
    case before, after, key
}

extension EventBatch {
    /// Appends a row event (`c`, `u`, `d`, `r` or `t`).
    ///
    /// `images` is asked for `.before`, `.after` and `.key` in that order;
    /// it writes a JSON object and returns true, or writes nothing and
    /// returns false for null. `unchangedColumns` (asked after `.after`)
    /// names columns whose value the source did not send (PostgreSQL's
    /// unchanged TOAST). `facts` is asked only for the CloudEvents envelope.
    ///
    /// One non-escaping closure instead of one optional closure per image:
    /// optional closures escape, and their captured state was allocated on
    /// the heap for every row.
    public mutating func appendRowEvent(
        position: Position,
        op: Operation,
        table: TableName,
        envelope: EventEnvelope,
        source: JSONWriter,
        transaction: EventTransaction?,
        timestampMicros: Int64,
        schemaVersion: Int,
        facts: () -> CloudEventFacts,
        unchangedColumns: () -> [String] = { [] },
        images: (RowImage, inout JSONBuffer) -> Bool
    ) {
        let start = buffer.count
        beginEvent(position: position)
        let cloud = beginCloudEvent(envelope, type: "DataChangeEvent", op: op, facts: facts)
        buffer.appendRaw("\"before\":")
        if !images(.before, &buffer) { buffer.appendNull() }
        buffer.appendRaw(",\"after\":")
        let afterStart = buffer.count
        var afterRange: Range<Int>?
        if images(.after, &buffer) {
            afterRange = afterStart..<buffer.count
        } else {
            buffer.appendNull()
        }
        buffer.appendRaw(",\"source\":")
        source(&buffer)
        appendTransaction(transaction)
        appendOperationAndTimes(op, timestampMicros: timestampMicros)
        buffer.appendRaw(",\"key\":")
        let keyStart = buffer.count
        var keyRange: Range<Int>?
        if images(.key, &buffer) {
            keyRange = keyStart..<buffer.count
        } else {
            buffer.appendNull()
        }
        buffer.appendRaw(",\"schema_version\":")
        buffer.appendInt(schemaVersion)
        let unchanged = unchangedColumns()
        var unchangedRange: Range<Int>?
        if !unchanged.isEmpty {
            buffer.appendRaw(",\"unchanged\":")
            let listStart = buffer.count
            buffer.appendByte(UInt8(ascii: "["))
            for (index, name) in unchanged.enumerated() {
                if index > 0 { buffer.appendByte(UInt8(ascii: ",")) }
                buffer.appendString(name)
            }
            buffer.appendByte(UInt8(ascii: "]"))
            unchangedRange = listStart..<buffer.count
        }
        endCloudEvent(cloud, partitionKey: keyRange)
        finishEvent(position: position, op: op, table: table, start: start, key: keyRange)
        events[events.count - 1].after = afterRange
        events[events.count - 1].unchanged = unchangedRange
    }

    /// Appends a schema-change event, in the shape of Debezium's schema
    /// change topic (no `op`): `databaseName`, `schemaName`, `ddl` (null when
    /// not known), `tableChanges` (written by `tableChange`: one entry with
    /// the table's `id`, `primaryKeyColumnNames` and `columns`), and Siphon's
    /// `schema_version`, `previous_version` and `changes` (what was added,
    /// dropped or retyped, written by `changes`).
    public mutating func appendSchemaEvent(
        position: Position,
        table: TableName,
        envelope: EventEnvelope,
        source: JSONWriter,
        timestampMicros: Int64,
        database: String,
        ddl: String?,
        version: Int,
        previousVersion: Int?,
        tableChange: JSONWriter,
        changes: JSONWriter,
        facts: () -> CloudEventFacts
    ) {
        let start = buffer.count
        beginEvent(position: position)
        let cloud = beginCloudEvent(envelope, type: "SchemaChangeEvent", op: nil, facts: facts)
        buffer.appendRaw("\"source\":")
        source(&buffer)
        appendTimes(timestampMicros: timestampMicros)
        buffer.appendRaw(",\"databaseName\":")
        buffer.appendString(database)
        buffer.appendRaw(",\"schemaName\":")
        buffer.appendString(table.schema)
        buffer.appendRaw(",\"ddl\":")
        if let ddl { buffer.appendString(ddl) } else { buffer.appendNull() }
        buffer.appendRaw(",\"tableChanges\":[")
        tableChange(&buffer)
        buffer.appendRaw("],\"schema_version\":")
        buffer.appendInt(version)
        buffer.appendRaw(",\"previous_version\":")
        if let previousVersion { buffer.appendInt(previousVersion) } else { buffer.appendNull() }
        buffer.appendRaw(",\"changes\":")
        changes(&buffer)
        endCloudEvent(cloud, partitionKey: nil)
        finishEvent(position: position, op: .schemaChange, table: table, start: start, key: nil)
    }

    /// Appends a logical decoding message event (`op: "m"`): Debezium's
    /// `message: {prefix, content}` (content in base64) and, as the record
    /// key, `{"prefix": ...}`.
    public mutating func appendMessageEvent(
        position: Position,
        envelope: EventEnvelope,
        source: JSONWriter,
        transaction: EventTransaction?,
        timestampMicros: Int64,
        prefix: String,
        content: [UInt8],
        facts: () -> CloudEventFacts
    ) {
        let start = buffer.count
        beginEvent(position: position)
        let cloud = beginCloudEvent(envelope, type: "DataChangeEvent", op: .message, facts: facts)
        buffer.appendRaw("\"source\":")
        source(&buffer)
        appendTransaction(transaction)
        appendOperationAndTimes(.message, timestampMicros: timestampMicros)
        buffer.appendRaw(",\"message\":{\"prefix\":")
        buffer.appendString(prefix)
        buffer.appendRaw(",\"content\":")
        buffer.appendBase64(content)
        buffer.appendRaw("},\"key\":")
        let keyStart = buffer.count
        buffer.appendRaw("{\"prefix\":")
        buffer.appendString(prefix)
        buffer.appendByte(UInt8(ascii: "}"))
        let keyRange = keyStart..<buffer.count
        endCloudEvent(cloud, partitionKey: keyRange)
        finishEvent(position: position, op: .message, table: nil, start: start, key: keyRange)
    }

    // MARK: Parts

    private mutating func beginEvent(position: Position) {
        precondition(events.last.map { $0.position < position } ?? true,
                     "events in a batch must have increasing positions")
        buffer.appendRaw("{\"id\":\"")
        position.withHexDigits { buffer.appendRaw($0) }
        buffer.appendRaw("\",")
    }

    private mutating func finishEvent(position: Position, op: Operation, table: TableName?, start: Int, key: Range<Int>?) {
        buffer.appendByte(UInt8(ascii: "}"))
        events.append(EventRecord(position: position, op: op, table: table, line: start..<buffer.count, key: key))
        buffer.appendByte(UInt8(ascii: "\n"))
    }

    private mutating func appendTransaction(_ transaction: EventTransaction?) {
        buffer.appendRaw(",\"transaction\":")
        guard let transaction else { return buffer.appendNull() }
        buffer.appendRaw("{\"id\":")
        buffer.appendString(transaction.id)
        buffer.appendRaw(",\"total_order\":")
        buffer.appendInt(transaction.totalOrder)
        buffer.appendRaw(",\"data_collection_order\":")
        buffer.appendInt(transaction.dataCollectionOrder)
        buffer.appendByte(UInt8(ascii: "}"))
    }

    private mutating func appendOperationAndTimes(_ op: Operation, timestampMicros: Int64) {
        buffer.appendRaw(",\"op\":\"")
        buffer.appendRaw(op.rawValue.utf8)
        buffer.appendByte(UInt8(ascii: "\""))
        appendTimes(timestampMicros: timestampMicros)
    }

    /// `"ts_ms"`, `"ts_us"` and `"ts_ns"` of one instant (microseconds).
    private mutating func appendTimes(timestampMicros: Int64) {
        buffer.appendRaw(",\"ts_ms\":")
        buffer.appendInt(timestampMicros / 1000)
        buffer.appendRaw(",\"ts_us\":")
        buffer.appendInt(timestampMicros)
        buffer.appendRaw(",\"ts_ns\":")
        buffer.appendInt(timestampMicros * 1000)
    }

    // MARK: CloudEvents

    /// In the CloudEvents envelope, writes the attributes and opens `data`;
    /// returns whether it did.
    private mutating func beginCloudEvent(_ envelope: EventEnvelope, type: StaticString, op: Operation?,
                                          facts: () -> CloudEventFacts) -> Bool {
        guard envelope.options.envelope == .cloudevents else { return false }
        let facts = facts()
        buffer.appendRaw("\"type\":")
        buffer.appendRaw(envelope.cloudTypePrefix)
        buffer.appendRaw(type)
        buffer.appendRaw("\",\"time\":\"")
        Timestamps.appendISO8601(millis: facts.sourceMillis, to: &buffer)
        buffer.appendByte(UInt8(ascii: "\""))
        buffer.appendRaw(envelope.cloudConstant)
        if let op {
            buffer.appendRaw(",\"iodebeziumop\":\"")
            buffer.appendRaw(op.rawValue.utf8)
            buffer.appendByte(UInt8(ascii: "\""))
        }
        buffer.appendRaw(",\"iodebeziumtsms\":\"")
        buffer.appendInt(facts.sourceMillis)
        buffer.appendRaw("\",\"iodebeziumsnapshot\":\"")
        buffer.appendRaw(facts.snapshot.rawValue.utf8)
        buffer.appendRaw("\",\"iodebeziumdb\":")
        buffer.appendString(facts.database)
        for (name, value) in [("iodebeziumschema", facts.schema), ("iodebeziumtable", facts.table),
                              ("iodebeziumtxid", facts.transactionID), ("iodebeziumlsn", facts.lsn)] {
            buffer.appendRaw(",\"")
            buffer.appendRaw(name.utf8)
            buffer.appendRaw("\":")
            if let value { buffer.appendString(value) } else { buffer.appendNull() }
        }
        buffer.appendRaw(",\"data\":{")
        return true
    }

    /// Closes `data` and adds `partitionkey` (the record key's JSON text,
    /// CloudEvents' partitioning extension) when there is a key.
    private mutating func endCloudEvent(_ cloud: Bool, partitionKey: Range<Int>?) {
        guard cloud else { return }
        buffer.appendByte(UInt8(ascii: "}"))
        if let partitionKey {
            buffer.appendRaw(",\"partitionkey\":")
            let key = Array(buffer.bytes[partitionKey])
            buffer.appendString(utf8: key)
        }
    }
}

/// The Siphon release, written into every event's `source.version`.
public enum SiphonVersion {
    public static let current = "0.2.0"
    /// `source.version`: `siphon-<release>`.
    public static let sourceVersion = "siphon-" + current
}
