import SiphonCore

/// Turns decoded pgoutput messages into events: the pure heart of the
/// PostgreSQL source. No I/O except recording schema versions.
///
/// Positions are (commit LSN, index within the transaction), so the same
/// transaction decoded again after a restart yields the same ids. Relation
/// messages update the relation cache and, when a captured table's columns
/// changed, produce a schema-change event inside the transaction.
struct ChangeDecoder {
    struct Transaction {
        var xid: UInt32
        var commitLSN: LSN
        var commitMillis: Int64
        var nextIndex: UInt64 = 0
        var xidText: String
        /// `"lsn":"...","txId":...,"ts_ms":...,"snapshot":false}`
        var sourceSuffix: [UInt8]
    }

    /// A transaction whose events have all been handed out.
    struct Completed: Equatable {
        var commitLSN: LSN
        var endLSN: LSN
        /// The last event position emitted up to and including this transaction.
        var lastPosition: Position?
    }

    let pipeline: String
    let database: String
    let filter: TableFilter
    let history: SchemaHistory
    var types = TypeRegistry()
    private(set) var relations: [UInt32: RelationInfo] = [:]
    private(set) var transaction: Transaction?
    private(set) var lastPosition: Position?
    /// Wall-clock time stamped on events; the caller refreshes it per read.
    var nowMillis: Int64 = Clock.unixMillis()
    /// Where the current snapshot row's key members sit in the batch (reused per row).
    private var snapshotKeyMembers: [Range<Int>] = []

    init(pipeline: String, database: String, filter: TableFilter, history: SchemaHistory, lastPosition: Position?) {
        self.pipeline = pipeline
        self.database = database
        self.filter = filter
        self.history = history
        self.lastPosition = lastPosition
    }

    var inTransaction: Bool { transaction != nil }

    /// When values arrive in binary form: the first column of a captured
    /// relation whose type has no `BinaryFormat` (call after its types are
    /// resolved), as (column, type name); nil when every column decodes.
    func columnWithoutBinaryFormat(in relation: Relation) -> (column: String, type: String)? {
        guard filter.matches(TableName(schema: relation.namespace, name: relation.name)) else { return nil }
        return relation.columns.first { types.binaryFormat(of: $0.typeOID) == nil }
            .map { ($0.name, types.typeName(of: $0.typeOID) ?? String($0.typeOID)) }
    }

    /// Type OIDs of a relation that the registry does not know yet.
    func unknownTypes(in relation: Relation) -> [UInt32] {
        relation.columns.map(\.typeOID).filter { types.typeName(of: $0) == nil }
    }

    mutating func begin(finalLSN: LSN, xid: UInt32, commitTime: Int64) {
        // Once per transaction, so no String formatting: with single-row
        // transactions, LSN.description and String(xid) cost half as much
        // as rendering the row.
        var suffix = JSONBuffer(capacity: 96)
        suffix.appendRaw("\"lsn\":\"")
        finalLSN.appendText(to: &suffix)
        suffix.appendRaw("\",\"txId\":")
        let xidStart = suffix.count
        suffix.appendInt(xid)
        let xidText = String(decoding: suffix.bytes[xidStart...], as: UTF8.self)
        let commitMillis = PostgresTime.unixMillis(fromPostgresMicros: commitTime)
        suffix.appendRaw(",\"ts_ms\":")
        suffix.appendInt(commitMillis)
        suffix.appendRaw(",\"snapshot\":false}")
        transaction = Transaction(xid: xid, commitLSN: finalLSN, commitMillis: commitMillis,
                                  xidText: xidText, sourceSuffix: suffix.bytes)
    }

    mutating func commit(commitLSN: LSN, endLSN: LSN) -> Completed {
        transaction = nil
        return Completed(commitLSN: commitLSN, endLSN: endLSN, lastPosition: lastPosition)
    }

    /// Forgets a transaction that will not commit (a streamed one aborted, or the connection dropped mid-way).
    mutating func abandonTransaction() { transaction = nil }

    // MARK: Relations

    mutating func relation(_ message: Relation, into batch: inout EventBatch) throws {
        let table = TableName(schema: message.namespace, name: message.name)
        let columns = message.columns.map { column in
            ColumnSchema(name: column.name, typeOID: column.typeOID, typeModifier: column.typeModifier,
                         typeName: types.typeName(of: column.typeOID) ?? String(column.typeOID), isKey: column.isKey)
        }
        let captured = filter.matches(table)
        var version = history.latest(table)?.version ?? 0
        if captured {
            version = try noteSchema(table, columns: columns, into: &batch)
        }
        relations[message.relationID] = RelationInfo(
            id: message.relationID, table: table, columns: columns, types: types,
            schemaVersion: version, captured: captured, pipeline: pipeline, database: database)
    }

