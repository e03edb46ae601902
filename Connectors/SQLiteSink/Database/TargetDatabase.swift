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

/// A prepared statement; values bound by index from 1.
final class TargetStatement {
    private let handle: OpaquePointer
    private unowned let database: TargetDatabase

    fileprivate init(_ handle: OpaquePointer, database: TargetDatabase) {
        self.handle = handle
        self.database = database
    }

    deinit { sqlite3_finalize(handle) }

    /// Steps once: true when a row is ready.
    func step(doing: String) throws -> Bool {
        let status = sqlite3_step(handle)
        if status == SQLITE_ROW { return true }
        if status == SQLITE_DONE { return false }
        let error = database.failure(status, doing: doing)
        sqlite3_reset(handle)
        throw error
    }

    /// Runs to the end and resets, keeping the statement for the next values.
    func run(doing: String) throws {
        defer { reset() }
        while try step(doing: doing) {}
    }

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func bind(_ index: Int32, _ value: TargetValue) {
        switch value {
        case .null: sqlite3_bind_null(handle, index)
        case .integer(let number): sqlite3_bind_int64(handle, index, number)
        case .real(let number): sqlite3_bind_double(handle, index, number)
        case .text(let text): sqlite3_bind_text(handle, index, text, -1, siphon_sqlite_transient())
        case .blob(let bytes):
            bytes.withUnsafeBytes { raw in
                _ = sqlite3_bind_blob(handle, index, raw.baseAddress, Int32(raw.count), siphon_sqlite_transient())
            }
        }
    }

    func text(_ column: Int32) -> String? {
        guard sqlite3_column_type(handle, column) != SQLITE_NULL, let text = sqlite3_column_text(handle, column) else { return nil }
        return String(cString: text)
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }
}

/// A value as SQLite stores it.
enum TargetValue: Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}
