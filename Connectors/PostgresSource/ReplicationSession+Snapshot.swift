import Foundation
import SiphonCore

/// `snapshot.json`: which slot an initial snapshot belongs to and how far it got.
struct SnapshotState: Sendable {
    static let fileName = "snapshot.json"
    var slot: String
    var consistentPoint: LSN
    var complete: Bool
    var lastPosition: Position?

    static func load(_ directory: StateDirectory) throws -> SnapshotState? {
        guard let bytes = try directory.read(fileName) else { return nil }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let slot = object["slot"] as? String,
              let point = (object["consistent_point"] as? String).flatMap({ LSN($0) })
        else {
            throw SiphonError(.state, "\(directory.url(fileName)) is damaged; delete it and the slot to take the snapshot again")
        }
        return SnapshotState(slot: slot, consistentPoint: point, complete: object["complete"] as? Bool ?? false,
                             lastPosition: (object["last_position"] as? String).flatMap { Position($0) })
    }

    func save(_ directory: StateDirectory) throws {
        var json = JSONBuffer(capacity: 160)
        json.appendRaw("{\"slot\":")
        json.appendString(slot)
        json.appendRaw(",\"consistent_point\":")
        json.appendString(consistentPoint.description)
        json.appendRaw(",\"complete\":")
        json.appendBool(complete)
        json.appendRaw(",\"last_position\":")
        if let lastPosition { json.appendString(lastPosition.description) } else { json.appendNull() }
        json.appendRaw("}\n")
        try directory.write(Self.fileName, json.bytes)
    }

    /// Whether the sink durably holds every event of this snapshot.
    func isDelivered(resume: Position?) -> Bool {
        guard complete else { return false }
        guard let lastPosition else { return true }
        return resume.map { $0 >= lastPosition } ?? false
    }

    /// Whether `other` is this snapshot, complete (same slot, same consistent point).
    func isCompleteAndSame(as other: SnapshotState) -> Bool {
        complete && other.complete && slot == other.slot && consistentPoint == other.consistentPoint
    }
}

extension ReplicationSession {
    /// Makes sure the slot exists, taking the initial snapshot when it is
    /// created (and again when an earlier snapshot never reached the sink).
    ///
    /// Whether a snapshot reached the sink is judged by the acknowledged
    /// position, which lags what was handed to the pipeline: a connection
    /// lost just after the snapshot would have it taken again, and the
    /// changes made meanwhile would come as snapshot rows. A snapshot this
    /// run of the source handed over whole is as good as delivered while the
    /// run lasts (the pipeline loses nothing it was given; when its sink
    /// fails, the run ends), so its slot is kept and streamed from.
    func prepareSlot(catalog: Catalog, replication: PostgresConnection, captured: [Catalog.Table],
                     resume: Position?, decoder: inout ChangeDecoder, output: EventQueue) async throws {
        let slotName = configuration.slot
        let snapshotState = try SnapshotState.load(state)
        let existing = try await catalog.slot(slotName)
        if let existing {
            guard existing.plugin == "pgoutput" else {
                throw SiphonError(.sourceSetup, "replication slot \(slotName) uses plugin \(existing.plugin), not pgoutput: choose another source.slot or drop it (SELECT pg_drop_replication_slot('\(slotName)'))")
            }
            guard existing.database == decoder.database else {
                throw SiphonError(.sourceSetup, "replication slot \(slotName) belongs to database \(existing.database), not \(decoder.database): choose another source.slot")
            }
        }
        var wantSnapshot = false
        if configuration.snapshot == .initial {
            if let snapshotState {
                let handedOver = existing != nil && snapshotHandedOver?.isCompleteAndSame(as: snapshotState) == true
                wantSnapshot = !snapshotState.isDelivered(resume: resume) && !handedOver
            } else {
                wantSnapshot = resume == nil
            }
        }
        if wantSnapshot, let existing {
            guard snapshotState?.slot == slotName else {
                throw SiphonError(.sourceSetup, "replication slot \(slotName) already exists, so Siphon cannot take a snapshot consistent with it: drop it (SELECT pg_drop_replication_slot('\(slotName)')) or set source.snapshot: never")
            }
            if existing.active {
                throw SiphonError(.sourceSetup, "replication slot \(slotName) is still in use by another connection", transient: true)
            }
            logger.warning("the previous snapshot did not reach the sink; taking it again with a new slot", metadata: ["slot": .string(slotName)])
            try await replication.query(try ReplicationCommand.dropSlot(slotName))
        }
        if wantSnapshot {
            // What was emitted before is in the sink, or on its way there.
            try decoder.history.forget(after: decoder.lastPosition)
            let rows = try await replication.query(try ReplicationCommand.createSlot(slotName, exportSnapshot: true))
            guard let row = rows.first, row.count >= 3, let point = row[1].flatMap({ LSN($0) }), let snapshotName = row[2] else {
                throw SiphonError(.sourceFatal, "unexpected answer to CREATE_REPLICATION_SLOT")
            }
            logger.info("created replication slot; taking the initial snapshot", metadata: [
                "slot": .string(slotName), "consistent_point": .string(point.description),
            ])
            var progress = SnapshotState(slot: slotName, consistentPoint: point, complete: false, lastPosition: nil)
            try progress.save(state)
            // Bulk work runs on the shared pool, so the rows are decoded while
            // the sink writes the batches before them (see `offPipelineThread`).
            let rowsRead = try await offPipelineThread {
                try await takeSnapshot(catalog: catalog, snapshotName: snapshotName, consistentPoint: point,
                                       tables: captured, decoder: &decoder, output: output)
            }
            progress.complete = true
            progress.lastPosition = decoder.lastPosition
            try progress.save(state)
            snapshotHandedOver = progress
            logger.info("initial snapshot read", metadata: ["rows": .stringConvertible(rowsRead), "tables": .stringConvertible(captured.count)])
        } else if existing == nil {
            if resume != nil {
                throw SiphonError(.sourceFatal, "replication slot \(slotName) is gone although this pipeline has a checkpoint: changes since then are lost to it. To start over, delete the state folder (and the sink's output) and run again")
            }
            try await replication.query(try ReplicationCommand.createSlot(slotName, exportSnapshot: false))
            logger.info("created replication slot", metadata: ["slot": .string(slotName)])
        }
    }