    /// Compares `columns` with the table's latest version; records and emits
    /// a new version when they differ. Returns the version rows carry.
    ///
    /// Transactions decoded a second time (after a restart) are compared
    /// with the version in effect at their position, not the latest: a
    /// version recorded at exactly this position is emitted again at the
    /// same position (so the indices of the events after it do not shift),
    /// and nothing new is recorded behind the history's end.
    mutating func noteSchema(_ table: TableName, columns: [ColumnSchema], into batch: inout EventBatch,
                             snapshotSource: [UInt8]? = nil, snapshotPosition: Position? = nil) throws -> Int {
        let position = snapshotPosition
            ?? transaction.map { Position(high: $0.commitLSN.rawValue, low: $0.nextIndex) }
        guard let position else {
            throw SiphonError(.sourceFatal, "pgoutput protocol: Relation message for \(table) outside a transaction")
        }
        let versions = history.versions(table)
        let effective = versions.last { $0.position < position }
        if let replayed = versions.first(where: { $0.position == position }) {
            // The transaction that introduced this version, decoded again: same event, same position.
            emitSchemaEvent(table, version: replayed, previous: effective, into: &batch, snapshotSource: snapshotSource)
            return replayed.version
        }
        if let effective, effective.columns.count == columns.count,
           zip(effective.columns, columns).allSatisfy({ $0.sameDefinition(as: $1) }) {
            return effective.version
        }
        if versions.contains(where: { $0.position > position }) {
            // An older transaction decoded again (PostgreSQL resends from the
            // last confirmed LSN): history already moved on, record nothing.
            return effective?.version ?? versions[0].version
        }
        let recorded = try history.record(table, columns: columns, position: position)
        emitSchemaEvent(table, version: recorded, previous: effective, into: &batch, snapshotSource: snapshotSource)
        return recorded.version
    }

    private mutating func emitSchemaEvent(_ table: TableName, version: SchemaVersion, previous: SchemaVersion?,
                                          into batch: inout EventBatch, snapshotSource: [UInt8]?) {
        var transactionInfo: (id: String, order: Int)?
        var source = JSONBuffer(capacity: 160)
        if let snapshotSource {
            source.appendRaw(snapshotSource)
        } else if var transaction {
            transaction.nextIndex += 1
            transactionInfo = (transaction.xidText, Int(transaction.nextIndex))
            self.transaction = transaction
            appendSourcePrefix(table: table, to: &source)
            source.appendRaw(transaction.sourceSuffix)
        }
        let columns = version.columns
        batch.appendSchemaEvent(
            position: version.position, table: table, source: { $0.appendRaw(source.bytes) },
            version: version.version, previousVersion: previous?.version,
            columns: { SchemaHistory.appendColumns(columns, to: &$0) },
            changes: { SchemaHistory.appendChanges(from: previous?.columns ?? [], to: columns, json: &$0) },
            transaction: transactionInfo, timestampMillis: nowMillis)
        lastPosition = version.position
    }

    private func appendSourcePrefix(table: TableName, to json: inout JSONBuffer) {
        json.appendRaw("{\"version\":\"siphon-")
        json.appendRaw(SiphonVersion.current.utf8)
        json.appendRaw("\",\"connector\":\"postgresql\",\"name\":")
        json.appendString(pipeline)
        json.appendRaw(",\"db\":")
        json.appendString(database)
        json.appendRaw(",\"schema\":")
        json.appendString(table.schema)
        json.appendRaw(",\"table\":")
        json.appendString(table.name)
        json.appendByte(UInt8(ascii: ","))
    }

    // MARK: Row changes

    mutating func insert(_ message: Insert, into batch: inout EventBatch) throws {
        guard let relation = try capturedRelation(message.relationID) else { return }
        try appendRow(.create, relation: relation, before: nil, beforeKeysOnly: false, after: message.newTuple,
                      key: message.newTuple, into: &batch)
    }

    mutating func update(_ message: Update, into batch: inout EventBatch) throws {
        guard let relation = try capturedRelation(message.relationID) else { return }
        let before = message.oldTuple ?? message.oldKey
        try appendRow(.update, relation: relation, before: before, beforeKeysOnly: message.oldTuple == nil,
                      after: message.newTuple, key: message.newTuple, into: &batch)
    }

    mutating func delete(_ message: Delete, into batch: inout EventBatch) throws {
        guard let relation = try capturedRelation(message.relationID) else { return }
        let before = message.oldTuple ?? message.oldKey
        try appendRow(.delete, relation: relation, before: before, beforeKeysOnly: message.oldTuple == nil,
                      after: nil, key: before, into: &batch)
    }

