import CSQLite

/// A prepared statement; values bound by index from 1.
final class TargetStatement {
    private let handle: OpaquePointer
    private unowned let database: TargetDatabase

    init(_ handle: OpaquePointer, database: TargetDatabase) {
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