    /// Reads every captured table inside the exported snapshot and emits
    /// `r` events at positions just below the slot's consistent point, so
    /// they sort before every streamed change. Returns the rows read.
    private func takeSnapshot(catalog: Catalog, snapshotName: String, consistentPoint: LSN, tables: [Catalog.Table],
                              decoder: inout ChangeDecoder, output: EventQueue) async throws -> Int {
        let side = catalog.connection
        try await side.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        do {
            try await side.query("SET TRANSACTION SNAPSHOT \(try side.literal(snapshotName))")
        } catch let error as PostgresError where error.sqlState == "22023" {
            // An exported snapshot lives only as long as its replication
            // connection does nothing else: a connection lost in between is a
            // blip like any other, and the next session takes the snapshot again.
            throw SiphonError(.sourceSetup, "the slot's exported snapshot is gone (its replication connection ended before the snapshot was read): \(error.message)", transient: true)
        }
        let high = consistentPoint.rawValue - 1
        var index: UInt64 = 0
        var rowsRead = 0
        var line: [UInt8] = []  // the CopyData message, its storage reused for every row
        let ordered = tables.sorted(by: { $0.name.description < $1.name.description })
        for (tableIndex, captured) in ordered.enumerated() {
            let table = captured.name
            let (firstTable, lastTable) = (tableIndex == 0, tableIndex == ordered.count - 1)
            decoder.nowMicros = Clock.unixMicros()
            var columns = try await catalog.columns(of: table, types: decoder.types)
            try await catalog.resolveTypes(columns.map(\.typeOID), into: &decoder.types)
            for position in columns.indices {
                columns[position].typeName = decoder.types.typeName(of: columns[position].typeOID) ?? columns[position].typeName
            }
            // The `source` object of every event of this table, around its snapshot marker.
            let source = SnapshotSource(table: table, pipeline: pipeline, database: decoder.database,
                                        consistentPoint: consistentPoint, readMicros: decoder.nowMicros)
            let before = batch.count
            let version = try decoder.noteSchema(table, columns: columns, into: &batch, snapshot: .init(
                position: Position(high: high, low: index),
                source: source.beforeMarker + Array(SnapshotMarker.row.rawValue.utf8) + source.afterMarker,
                sourceMillis: source.millis))
            if batch.count > before {
                index += 1
                batch.markTransactionEnd()  // a snapshot's events stand alone
            }
            let relation = RelationInfo(id: 0, table: table, columns: columns, types: decoder.types, schemaVersion: version,
                                        captured: true, pipeline: pipeline, database: decoder.database,
                                        valueOptions: decoder.valueOptions)
            let columnList = try columns.map { try side.identifier($0.name) }.joined(separator: ", ")
            // Binary COPY spares the server the text conversion of every value
            // (as pgoutput's binary mode does) and needs no unescaping; text
            // when binary values are off or a column's type has no decoder.
            let format: ChangeDecoder.CopyFormat = binaryAllowed && relation.decodesBinary ? .binary : .text
            // A partitioned table has no rows of its own to COPY: a query reads its partitions'.
            let rows = captured.isPartitioned ? "(SELECT \(columnList) FROM \(try catalog.qualifiedName(table)))"
                : "\(try catalog.qualifiedName(table)) (\(columnList))"
            // Progress for /status and /metrics: the planner's estimate of the
            // rows (no count(*), which would read the table twice), exact at the end.
            let estimate = try await estimatedRows(of: table, catalog: catalog)
            var tableRows: Int64 = 0
            self.source.activity.snapshot(table: table.description, rowsDone: 0, rowsTotal: estimate)
            try await side.startCopy("COPY \(rows) TO STDOUT" + (format == .binary ? " (FORMAT binary)" : ""))
            logger.debug("reading table", metadata: [
                "table": .string(table.description), "values": .string(format == .binary ? "binary" : "text"),
            ])
            var headerRead = false
            /// The table's latest row: its marker (relative to its line) can
            /// still change once the next row, or the end, shows whether it was
            /// the table's last. It stays the batch's last event meanwhile.
            var latest: (marker: Range<Int>, firstInTable: Bool)?
            copying: while true {
                switch try side.readCopyData(into: &line) {
                case .data:
                    var row = line[...]
                    switch format {
                    case .text:
                        if row.last == UInt8(ascii: "\n") { row.removeLast() }
                    case .binary:
                        if !headerRead {
                            row = try CopyBinaryParser.skipHeader(row)
                            headerRead = true
                        }
                        if CopyBinaryParser.isEnd(row) { continue copying }  // the copy is done next
                    }
                    let firstInTable = latest == nil
                    // Debezium's precedence: last of the snapshot, first of the snapshot, last of a table, first of one.
                    let marker: SnapshotMarker = firstInTable ? (firstTable ? .first : .firstInTable) : .row
                    let range = try decoder.snapshotRow(row, format: format, relation: relation,
                                                        position: Position(high: high, low: index), source: source,
                                                        marker: marker, into: &batch)
                    batch.markTransactionEnd()
                    let lineStart = batch.events[batch.count - 1].line.lowerBound
                    latest = ((range.lowerBound - lineStart)..<(range.upperBound - lineStart), firstInTable)
                    index += 1
                    rowsRead += 1
                    tableRows += 1
                    if tableRows % 4096 == 0 {
                        self.source.activity.snapshot(table: table.description, rowsDone: tableRows, rowsTotal: estimate)
                    }
                    if batch.count >= Self.batchEvents || batch.byteCount >= Self.batchBytes {
                        try await sendSnapshotBatch(output, holdingLatest: true)
                    }
                case .wouldBlock:
                    try await sendSnapshotBatch(output, holdingLatest: latest != nil)
                    await side.waitForData(timeout: .milliseconds(100))
                    try Task.checkCancellation()
                case .done:
                    break copying
                }
            }
            self.source.activity.snapshot(table: table.description, rowsDone: tableRows, rowsTotal: nil, done: true)
            if let latest {
                // The table's last row.
                let final: SnapshotMarker = lastTable ? .last
                    : (latest.firstInTable && firstTable ? .first : .lastInTable)
                let lineStart = batch.events[batch.count - 1].line.lowerBound
                batch.changeSnapshotMarkerOfLastEvent(
                    to: final, sourceMarker: (latest.marker.lowerBound + lineStart)..<(latest.marker.upperBound + lineStart))
            }
        }
        try await side.query("COMMIT")
        try await sendSnapshotBatch(output, holdingLatest: false)
        return rowsRead
    }

