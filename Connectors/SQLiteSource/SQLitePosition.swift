import SiphonCore

/// How the SQLite source fills a `Position`.
///
/// - Change: `high` = its changelog sequence, `low` = 0.
/// - An update that changes the row's key is two events, as Debezium writes
///   it: the delete of the old key at `low` 0, the insert of the new row at
///   `low` 1.
/// - Snapshot row: `high` = the changelog's last sequence when the snapshot
///   was read, `low` = the row's index in the snapshot plus 1 (2, 3, ...),
///   so the rows sort after every change they include (the last of which
///   may be a key change, using `low` 0 and 1) and before every later one.
public enum SQLitePosition {
    /// `low` of the insert half of a key change.
    static let newKeyLow: UInt64 = 1

    /// The position of snapshot row `index` (from 1).
    static func snapshotRow(at seq: Int64, index: UInt64) -> Position {
        Position(high: UInt64(bitPattern: seq), low: index + 1)
    }

    /// The highest changelog sequence whose events all come at or before
    /// `position`: the one before it when `position` is a change (`low` 0),
    /// which may be the first half of a key change whose second half is yet
    /// to come. Reading resumes after it, and cleanup deletes up to it.
    static func complete(through position: Position) -> Int64 {
        let seq = Int64(bitPattern: position.high)
        return position.low == 0 ? seq - 1 : seq
    }

    public static func describe(_ position: Position) -> String {
        switch position.low {
        case 0: "changelog seq \(position.high)"
        case newKeyLow: "changelog seq \(position.high), the new row of a key change"
        default: "snapshot at changelog seq \(position.high), row \(position.low - 1)"
        }
    }
}
