import CSQLite
import SiphonCore

/// An error from libsqlite3, with the operation it came from.
struct SQLiteError: Error, CustomStringConvertible {
    /// The primary result code (`SQLITE_BUSY`, `SQLITE_NOTADB`, ...).
    var code: Int32
    var message: String
    var context: String

    var description: String { "\(context): \(message)" }

    /// The writer or a checkpoint holds a lock: try again shortly.
    var isBusy: Bool { code == SQLITE_BUSY || code == SQLITE_LOCKED }

    /// What a person must do about it, as the pipeline reports it.
    func siphonError(path: String) -> SiphonError {
        switch code {
        case SQLITE_NOTADB:
            return SiphonError(.configuration, "source.path: " + DatabaseFileProblem.notSQLite(path))
        case SQLITE_READONLY, SQLITE_PERM:
            return SiphonError(.configuration, "source.path: " + DatabaseFileProblem.readOnly(path))
        case SQLITE_CANTOPEN:
            return SiphonError(.configuration, "source.path: cannot open \(path): \(message)")
        case SQLITE_CORRUPT:
            return SiphonError(.sourceFatal, "\(path) is damaged (\(message)); run `sqlite3 \(path) 'PRAGMA integrity_check'`")
        case SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR:
            return SiphonError(.sourceFatal, "\(path): \(description)", transient: true)
        default:
            return SiphonError(.sourceFatal, "\(path): \(description)")
        }
    }
}
