import Logging
import SiphonCore

extension CaptureSession {
    /// Reads the tables waiting for a snapshot in one read transaction,
    /// together with the changelog's end `s`: first the changes up to `s`,
    /// then each table's rows at positions `(s, 2...)`, marked as Debezium
    /// marks them (`SnapshotMarking`).
    func snapshotIfNeeded(output: EventQueue) async throws {
        guard snapshots.inFlight == nil, !snapshots.pending.isEmpty else { return }
        let tables = snapshots.pending.sorted()
        try connection.execute("BEGIN")
        var marking = SnapshotMarking()
        var end: Int64 = 0
        do {
            end = try connection.integer("SELECT coalesce(max(seq), 0) FROM \(CaptureInstaller.changelog)")
            try await readAvailable(output: output, through: end)
            let existing = Set(try installer.userTables())
            var batch = EventBatch(capacity: 256 * 1024)
            var now = Clock.unixMicros()
            /// Where the batch's last event has its marker: whether that row
            /// ends its table, or the snapshot, is settled by the next read.
            var latestMarker: Range<Int>?
            for table in tables where existing.contains(table) {
                guard let schema = renderer.registry.latest(table), !schema.columns.isEmpty else { continue }
                let rows = try connection.prepare(CaptureInstaller.snapshotSQL(schema))
                // No estimate of the total: a count(*) would read the table twice.
                let rowsBefore = marking.rows
                source.activity.snapshot(table: "main." + table, rowsDone: 0, rowsTotal: nil)
                var more = try rows.step()
                while more {
                    let marker = marking.nextRow()
                    latestMarker = renderer.appendSnapshotRow(
                        rows, schema: schema, position: SQLitePosition.snapshotRow(at: end, index: UInt64(marking.rows)),
                        seq: end, now: now, snapshot: marker, to: &batch)
                    batch.markTransactionEnd()  // a snapshot's rows stand alone
                    more = try rows.step()
                    // Handed over only when another row follows, so that a
                    // batch never leaves with a row whose marker may change.
                    if more, batch.count >= configuration.batchSize || batch.byteCount >= Self.batchBytes {
                        source.activity.snapshot(table: "main." + table, rowsDone: Int64(marking.rows - rowsBefore), rowsTotal: nil)
                        try await output.send(batch)
                        batch = EventBatch(capacity: 256 * 1024)
                        latestMarker = nil
                        now = Clock.unixMicros()
                    }
                }
                source.activity.snapshot(table: "main." + table, rowsDone: Int64(marking.rows - rowsBefore), rowsTotal: nil, done: true)
                if let marker = marking.tableEnded(), let range = latestMarker {
                    latestMarker = batch.changeSnapshotMarkerOfLastEvent(to: marker, sourceMarker: range)
                }
                // Full at a table's end (many small tables): everything but the
                // last row, which the next table (or the end) settles, leaves.
                if batch.count > 1, batch.count >= configuration.batchSize || batch.byteCount >= Self.batchBytes,
                   let range = latestMarker {
                    let lineStart = batch.events[batch.count - 1].line.lowerBound
                    let held = batch.removeLastEvent()
                    try await output.send(batch)
                    batch = EventBatch(capacity: 256 * 1024)
                    batch.append(held)
                    latestMarker = (range.lowerBound - lineStart)..<(range.upperBound - lineStart)
                    now = Clock.unixMicros()
                }
                logger.info("snapshot of \(table) read", metadata: ["at_seq": "\(end)"])
            }
            if let marker = marking.snapshotEnded(), let range = latestMarker {
                batch.changeSnapshotMarkerOfLastEvent(to: marker, sourceMarker: range)
            }
            if !batch.isEmpty { try await output.send(batch) }
            try connection.execute("COMMIT")
        } catch {
            connection.rollbackQuietly()
            throw error
        }
        let last = marking.rows == 0 ? Position(high: UInt64(end), low: 0) : SQLitePosition.snapshotRow(at: end, index: UInt64(marking.rows))
        snapshots.inFlight = SnapshotPlan.InFlight(tables: tables, last: last)
        try snapshots.save(state)
        try checkSnapshotDelivered()
    }

    /// Once the sink holds a snapshot's last event, its tables are done.
    func checkSnapshotDelivered() throws {
        guard let inFlight = snapshots.inFlight else { return }
        let delivered = inFlight.last.low == 0 || (source.acknowledgedPosition().map { $0 >= inFlight.last } ?? false)
        guard delivered else { return }
        snapshots.pending.subtract(inFlight.tables)
        snapshots.inFlight = nil
        try snapshots.save(state)
    }
}
