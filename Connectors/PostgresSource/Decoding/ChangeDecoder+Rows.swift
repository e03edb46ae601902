import SiphonCore

extension ChangeDecoder {
    // MARK: Row changes

    mutating func insert(_ message: Insert, into batch: inout EventBatch) throws {
        guard let relation = try capturedRelation(message.relationID) else { return }
        try appendRow(.create, relation: relation, before: nil, after: message.newTuple, into: &batch)
    }

    /// An update is one `u` event, or, when it changes the key, what
    /// Debezium writes: a `d` for the old key, then a `c` for the new row
    /// (a broker sink puts a tombstone between them). Under REPLICA IDENTITY
    /// FULL `before` is the old row and unchanged TOAST values in `after` are
    /// taken from it; under DEFAULT `before` is null.
    mutating func update(_ message: Update, into batch: inout EventBatch) throws {
        guard let relation = try capturedRelation(message.relationID) else { return }
        let keyChanged = message.oldKey != nil
            || message.oldTuple.map { relation.keyValuesDiffer($0, message.newTuple) } ?? false
        if keyChanged, let old = message.oldTuple ?? message.oldKey {
            try appendRow(.delete, relation: relation, before: old, after: nil, into: &batch)
            try appendRow(.create, relation: relation, before: nil, after: message.newTuple, into: &batch)
            return
        }
        try appendRow(.update, relation: relation, before: message.oldTuple, after: message.newTuple, into: &batch)
    }

    /// `before` is the old row under REPLICA IDENTITY FULL; under DEFAULT,
    /// the key columns with every other column null, as Debezium writes it.
    mutating func delete(_ message: Delete, into batch: inout EventBatch) throws {
        guard let relation = try capturedRelation(message.relationID) else { return }
        try appendRow(.delete, relation: relation, before: message.oldTuple ?? message.oldKey, after: nil, into: &batch)
    }

    mutating func truncate(_ message: Truncate, into batch: inout EventBatch) throws {
        for id in message.relationIDs {
            guard let relation = try capturedRelation(id) else { continue }
            try appendRow(.truncate, relation: relation, before: nil, after: nil, into: &batch)
        }
    }

    /// A logical decoding message (`op: "m"`), with `source.schema` and
    /// `source.table` empty as Debezium writes them.
    mutating func logicalMessage(_ message: LogicalMessage, into batch: inout EventBatch) {
        // Siphon's own heartbeat (`source.heartbeat`) moves the WAL, and is no change.
        if message.prefix == PostgresSourceConfiguration.Heartbeat.messagePrefix { return }
        let position: Position
        var eventTransaction: EventTransaction?
        var source = JSONBuffer(capacity: 256)
        source.appendRaw(RelationInfo.sourcePrefix(table: TableName(schema: "", name: ""), pipeline: pipeline,
                                                   database: database))
        var sourceMillis = nowMicros / 1000
        var transactionID: String?
        if message.isTransactional, var transaction {
            position = Position(high: transaction.commitLSN.rawValue, low: transaction.nextIndex)
            eventTransaction = transaction.order(of: 0)
            self.transaction = transaction
            source.appendRaw(transaction.sourcePart)
            sourceMillis = transaction.commitMicros / 1000
            transactionID = transaction.xidText
        } else {
            position = Position(high: message.lsn.rawValue, low: 0)
            source.appendRaw(SourceBlock.transactionPart(commitMicros: nowMicros, snapshot: .none, xid: nil,
                                                         previousCommitEnd: lastCommitEnd))
        }
        SourceBlock.appendChangeTail(lsn: message.lsn, to: &source)
        if let lastPosition, position <= lastPosition { return }
        let lsn = message.lsn
        let database = database
        batch.appendMessageEvent(
            position: position, envelope: envelope, source: { $0.appendRaw(source.bytes) },
            transaction: eventTransaction, timestampMicros: nowMicros, prefix: message.prefix,
            content: Array(message.content),
            facts: {
                CloudEventFacts(sourceMillis: sourceMillis, snapshot: .none, database: database, schema: "", table: "",
                                transactionID: transactionID, lsn: String(lsn.rawValue))
            })
        lastPosition = position
    }

