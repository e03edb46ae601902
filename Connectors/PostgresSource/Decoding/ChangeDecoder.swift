import SiphonCore

/// Turns decoded pgoutput messages into events: the pure heart of the
/// PostgreSQL source. No I/O except recording schema versions.
///
/// Positions are (commit LSN, index within the transaction), so the same
/// transaction decoded again after a restart yields the same ids. Relation
/// messages update the relation cache and, when a captured table's columns
/// changed, produce a schema-change event inside the transaction.
///
/// Events are event format 2 (docs/EVENTS.md): Debezium's JSON for the same
/// change, value for value. Their `source` objects are written in three
/// pre-rendered parts (see `SourceBlock`): per table, per transaction and
/// per change (the change's own LSN).
struct ChangeDecoder {
    struct Transaction {
        var xid: UInt32
        var commitLSN: LSN
        var commitMicros: Int64
        var nextIndex: UInt64 = 0
        /// Events that carry `transaction` so far (`total_order`): schema
        /// events take a position in the transaction but are not counted,
        /// as Debezium counts only the events it brackets with BEGIN and END.
        var transactionEvents = 0
        /// Debezium's `transaction.id`: `<xid>:<commit LSN>`.
        var id: String
        var xidText: String
        /// The transaction's part of `source` (`SourceBlock.transactionPart`).
        var sourcePart: [UInt8]
        /// Events so far per table (`transaction.data_collection_order`);
        /// a transaction touches few tables, so a list beats a dictionary.
        var tableCounts: [(relation: UInt32, count: Int)] = []

        /// Counts one more event of `relation` and returns its
        /// (total_order, data_collection_order).
        mutating func order(of relation: UInt32) -> EventTransaction {
            nextIndex += 1
            transactionEvents += 1
            var collection = 1
            if let index = tableCounts.firstIndex(where: { $0.relation == relation }) {
                tableCounts[index].count += 1
                collection = tableCounts[index].count
            } else {
                tableCounts.append((relation, 1))
            }
            return EventTransaction(id: id, totalOrder: transactionEvents, dataCollectionOrder: collection)
        }
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
    let envelope: EventEnvelope
    var types = TypeRegistry()
    private(set) var relations: [UInt32: RelationInfo] = [:]
    var transaction: Transaction?
    var lastPosition: Position?
    /// The end LSN of the last commit seen in this session (Debezium's
    /// `source.sequence` starts with it; nil before the first).
    private(set) var lastCommitEnd: LSN?
    /// Wall-clock time stamped on events (the top-level `ts_*`), in
    /// microseconds; the caller refreshes it per read.
    var nowMicros: Int64 = Clock.unixMicros()
    /// The LSN of the change being decoded (`source.lsn`): the caller sets
    /// it from each XLogData header.
    var changeLSN = LSN.zero
    /// Where the current snapshot row's key members sit in the batch (reused per row).
    var snapshotKeyMembers: [Range<Int>] = []

    init(pipeline: String, database: String, filter: TableFilter, history: SchemaHistory, lastPosition: Position?,
         options: EventOptions = EventOptions()) {
        self.pipeline = pipeline
        self.database = database
        self.filter = filter
        self.history = history
        self.lastPosition = lastPosition
        envelope = EventEnvelope(options: options, connector: "postgresql", pipeline: pipeline)
    }

    var inTransaction: Bool { transaction != nil }

    var unavailable: RelationInfo.Unavailable {
        envelope.options.unchangedToast == .placeholder ? .placeholder : .omit
    }

    /// How values are written, from the pipeline's `events.json`.
    var valueOptions: ValueOptions {
        ValueOptions(jsonAsString: envelope.options.json == .string)
    }

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
        // Once per transaction, so no String formatting beyond the two ids:
        // with single-row transactions, formatting costs as much as the row.
        let commitMicros = PostgresTime.unixMicros(fromPostgresMicros: commitTime)
        var xidDigits = JSONBuffer(capacity: 12)
        xidDigits.appendInt(xid)
        let xidText = String(decoding: xidDigits.bytes, as: UTF8.self)
        var id = JSONBuffer(capacity: 32)
        id.appendRaw(xidDigits.bytes)
        id.appendByte(UInt8(ascii: ":"))
        id.appendInt(finalLSN.rawValue)
        transaction = Transaction(
            xid: xid, commitLSN: finalLSN, commitMicros: commitMicros,
            id: String(decoding: id.bytes, as: UTF8.self), xidText: xidText,
            sourcePart: SourceBlock.transactionPart(commitMicros: commitMicros, snapshot: .none, xid: xidDigits.bytes,
                                                    previousCommitEnd: lastCommitEnd))
    }

    mutating func commit(commitLSN: LSN, endLSN: LSN) -> Completed {
        transaction = nil
        lastCommitEnd = endLSN
        return Completed(commitLSN: commitLSN, endLSN: endLSN, lastPosition: lastPosition)
    }

