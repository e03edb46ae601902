import Foundation
import Logging
import SiphonCore
@testable import SQLiteSource
import SiphonTestSupport
import XCTest

/// The installer against a real database file.
final class CaptureInstallerTests: XCTestCase {
    private func makeDatabase(_ sql: String) throws -> (TemporaryDirectory, SQLiteConnection) {
        let folder = try TemporaryDirectory(prefix: "siphon-installer")
        let path = folder.path + "/app.db"
        FileManager.default.createFile(atPath: path, contents: nil)
        let connection = try SQLiteConnection(path: path)
        try connection.execute("PRAGMA journal_mode=WAL; " + sql)
        return (folder, connection)
    }

    private func sync(_ installer: CaptureInstaller) throws -> CaptureInstaller.SyncResult {
        try installer.connection.execute("BEGIN IMMEDIATE")
        let result = try installer.sync(resumeAfter: 0)
        try installer.connection.execute("COMMIT")
        return result
    }

    func testSyncIsIdempotentAndVersionsChangesOnly() throws {
        let (folder, connection) = try makeDatabase("CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE skip_me (x);")
        _ = folder
        let installer = CaptureInstaller(connection: connection, patterns: TablePatterns(["a", "b*"]), pipeline: "p",
                                         logger: Logger(label: "test"))
        XCTAssertEqual(try sync(installer).created, ["a"])
        let triggers = try installer.installedTriggers()
        XCTAssertEqual(Set(triggers.keys), ["_siphon_a_c", "_siphon_a_u", "_siphon_a_d"])
        let again = try sync(installer)
        XCTAssertEqual(again.schemaChanges, 0)
        XCTAssertTrue(again.repaired.isEmpty)
        XCTAssertEqual(try installer.installedTriggers(), triggers, "an unchanged table keeps its triggers")

        try connection.execute("ALTER TABLE a ADD COLUMN w INT; CREATE TABLE b1 (k TEXT PRIMARY KEY) WITHOUT ROWID;")
        let changed = try sync(installer)
        XCTAssertEqual(changed.schemaChanges, 2)
        XCTAssertEqual(changed.created, ["b1"])
        XCTAssertEqual(try installer.latestVersions()["a"]?.schema.version, 2)
        XCTAssertEqual(try installer.latestVersions()["b1"]?.schema.keyedByRowid, false)
        XCTAssertEqual(try installer.changelogWidth(), 6, "room for the old and new values of a's three columns")

        // A table rebuilt behind Siphon's back loses its triggers: they come back, flagged.
        try connection.execute("DROP TRIGGER _siphon_a_c; DROP TRIGGER _siphon_a_u; DROP TRIGGER _siphon_a_d;")
        XCTAssertEqual(try sync(installer).repaired, ["a"])

        // Another pipeline may not take the same database over.
        let other = CaptureInstaller(connection: connection, patterns: TablePatterns(["*"]), pipeline: "q", logger: Logger(label: "test"))
        try connection.execute("BEGIN IMMEDIATE")
        XCTAssertThrowsError(try other.sync(resumeAfter: 0)) { error in
            XCTAssertTrue("\(error)".contains("already captured by pipeline 'p'"), "\(error)")
        }
        connection.rollbackQuietly()
    }

    func testChangelogNeverCountsBackwards() throws {
        let (folder, connection) = try makeDatabase("CREATE TABLE a (id INTEGER PRIMARY KEY);")
        _ = folder
        let installer = CaptureInstaller(connection: connection, patterns: TablePatterns(["*"]), pipeline: "p", logger: Logger(label: "test"))
        try connection.execute("BEGIN IMMEDIATE")
        _ = try installer.sync(resumeAfter: 500)
        try connection.execute("COMMIT")
        try connection.execute("INSERT INTO a VALUES (1)")
        XCTAssertEqual(try connection.integer("SELECT max(seq) FROM _siphon_changelog WHERE op = 'c'"), 502,
                       "a new changelog continues after the pipeline's position (origin 500, schema 501)")
    }

    func testATableWhoseColumnsHideEveryRowidAliasIsRefused() throws {
        let (folder, connection) = try makeDatabase("CREATE TABLE hidden (rowid TEXT, _rowid_ TEXT, oid TEXT); CREATE TABLE fine (id INTEGER PRIMARY KEY, rowid TEXT);")
        _ = folder
        let installer = CaptureInstaller(connection: connection, patterns: TablePatterns(["*"]), pipeline: "p", logger: Logger(label: "test"))
        try connection.execute("BEGIN IMMEDIATE")
        XCTAssertThrowsError(try installer.sync(resumeAfter: 0)) { error in
            XCTAssertEqual((error as? SiphonError)?.code, .configuration, "\(error)")
            XCTAssertEqual((error as? SiphonError)?.message, "source.tables: table hidden has no primary key, and its columns rowid, _rowid_ and oid hide all three names of SQLite's rowid, so Siphon cannot tell its rows apart; give it a PRIMARY KEY, rename one of those columns, or leave it out of source.tables")
        }
        connection.rollbackQuietly()

        // With a primary key, a column named rowid is just a column.
        let keyed = CaptureInstaller(connection: connection, patterns: TablePatterns(["fine"]), pipeline: "p", logger: Logger(label: "test"))
        XCTAssertEqual(try sync(keyed).created, ["fine"])
    }

    func testTriggersAndSnapshotsReadTheRowidThroughAnUnshadowedAlias() throws {
        let (folder, connection) = try makeDatabase("""
            CREATE TABLE plain (v TEXT);
            CREATE TABLE one (RowID TEXT, v TEXT);
            CREATE TABLE two (rowid TEXT, _ROWID_ TEXT);
            """)
        _ = folder
        let installer = CaptureInstaller(connection: connection, patterns: TablePatterns(["*"]), pipeline: "p", logger: Logger(label: "test"))
        _ = try sync(installer)
        let triggers = try installer.installedTriggers()
        XCTAssertTrue(try XCTUnwrap(triggers["_siphon_plain_c"]).contains("NEW.rowid)"))
        XCTAssertTrue(try XCTUnwrap(triggers["_siphon_one_c"]).contains("NEW._rowid_)"))
        XCTAssertTrue(try XCTUnwrap(triggers["_siphon_two_c"]).contains("NEW.oid)"))
        let two = try installer.readSchema("two")
        XCTAssertEqual(CaptureInstaller.snapshotSQL(two), #"SELECT "rowid", "_ROWID_", oid FROM "two" ORDER BY oid"#)
    }
}
