import CSQLite
import Foundation
import Logging
import SiphonCore
@testable import SQLiteSource
import SiphonTestSupport
import XCTest

/// The session remembers `PRAGMA schema_version` as of the transaction that synchronised the
/// triggers. Read after its COMMIT, it would already include DDL that another connection
/// committed in between, and the table that DDL created would never get triggers.
///
/// The gap is made real, not simulated: an SQLite auto-extension traces every connection the
/// test process opens, and when the session's connection starts its first statement after a
/// COMMIT (before that statement takes any lock), another connection creates a table.
final class SchemaVersionOrderingTests: XCTestCase {
    func testATableCreatedRightAfterTheTriggerSyncGetsTriggers() throws {
        let folder = try TemporaryDirectory(prefix: "siphon-schema-order")
        let path = folder.path + "/app.db"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        try SQLiteConnection(path: path).execute("PRAGMA journal_mode=WAL; CREATE TABLE first (id INTEGER PRIMARY KEY);")
        CommitIntruder.arm(database: path)
        sqlite3_auto_extension(CommitIntruder.entryPoint)
        defer {
            sqlite3_cancel_auto_extension(CommitIntruder.entryPoint)
            CommitIntruder.disarm()
        }

        let configuration = SQLiteSourceConfiguration(path: path, snapshot: .never, pollInterval: .milliseconds(20))
        let source = SQLiteSource(configuration: configuration, pipeline: "p", events: EventOptions(),
                                  state: try StateDirectory(path: folder.path + "/state"), logger: Logger(label: "test"))
        let queue = EventQueue(capacity: 64)
        let stopped = DispatchSemaphore(value: 0)
        let task = Task {
            defer { stopped.signal() }
            try await source.run(resumingAfter: nil, output: queue)
        }
        defer {
            task.cancel()
            queue.finish()
            XCTAssertEqual(stopped.wait(timeout: .now() + 30), .success, "the source stops when cancelled")
        }

        var lateTriggers: Int64 = 0
        let captured: Void? = try? eventually(timeout: .seconds(20), "triggers on the late table") {
            let check = try SQLiteConnection(path: path, readOnly: true)
            lateTriggers = try check.integer("SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'late'")
            return lateTriggers == 3
        }
        XCTAssertTrue(CommitIntruder.intruded, "the hook created the table between the session's COMMIT and what followed")
        XCTAssertNotNil(captured, "the table created just after the first sync has \(lateTriggers) capture triggers after 20 s")
    }
}

/// The auto-extension and trace callback, as C callbacks: they reach the test only through globals.
private enum CommitIntruder {
    nonisolated(unsafe) static var database: String?
    nonisolated(unsafe) static var intruded = false
    nonisolated(unsafe) static var intruding = false
    /// The connection that ran the first COMMIT: the session's.
    nonisolated(unsafe) static var committed: OpaquePointer?

    static func arm(database path: String) {
        database = path
        intruded = false
        committed = nil
    }

    static func disarm() {
        database = nil
    }

    /// `sqlite3_auto_extension` declares its argument as `void (*)(void)` and calls it with a
    /// connection; the real signature is the extension entry point's.
    static let entryPoint: @convention(c) () -> Void = unsafeBitCast(
        { (db: OpaquePointer?, _: OpaquePointer?, _: OpaquePointer?) -> Int32 in
            sqlite3_trace_v2(db, UInt32(SQLITE_TRACE_STMT), CommitIntruder.trace, nil)
            return SQLITE_OK
        } as @convention(c) (OpaquePointer?, OpaquePointer?, OpaquePointer?) -> Int32,
        to: (@convention(c) () -> Void).self)

    /// Called as each statement starts running (`X` is its SQL): after the first COMMIT, the
    /// next statement's start creates a table from a connection of its own.
    static let trace: @convention(c) (UInt32, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32 = { _, _, statement, sql in
        guard let database = CommitIntruder.database, !CommitIntruder.intruded, !CommitIntruder.intruding,
              let statement, let sql else { return 0 }
        let connection = sqlite3_db_handle(OpaquePointer(statement))
        guard let committed = CommitIntruder.committed else {
            let text = String(cString: sql.assumingMemoryBound(to: CChar.self))
            if text.trimmingCharacters(in: .whitespacesAndNewlines).uppercased() == "COMMIT" {
                CommitIntruder.committed = connection
            }
            return 0
        }
        guard connection == committed else { return 0 }
        CommitIntruder.intruding = true
        defer { CommitIntruder.intruding = false }
        var other: OpaquePointer?
        if sqlite3_open_v2(database, &other, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK,
           sqlite3_exec(other, "CREATE TABLE late (id INTEGER PRIMARY KEY)", nil, nil, nil) == SQLITE_OK {
            CommitIntruder.intruded = true
        }
        sqlite3_close_v2(other)
        return 0
    }
}