    /// Forgets a transaction that will not commit (a streamed one aborted, or the connection dropped mid-way).
    mutating func abandonTransaction() { transaction = nil }

    // MARK: Relations

    /// Takes a Relation message. `details` are the table's columns as the
    /// catalog describes them (`Catalog.columnDetails`): the event key
    /// (primary key, else replica identity index), the exact type,
    /// nullability and defaults, none of which pgoutput sends.
    mutating func relation(_ message: Relation, details: [String: ColumnSchema] = [:], into batch: inout EventBatch) throws {
        let table = TableName(schema: message.namespace, name: message.name)
        let columns = message.columns.map { column in
            // The catalog describes the table as it is now, which can be
            // past this message (a column retyped since): its exact type
            // is taken only when it still is the type the message names;
            // otherwise the type's name stands in.
            var known = details[column.name]
            if let catalog = known, catalog.typeOID != column.typeOID || catalog.typeModifier != column.typeModifier {
                known?.typeExpression = nil
            }
            return ColumnSchema(name: column.name, typeOID: column.typeOID, typeModifier: column.typeModifier,
                                typeName: types.typeName(of: column.typeOID) ?? String(column.typeOID),
                                isKey: known?.isKey ?? column.isKey,
                                typeExpression: known?.typeExpression, optional: known?.optional ?? true,
                                defaultExpression: known?.defaultExpression)
        }
        let captured = filter.matches(table)
        var version = history.latest(table)?.version ?? 0
        if captured {
            version = try noteSchema(table, columns: columns, into: &batch)
        }
        relations[message.relationID] = RelationInfo(
            id: message.relationID, table: table, columns: columns, types: types,
            schemaVersion: version, captured: captured, pipeline: pipeline, database: database,
            valueOptions: valueOptions)
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
                             snapshot: SnapshotSchema? = nil) throws -> Int {
        let position = snapshot?.position
            ?? transaction.map { Position(high: $0.commitLSN.rawValue, low: $0.nextIndex) }
        guard let position else {
            throw SiphonError(.sourceFatal, "pgoutput protocol: Relation message for \(table) outside a transaction")
        }
        let versions = history.versions(table)
        let effective = versions.last { $0.position < position }
        if let replayed = versions.first(where: { $0.position == position }) {
            // The transaction that introduced this version, decoded again: same event, same position.
            emitSchemaEvent(table, version: replayed, previous: effective, into: &batch, snapshot: snapshot)
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
        emitSchemaEvent(table, version: recorded, previous: effective, into: &batch, snapshot: snapshot)
        return recorded.version
    }

    /// Where a snapshot's schema event goes, and its `source`.
    struct SnapshotSchema {
        var position: Position
        var source: [UInt8]
        var sourceMillis: Int64
    }

    private mutating func emitSchemaEvent(_ table: TableName, version: SchemaVersion, previous: SchemaVersion?,
                                          into batch: inout EventBatch, snapshot: SnapshotSchema?) {
        var source = JSONBuffer(capacity: 256)
        var sourceMillis = nowMicros / 1000
        var transactionID: String?
        // A Relation message carries no LSN of its own: the transaction's commit LSN stands in.
        let lsn = changeLSN == .zero ? (transaction?.commitLSN ?? changeLSN) : changeLSN
        if let snapshot {
            source.appendRaw(snapshot.source)
            sourceMillis = snapshot.sourceMillis
        } else if var transaction {
            transaction.nextIndex += 1
            self.transaction = transaction
            source.appendRaw(RelationInfo.sourcePrefix(table: table, pipeline: pipeline, database: database))
            source.appendRaw(transaction.sourcePart)
            SourceBlock.appendChangeTail(lsn: lsn, to: &source)
            sourceMillis = transaction.commitMicros / 1000
            transactionID = transaction.xidText
        }
        let columns = version.columns
        batch.appendSchemaEvent(
            position: version.position, table: table, envelope: envelope, source: { $0.appendRaw(source.bytes) },
            timestampMicros: nowMicros, database: database, ddl: nil, version: version.version,
            previousVersion: previous?.version,
            tableChange: { SchemaEventWriter.tableChange(table, columns: columns, created: previous == nil).write(to: &$0) },
            changes: { SchemaHistory.appendChanges(from: previous?.columns ?? [], to: columns, json: &$0) },
            facts: {
                CloudEventFacts(sourceMillis: sourceMillis, snapshot: snapshot == nil ? .none : .row, database: database,
                                schema: table.schema, table: table.name, transactionID: transactionID,
                                lsn: String(lsn.rawValue))
            })
        lastPosition = version.position
    }

    func capturedRelation(_ id: UInt32) throws -> RelationInfo? {
        guard let relation = relations[id] else {
            throw SiphonError(.sourceFatal, "pgoutput protocol: change for relation \(id) before its Relation message")
        }
        return relation.captured ? relation : nil
    }
}