    /// Throws `BinaryModeFallback` when a value in binary form cannot be
    /// decoded; the event is then already in `batch`, which the caller must
    /// discard (the session ends).
    private mutating func appendRow(_ op: Operation, relation: RelationInfo, before: TupleData?, after: TupleData?,
                                    into batch: inout EventBatch) throws {
        guard var transaction else { return }
        let position = Position(high: transaction.commitLSN.rawValue, low: transaction.nextIndex)
        let order = transaction.order(of: relation.id)
        self.transaction = transaction
        var unchanged: [String] = []
        var ignored: [String] = []
        var undecodable: String?
        // The key comes from the new row, or the old one for a delete.
        let keyTuple = (after ?? before).flatMap { relation.hasKeyValues($0) ? $0 : nil }
        let unavailable = unavailable
        let lsn = changeLSN
        let database = database
        batch.appendRowEvent(
            position: position, op: op, table: relation.table, envelope: envelope,
            source: { json in
                json.appendRaw(relation.sourcePrefix)
                json.appendRaw(transaction.sourcePart)
                SourceBlock.appendChangeTail(lsn: lsn, to: &json)
            },
            transaction: order, timestampMicros: nowMicros, schemaVersion: relation.schemaVersion,
            facts: {
                CloudEventFacts(sourceMillis: transaction.commitMicros / 1000, snapshot: .none, database: database,
                                schema: relation.table.schema, table: relation.table.name,
                                transactionID: transaction.xidText, lsn: String(lsn.rawValue))
            },
            unchangedColumns: { unchanged }
        ) { image, json in
            switch image {
            case .before:
                guard let before else { return false }
                relation.appendObject(before, keysOnly: false, unavailable: unavailable, to: &json, unchanged: &ignored,
                                      undecodable: &undecodable)
            case .after:
                guard let after else { return false }
                relation.appendObject(after, keysOnly: false, fallback: before, unavailable: unavailable, to: &json,
                                      unchanged: &unchanged, undecodable: &undecodable)
            case .key:
                guard let keyTuple else { return false }
                relation.appendObject(keyTuple, keysOnly: true, fallback: before, unavailable: unavailable, to: &json,
                                      unchanged: &ignored, undecodable: &undecodable)
            }
            return true
        }
        if let undecodable {
            let type = relation.columns.first { $0.schema.name == undecodable }?.schema.typeName ?? "?"
            throw BinaryModeFallback(table: relation.table, column: undecodable,
                                     reason: "sent a value of type \(type) in binary form that Siphon could not decode")
        }
        lastPosition = position
    }

    // MARK: Snapshot rows

    /// The two forms of `COPY ... TO STDOUT` the snapshot reads.
    enum CopyFormat {
        /// One line per row (without its newline), tab-separated, backslash escapes.
        case text
        /// One row per message, length-prefixed values in binary send format (`CopyBinaryParser`).
        case binary
    }

    /// Appends the `r` event of one row of `COPY ... TO STDOUT`. Values are
    /// rendered as they are parsed, with no tuple in between, and the key
    /// object is copied from the key columns' members already written into
    /// `after`. `source` is the table's snapshot `source` with the marker
    /// `marker`, split around it (`SnapshotSource`); returns where in the
    /// batch the marker's text is, so that it can be changed once the next
    /// row shows whether this one was the table's last. Throws when the row
    /// is malformed or a binary value does not decode; the event is then in
    /// `batch`, which the caller must discard.
    mutating func snapshotRow(_ row: ArraySlice<UInt8>, format: CopyFormat, relation: borrowing RelationInfo,
                              position: Position, source: SnapshotSource, marker: SnapshotMarker,
                              into batch: inout EventBatch) throws -> Range<Int> {
        snapshotKeyMembers.removeAll(keepingCapacity: true)
        var failure: (any Error)?
        var undecodable: String?
        var markerRange = 0..<0
        let database = database
        let table = relation.table
        batch.appendRowEvent(
            position: position, op: .read, table: relation.table, envelope: envelope,
            source: { json in
                json.appendRaw(source.beforeMarker)
                let start = json.count
                json.appendRaw(marker.rawValue.utf8)
                markerRange = start..<json.count
                json.appendRaw(source.afterMarker)
            },
            transaction: nil, timestampMicros: nowMicros, schemaVersion: relation.schemaVersion,
            facts: {
                CloudEventFacts(sourceMillis: source.millis, snapshot: marker, database: database, schema: table.schema,
                                table: table.name, lsn: source.lsnText)
            }
        ) { image, json in
            switch image {
            case .before:
                return false
            case .after:
                do {
                    undecodable = try relation.appendCopyRow(row, binary: format == .binary, to: &json,
                                                             keyMembers: &snapshotKeyMembers)
                } catch {
                    failure = error
                }
                return true
            case .key:
                guard !snapshotKeyMembers.isEmpty, snapshotKeyMembers.count == relation.keyIndices.count else { return false }
                json.appendByte(UInt8(ascii: "{"))
                for (order, member) in snapshotKeyMembers.enumerated() {
                    if order > 0 { json.appendByte(UInt8(ascii: ",")) }
                    json.appendCopy(of: member)
                }
                json.appendByte(UInt8(ascii: "}"))
                return true
            }
        }
        if let failure {
            throw SiphonError(.sourceFatal, "snapshot of \(relation.table): a row of binary COPY data is malformed (\(failure)); set source.binary: false to read it in text form")
        }
        if let undecodable {
            throw SiphonError(.sourceFatal, "snapshot of \(relation.table): column \(undecodable) has a binary value Siphon could not decode; set source.binary: false to read it in text form")
        }
        lastPosition = position
        return markerRange
    }
}

