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

    func testColumnDetailsAndTheTablesStatementAreRecorded() throws {
        let (folder, connection) = try makeDatabase("""
            CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT 'x', n INT DEFAULT (1 + 2), note);
            CREATE TABLE b (k INTEGER PRIMARY KEY, v) WITHOUT ROWID;
            CREATE TABLE c (id INTEGER PRIMARY KEY DESC, v TEXT);
            """)
        _ = folder
        let installer = CaptureInstaller(connection: connection, patterns: TablePatterns(["*"]), pipeline: "p", logger: Logger(label: "test"))
        _ = try sync(installer)
        let registry = try SchemaRegistry.load(connection)
        func details(_ table: String) -> [TableSchema.Details?] {
            registry.schema(table, version: 1)?.columns.map(\.details) ?? []
        }
        XCTAssertEqual(details("a"), [
            .init(notNull: true, defaultValue: nil, autoIncrement: true),
            .init(notNull: true, defaultValue: "'x'", autoIncrement: false),
            .init(notNull: false, defaultValue: "1 + 2", autoIncrement: false),
            .init(notNull: false, defaultValue: nil, autoIncrement: false),
        ])
        // A WITHOUT ROWID table's key cannot be NULL and has no rowid to alias;
        // INTEGER PRIMARY KEY DESC is not the rowid (SQLite's documented quirk).
        XCTAssertEqual(details("b").map { $0?.notNull }, [true, false])
        XCTAssertEqual(details("b").map { $0?.autoIncrement }, [false, false])
        XCTAssertEqual(details("c").map { $0?.autoIncrement }, [false, false])
        XCTAssertEqual(registry.version("a", 1)?.ddl,
                       "CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT 'x', n INT DEFAULT (1 + 2), note)")

        try connection.execute("ALTER TABLE a ADD COLUMN w REAL NOT NULL DEFAULT 0.5; DROP TABLE b;")
        _ = try sync(installer)
        let after = try SchemaRegistry.load(connection)
        XCTAssertEqual(after.version("a", 2)?.ddl?.hasSuffix(", w REAL NOT NULL DEFAULT 0.5)"), true, "ALTER TABLE rewrites the statement")
        XCTAssertEqual(after.schema("a", version: 2)?.columns.last?.details, .init(notNull: true, defaultValue: "0.5", autoIncrement: false))
        XCTAssertEqual(after.version("b", 2)?.dropped, true)
        XCTAssertNil(after.version("b", 2)?.ddl, "nothing tells a drop's statement")
    }

    /// A registry written by Siphon 0.1: no `ddl` column, no column details.
    /// It is read as it is, and gets no new version for what it lacks.
    func testARegistryFromTheFirstFormatIsReadAndKept() throws {
        let (folder, connection) = try makeDatabase("""
            CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT NOT NULL DEFAULT '');
            CREATE TABLE _siphon_changelog (seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, op TEXT NOT NULL, ver INTEGER NOT NULL,
              ts INTEGER NOT NULL, old TEXT, new TEXT, v0, v1, v2, v3);
            CREATE TABLE _siphon_schema (tbl TEXT NOT NULL, version INTEGER NOT NULL, columns TEXT NOT NULL,
              dropped INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (tbl, version)) WITHOUT ROWID;
            CREATE TABLE _siphon_meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
            INSERT INTO _siphon_meta VALUES ('pipeline', 'p'), ('format', '1');
            INSERT INTO _siphon_schema VALUES ('a', 1, '[{"name":"id","type":"INTEGER","key":true,"keyIndex":1},{"name":"v","type":"TEXT","key":false}]', 0);
            """)
        _ = folder
        let installer = CaptureInstaller(connection: connection, patterns: TablePatterns(["*"]), pipeline: "p", logger: Logger(label: "test"))
        let triggers = CaptureInstaller.triggerStatements(for: try installer.readSchema("a"), version: 1)
        for trigger in triggers { try connection.execute(trigger.sql) }
        let result = try sync(installer)
        XCTAssertEqual(result.schemaChanges, 0, "unrecorded details are not a change")
        XCTAssertTrue(result.repaired.isEmpty)
        let registry = try SchemaRegistry.load(connection)
        XCTAssertNil(registry.version("a", 1)?.ddl)
        XCTAssertEqual(registry.schema("a", version: 1)?.columns.map(\.details), [nil, nil])
        var json = JSONBuffer()
        try XCTUnwrap(registry.schema("a", version: 1)).writeTableChange(.create, to: &json)
        let change = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.bytes)) as? [String: Any])
        let columns = try XCTUnwrap((change["table"] as? [String: Any])?["columns"] as? [[String: Any]])
        XCTAssertEqual(columns.map { $0["optional"] as? Bool }, [true, true], "not known: SQLite's default")
    }

    /// A table rebuilt by the application (new table, copy, drop, rename)
    /// loses Siphon's triggers: with a different DEFAULT it gets a new
    /// version, and is reported as repaired all the same.
    func testATableRebuiltWithOtherDetailsIsANewVersionAndRepaired() throws {
        let (folder, connection) = try makeDatabase("CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT DEFAULT 'old');")
        _ = folder
        let installer = CaptureInstaller(connection: connection, patterns: TablePatterns(["a"]), pipeline: "p", logger: Logger(label: "test"))
        _ = try sync(installer)
        try connection.execute("""
            CREATE TABLE a_new (id INTEGER PRIMARY KEY, v TEXT DEFAULT 'new');
            INSERT INTO a_new SELECT * FROM a; DROP TABLE a; ALTER TABLE a_new RENAME TO a;
            """)
        let result = try sync(installer)
        XCTAssertEqual(result.repaired, ["a"])
        XCTAssertEqual(result.schemaChanges, 1)
        XCTAssertEqual(try installer.latestVersions()["a"]?.schema.columns.last?.details?.defaultValue, "'new'")
        XCTAssertEqual(Set(try installer.installedTriggers().keys), ["_siphon_a_c", "_siphon_a_u", "_siphon_a_d"])
    }
}
