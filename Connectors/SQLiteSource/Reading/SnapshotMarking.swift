import SiphonCore

/// Debezium's `source.snapshot` for the rows of one snapshot, decided as
/// they are read.
///
/// Debezium's rule, in order: the last row of the last table is `last`;
/// the first row of the first table `first`; the last row of any other
/// table `last_in_data_collection`; its first row
/// `first_in_data_collection`; every other row `true`. So a table of one
/// row is `first` when it comes first, `last` when it comes last (also when
/// it is the only one), and `last_in_data_collection` in between.
///
/// Tables are counted by the rows read, not as listed: an empty table has
/// no row to mark and does not count, so the snapshot's first row is always
/// `first` and its last row `last` (Debezium, which counts the tables it
/// lists, writes neither when the first or last table is empty).
///
/// A row's place at the end of its table is known only once the next read
/// finds no more rows: `nextRow` gives the marker to write now, and
/// `tableEnded` and `snapshotEnded` the marker the latest row takes then
/// (`EventBatch.changeSnapshotMarkerOfLastEvent`).
struct SnapshotMarking {
    /// Rows read in this snapshot.
    private(set) var rows = 0
    /// Rows read of the current table.
    private var rowsInTable = 0

    /// The marker of the row about to be written, as far as it is known.
    mutating func nextRow() -> SnapshotMarker {
        defer {
            rows += 1
            rowsInTable += 1
        }
        if rows == 0 { return .first }
        return rowsInTable == 0 ? .firstInTable : .row
    }

    /// The current table has no more rows: the marker its last row takes,
    /// or nil when it keeps its own (a table of one row that opened the
    /// snapshot stays `first`) or the table had none.
    mutating func tableEnded() -> SnapshotMarker? {
        defer { rowsInTable = 0 }
        guard rowsInTable > 0, rows > 1 else { return nil }
        return .lastInTable
    }

    /// The snapshot has no more rows: the marker of its last row, if any.
    func snapshotEnded() -> SnapshotMarker? {
        rows > 0 ? .last : nil
    }
}