/// A table's snapshot `source` object, around the marker that changes per row.
struct SnapshotSource {
    /// `{"version":...,"table":"t","ts_ms":...,"snapshot":"`
    var beforeMarker: [UInt8]
    /// `","txId":null,"sequence":"[null,\"<lsn>\"]","lsn":<lsn>,...}`
    var afterMarker: [UInt8]
    var millis: Int64
    var lsnText: String

    init(table: TableName, pipeline: String, database: String, consistentPoint: LSN, readMicros: Int64) {
        var before = JSONBuffer(capacity: 256)
        before.appendRaw(RelationInfo.sourcePrefix(table: table, pipeline: pipeline, database: database))
        SourceBlock.appendTimes(micros: readMicros, to: &before)
        before.appendRaw(",\"snapshot\":\"")
        beforeMarker = before.bytes
        var after = JSONBuffer(capacity: 160)
        after.appendRaw("\",\"txId\":null,\"sequence\":\"[null,\\\"")
        SourceBlock.appendChangeTail(lsn: consistentPoint, to: &after)
        afterMarker = after.bytes
        millis = readMicros / 1000
        lsnText = String(consistentPoint.rawValue)
    }
}

/// The pre-rendered parts of a change's `source` object, in Debezium's
/// fields: `RelationInfo.sourcePrefix` (version, connector, name, db,
/// schema, table), then `transactionPart` (ts_ms/us/ns of the commit,
/// snapshot, txId, the start of `sequence`), then `appendChangeTail` (the
/// change's own LSN in `sequence` and `lsn`, xmin and origin).
enum SourceBlock {
    /// `"ts_ms":...,"ts_us":...,"ts_ns":...,"snapshot":"false","txId":N,"sequence":"[\"<end>\",\"`
    /// (`null` for a missing xid or previous commit).
    static func transactionPart(commitMicros: Int64, snapshot: SnapshotMarker, xid: [UInt8]?,
                                previousCommitEnd: LSN?) -> [UInt8] {
        var json = JSONBuffer(capacity: 160)
        appendTimes(micros: commitMicros, to: &json)
        json.appendRaw(",\"snapshot\":\"")
        json.appendRaw(snapshot.rawValue.utf8)
        json.appendRaw("\",\"txId\":")
        if let xid { json.appendRaw(xid) } else { json.appendNull() }
        json.appendRaw(",\"sequence\":\"[")
        if let previousCommitEnd {
            json.appendRaw("\\\"")
            json.appendInt(previousCommitEnd.rawValue)
            json.appendRaw("\\\"")
        } else {
            json.appendNull()
        }
        json.appendRaw(",\\\"")
        return json.bytes
    }

    /// `"ts_ms":...,"ts_us":...,"ts_ns":...` of one instant.
    static func appendTimes(micros: Int64, to json: inout JSONBuffer) {
        json.appendRaw("\"ts_ms\":")
        json.appendInt(micros / 1000)
        json.appendRaw(",\"ts_us\":")
        json.appendInt(micros)
        json.appendRaw(",\"ts_ns\":")
        json.appendInt(micros * 1000)
    }

    /// `<lsn>\"]","lsn":<lsn>,"xmin":null,"origin":null,"origin_lsn":null}`
    static func appendChangeTail(lsn: LSN, to json: inout JSONBuffer) {
        json.appendInt(lsn.rawValue)
        json.appendRaw("\\\"]\",\"lsn\":")
        json.appendInt(lsn.rawValue)
        json.appendRaw(",\"xmin\":null,\"origin\":null,\"origin_lsn\":null}")
    }
}
