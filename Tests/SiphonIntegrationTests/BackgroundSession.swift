import Foundation
import SiphonTestSupport

/// A psql session left running in the background: an application
/// transaction held open, or a lock held while Siphon works, until `end()`.
///
/// It is found on the server by its `application_name`, so a test can wait
/// for it and end it with `pg_terminate_backend` (what ends the transaction
/// and releases its locks).
final class BackgroundSession {
    let server: PostgresServer
    let database: String
    let name: String
    private let process: SiphonProcess

    init(server: PostgresServer, database: String, name: String, sql: String) throws {
        self.server = server
        self.database = database
        self.name = name
        process = try SiphonProcess(
            executable: URL(fileURLWithPath: "/usr/lib/postgresql/15/bin/psql"),
            arguments: ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql,
                        "host=127.0.0.1 port=\(server.port) dbname=\(database) user=postgres password=postgres application_name=\(name)"])
    }

    var isRunning: Bool { process.isRunning }
    var stderrText: String { process.stderrText }

    /// Waits for the session to finish by itself; returns psql's exit status.
    func waitForExit(timeout: Duration) throws -> Int32 {
        try process.waitForExit(timeout: timeout)
    }

    /// Ends the session on the server (its open transaction rolls back, its locks go).
    func end() throws {
        try server.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '\(name)'")
        _ = try process.waitForExit(timeout: .seconds(30))
    }

    deinit {
        if process.isRunning { try? end() }
    }
}

extension PipelineHarness {
    /// Runs `statement` in the pipeline's database and returns psql's output.
    func sql(returning statement: String) throws -> String {
        try server.psql(statement, database: database)
    }

    /// Holds an ACCESS EXCLUSIVE lock on `table` (in a session of its own)
    /// until the returned session is ended; returns once the lock is held.
    func lockTable(_ table: String) throws -> BackgroundSession {
        let session = try BackgroundSession(
            server: server, database: database, name: "lock_\(name)",
            sql: "BEGIN; LOCK TABLE \(table) IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);")
        try eventually(timeout: .seconds(30), "the lock on \(table) is held") {
            try server.psql("""
                SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE a.application_name = 'lock_\(name)' AND l.mode = 'AccessExclusiveLock' AND l.granted
                """) == "1"
        }
        return session
    }

    /// Waits until one of Siphon's snapshot reads (`COPY`) waits for a lock.
    func waitForCopyBlockedByLock(process: SiphonProcess) throws {
        try eventually(timeout: .seconds(60), "Siphon's COPY to wait for a lock") {
            if !process.isRunning { throw TestSupportError("siphon exited:\n\(process.stderrText.suffix(3000))") }
            return try server.psql("""
                SELECT count(*) FROM pg_stat_activity
                WHERE datname = '\(database)' AND wait_event_type = 'Lock' AND query LIKE 'COPY%'
                """) == "1"
        }
    }

    /// Ends the walsender serving this pipeline's slot (a dropped replication connection).
    func terminateWalsender() throws {
        try eventually(timeout: .seconds(30), "the walsender of \(database) to end") {
            try server.psql("""
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE backend_type = 'walsender' AND datname = '\(database)'
                """)
            return try server.psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender' AND datname = '\(database)'") == "0"
        }
    }
}