    mutating func truncate(_ message: Truncate, into batch: inout EventBatch) throws {
        for id in message.relationIDs {
            guard let relation = try capturedRelation(id) else { continue }
            try appendRow(.truncate, relation: relation, before: nil, beforeKeysOnly: false, after: nil, key: nil, into: &batch)
        }
    }

    mutating func logicalMessage(_ message: LogicalMessage, into batch: inout EventBatch) {
        let position: Position
        var transactionInfo: (id: String, order: Int)?
        var source = JSONBuffer(capacity: 128)
        source.appendRaw("{\"version\":\"siphon-")
        source.appendRaw(SiphonVersion.current.utf8)
        source.appendRaw("\",\"connector\":\"postgresql\",\"name\":")
        source.appendString(pipeline)
        source.appendRaw(",\"db\":")
        source.appendString(database)
        source.appendByte(UInt8(ascii: ","))
        if message.isTransactional, var transaction {
            position = Position(high: transaction.commitLSN.rawValue, low: transaction.nextIndex)
            transaction.nextIndex += 1
            transactionInfo = (transaction.xidText, Int(transaction.nextIndex))
            source.appendRaw(transaction.sourceSuffix)
            self.transaction = transaction
        } else {
            position = Position(high: message.lsn.rawValue, low: 0)
            source.appendRaw("\"lsn\":\"")
            source.appendRaw(message.lsn.description.utf8)
            source.appendRaw("\",\"txId\":null,\"ts_ms\":")
            source.appendInt(nowMillis)
            source.appendRaw(",\"snapshot\":false}")
        }
        if let lastPosition, position <= lastPosition { return }
        batch.appendMessageEvent(position: position, source: { $0.appendRaw(source.bytes) }, prefix: message.prefix,
                                 content: Array(message.content), transactional: message.isTransactional,
                                 transaction: transactionInfo, timestampMillis: nowMillis)
        lastPosition = position
    }

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
    /// `after`; `source` is the table's whole `source` object. Throws when
    /// the row is malformed or a binary value does not decode; the event is
    /// then in `batch`, which the caller must discard.
    mutating func snapshotRow(_ row: ArraySlice<UInt8>, format: CopyFormat, relation: borrowing RelationInfo, position: Position,
                              source: [UInt8], into batch: inout EventBatch) throws {
        snapshotKeyMembers.removeAll(keepingCapacity: true)
        var failure: (any Error)?
        var undecodable: String?
        batch.appendRowEvent(
            position: position, op: .read, table: relation.table,
            source: { $0.appendRaw(source) },
            schemaVersion: relation.schemaVersion, transaction: nil, timestampMillis: nowMillis
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
    }

    private func capturedRelation(_ id: UInt32) throws -> RelationInfo? {
        guard let relation = relations[id] else {
            throw SiphonError(.sourceFatal, "pgoutput protocol: change for relation \(id) before its Relation message")
        }
        return relation.captured ? relation : nil
    }

    /// Throws `BinaryModeFallback` when a value in binary form cannot be
    /// decoded; the event is then already in `batch`, which the caller must
    /// discard (the session ends).
    private mutating func appendRow(_ op: Operation, relation: RelationInfo, before: TupleData?, beforeKeysOnly: Bool,
                                    after: TupleData?, key: TupleData?, into batch: inout EventBatch) throws {
        guard var transaction else { return }
        let position = Position(high: transaction.commitLSN.rawValue, low: transaction.nextIndex)
        transaction.nextIndex += 1
        self.transaction = transaction
        var unchanged: [String] = []
        var ignored: [String] = []
        var undecodable: String?
        let keyTuple = key.flatMap { relation.hasKeyValues($0) ? $0 : nil }
        batch.appendRowEvent(
            position: position, op: op, table: relation.table,
            source: { json in
                json.appendRaw(relation.sourcePrefix)
                json.appendRaw(transaction.sourceSuffix)
            },
            schemaVersion: relation.schemaVersion,
            transaction: (transaction.xidText, Int(transaction.nextIndex)),
            timestampMillis: nowMillis,
            unchangedColumns: { unchanged }
        ) { image, json in
            switch image {
            case .before:
                guard let before else { return false }
                relation.appendObject(before, keysOnly: beforeKeysOnly, to: &json, unchanged: &ignored, undecodable: &undecodable)
            case .after:
                guard let after else { return false }
                relation.appendObject(after, keysOnly: false, to: &json, unchanged: &unchanged, undecodable: &undecodable)
            case .key:
                guard let keyTuple else { return false }
                relation.appendObject(keyTuple, keysOnly: true, to: &json, unchanged: &ignored, undecodable: &undecodable)
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
}