    /// `pg_class.reltuples` (nil when the table was never vacuumed or analyzed).
    private func estimatedRows(of table: TableName, catalog: Catalog) async throws -> Int64? {
        let rows = try await catalog.connection.query(
            "SELECT CASE WHEN reltuples < 0 THEN NULL ELSE reltuples::bigint END FROM pg_class WHERE oid = $1::regclass",
            parameters: [try catalog.qualifiedName(table)])
        return (rows.first?.first ?? nil).flatMap { Int64($0) }
    }

    /// Hands the batch over; `holdingLatest` keeps its last event (a row
    /// whose snapshot marker may still change) back, in the next batch.
    private func sendSnapshotBatch(_ output: EventQueue, holdingLatest: Bool) async throws {
        guard !batch.isEmpty else { return }
        var full = batch
        let held = holdingLatest ? full.removeLastEvent() : nil
        guard !full.isEmpty else { return }
        // An interrupted snapshot is taken again from the start (see
        // `prepareSlot`): a checkpoint in its middle could not be resumed
        // from, so the pipeline skips the fsyncs it would cost.
        full.resumable = false
        // Full size at once: a snapshot fills every batch (a row may overshoot batchBytes a little).
        batch = EventBatch(capacity: Self.batchBytes + 256 * 1024, events: Self.batchEvents)
        if let held { batch.append(held) }
        try await output.send(full)
    }
}
