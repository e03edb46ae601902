import Glibc
import Logging
import SiphonCore

/// `siphon sqlite uninstall` and `siphon sqlite exec`: work on a captured
/// database outside a running pipeline.
extension SQLiteSource {
    /// Removes every trigger and table Siphon added to the database
    /// (`siphon sqlite uninstall`); returns how many triggers were dropped.
    /// The application's own tables and rows are untouched.
    public static func uninstall(configuration: SQLiteSourceConfiguration, pipeline: String) throws -> Int {
        try withInstaller(configuration, pipeline: pipeline) { try $0.uninstall() }
    }

    /// `siphon offsets reset`: the next start captures every table afresh,
    /// with positions after the old ones (`CaptureInstaller.resetKeepingPositions`).
    static func resetKeepingPositions(configuration: SQLiteSourceConfiguration, pipeline: String) throws -> Int {
        try withInstaller(configuration, pipeline: pipeline) { try $0.resetKeepingPositions() }
    }

    /// Runs `work` with an installer on the database, waiting out the
    /// application's locks for up to about 10 s.
    private static func withInstaller<T>(_ configuration: SQLiteSourceConfiguration, pipeline: String,
                                         _ work: (CaptureInstaller) throws -> T) throws -> T {
        let connection: SQLiteConnection
        do {
            connection = try SQLiteConnection(path: configuration.path)
        } catch let error as SQLiteError {
            throw error.siphonError(path: configuration.path)
        }
        let installer = CaptureInstaller(connection: connection, patterns: TablePatterns(configuration.tables),
                                         pipeline: pipeline, logger: .init(label: "siphon.sqlite.maintenance"))
        var attempts = 0
        while true {
            do {
                return try work(installer)
            } catch let error as SQLiteError where error.isBusy && attempts < 1000 {
                attempts += 1
                pause(milliseconds: 10)
            } catch let error as SQLiteError {
                throw error.siphonError(path: configuration.path)
            }
        }
    }
}

extension SQLiteSource {
    /// Runs `sql` (a migration) in one write transaction together with the
    /// trigger rebuild it needs (`siphon sqlite exec`).
    ///
    /// SQLite refuses `ALTER TABLE ... DROP COLUMN` on a column that a
    /// trigger names, and Siphon's triggers name every column. Here the
    /// statement runs with `legacy_alter_table=ON`, which lets SQLite drop
    /// the column and leave the trigger stale, and the triggers are rebuilt
    /// (with the schema change recorded in the changelog) before COMMIT, so
    /// no write of the application ever meets a stale trigger and no change
    /// is missed. Returns the number of schema changes recorded.
    public static func execute(sql: String, configuration: SQLiteSourceConfiguration, pipeline: String,
                               logger: Logger) throws -> Int {
        let connection = try open(configuration, logger: logger)
        let installer = CaptureInstaller(connection: connection, patterns: TablePatterns(configuration.tables),
                                         pipeline: pipeline, logger: logger)
        var attempts = 0
        while true {
            do {
                try connection.execute("PRAGMA legacy_alter_table=ON")
                try connection.execute("BEGIN IMMEDIATE")
                try connection.execute(sql)
                let result = try installer.sync(resumeAfter: 0)
                try connection.execute("COMMIT")
                return result.schemaChanges
            } catch let error as SQLiteError where error.isBusy && attempts < 1000 {
                connection.rollbackQuietly()
                attempts += 1
                pause(milliseconds: 10)
            } catch let error as SQLiteError {
                connection.rollbackQuietly()
                throw SiphonError(.sourceFatal, "the statement failed and nothing was changed: \(error.message)")
            } catch {
                connection.rollbackQuietly()
                throw error
            }
        }
    }
}

private func pause(milliseconds: Int) {
    var request = timespec(tv_sec: 0, tv_nsec: milliseconds * 1_000_000)
    nanosleep(&request, nil)
}
