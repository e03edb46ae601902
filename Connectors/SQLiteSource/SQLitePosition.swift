import SiphonCore

/// How the SQLite source fills a `Position`.
///
/// - Change: `high` = its changelog sequence, `low` = 0.
/// - Snapshot row: `high` = the changelog's last sequence when the snapshot
///   was read, `low` = the row's index in the snapshot (from 1), so the rows
///   sort after every change they include and before every later one.
public enum SQLitePosition {
    public static func describe(_ position: Position) -> String {
        position.low == 0 ? "changelog seq \(position.high)" : "snapshot at changelog seq \(position.high), row \(position.low)"
    }
}
