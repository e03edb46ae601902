import CSQLite
import Foundation
import SiphonCore

/// One libsqlite3 connection to the target file. Not thread-safe: owned by
/// one task at a time. Every failure is a `SiphonError` naming the file
/// and what the sink was doing.
final class TargetDatabase {
    let path: String
    private var handle: OpaquePointer?

    /// Opens the file, creating it when `create` allows.
    init(path: String, create: Bool) throws {
        self.path = path
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &handle, flags, nil)
        self.handle = handle
        if status != SQLITE_OK {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(handle)
            self.handle = nil
            throw Self.error(code: status, message: message, path: path, doing: "opening the file")
        }
        // A reader of the target (the application) may hold the lock for a moment.
        sqlite3_busy_timeout(handle, 5_000)
    }

    deinit { sqlite3_close_v2(handle) }

    func close() {
        sqlite3_close_v2(handle)
        handle = nil
    }

    /// Runs one statement without parameters.
    func execute(_ sql: String, doing: String) throws {
        let statement = try prepare(sql, doing: doing)
        try statement.run(doing: doing)
    }

    func prepare(_ sql: String, doing: String) throws -> TargetStatement {
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else { throw failure(status, doing: doing) }
        return TargetStatement(statement, database: self)
    }

    var isAutocommit: Bool { sqlite3_get_autocommit(handle) != 0 }

    func failure(_ status: Int32, doing: String) -> SiphonError {
        Self.error(code: status, message: String(cString: sqlite3_errmsg(handle)), path: path, doing: doing)
    }

    /// Transient: the file is locked by another writer, or the disk is full;
    /// permanent otherwise, with what to fix.
    static func error(code: Int32, message: String, path: String, doing: String) -> SiphonError {
        let primary = code & 0xFF
        let what = "SQLite target \(path) failed while \(doing): \(message)"
        switch primary {
        case SQLITE_BUSY, SQLITE_LOCKED:
            return SiphonError(.sink, "\(what) (another connection holds the lock); retrying", transient: true)
        case SQLITE_FULL, SQLITE_IOERR:
            return SiphonError(.sink, "\(what): free disk space; retrying", transient: true)
        case SQLITE_READONLY, SQLITE_PERM, SQLITE_CANTOPEN, SQLITE_AUTH:
            return SiphonError(.sink, "\(what): make the file and its folder writable by siphon, or choose another sink.path")
        case SQLITE_NOTADB, SQLITE_CORRUPT:
            return SiphonError(.sink, "\(what): sink.path is not an SQLite database; choose another path")
        default:
            return SiphonError(.sink, what)
        }
    }
}
