import Foundation
import Logging
import PostgresSink
import SiphonCore
import SiphonTestSupport
import XCTest

/// Target tables that exist before the pipeline: their triggers and
/// foreign keys under `replication_role`, and columns that conflict with the source.
final class PostgresTargetTableTests: XCTestCase {
    /// A target trigger that refuses application writes, and a foreign key
    /// whose parent row arrives after its child: with `replica` neither
    /// fires, and the rows arrive as the source committed them.
    func testReplicaRoleSkipsTargetTriggersAndForeignKeys() async throws {
        let pair = try ReplicaHarness()
        try pair.sourceSQL("""
            CREATE TABLE parent (id int PRIMARY KEY);
            CREATE TABLE child (id int PRIMARY KEY, parent int);
            """)
        _ = try pair.targetSQL("""
            CREATE TABLE parent (id int PRIMARY KEY);
            CREATE TABLE child (id int PRIMARY KEY, parent int REFERENCES parent);
            CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'application writes only'; END$$;
            CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON child FOR EACH ROW EXECUTE FUNCTION refuse();
            """)
        try pair.start(sink: pair.sinkConfiguration { $0.replicationRole = .replica })
        // The child first, in its own transaction: only the replica role lets it in.
        try pair.sourceSQL("INSERT INTO child VALUES (1, 10); INSERT INTO parent VALUES (10);")
        try await pair.waitUntilEqual("SELECT * FROM child", expectedRows: 1)
        try await pair.waitUntilEqual("SELECT * FROM parent", expectedRows: 1)
        try await pair.stop()
    }

    /// With `origin` (the default) the same trigger fires and stops the pipeline
    /// with the target's message.
    func testOriginRoleFiresTargetTriggers() async throws {
        let pair = try ReplicaHarness()
        try pair.sourceSQL("CREATE TABLE child (id int PRIMARY KEY, parent int)")
        _ = try pair.targetSQL("""
            CREATE TABLE child (id int PRIMARY KEY, parent int);
            CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'application writes only'; END$$;
            CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON child FOR EACH ROW EXECUTE FUNCTION refuse();
            """)
        try pair.start()
        try pair.sourceSQL("INSERT INTO child VALUES (1, 10)")
        let stopped = try await pair.failure()
        let error = try XCTUnwrap(stopped as? SiphonError, "the pipeline did not stop: \(String(describing: stopped))")
        XCTAssertFalse(error.isTransient)
        XCTAssertTrue(error.message.contains("application writes only"), error.message)
        XCTAssertEqual(try pair.targetSQL("SELECT count(*) FROM child"), "0")
    }

    /// `replica` needs a superuser: a permanent error naming the key.
    func testReplicaRoleWithoutSuperuserNamesTheKey() async throws {
        let server = try PostgresServer.start()
        try server.psql("CREATE ROLE plain LOGIN PASSWORD 'plain-pw'; GRANT CREATE ON SCHEMA public TO plain")
        let sink = PostgresSink(configuration: PostgresSinkConfiguration(
            url: server.conninfo(user: "plain", password: "plain-pw"), replicationRole: .replica), pipeline: "p", logger: Logger(label: "t"))
        do {
            _ = try await sink.open()
            XCTFail("a plain user set session_replication_role")
        } catch let error as SiphonError {
            XCTAssertFalse(error.isTransient)
            XCTAssertTrue(error.message.contains("replication_role"), error.message)
            XCTAssertFalse(error.message.contains("plain-pw"), error.message)
        }
        try await sink.close()
    }

    /// A target table that exists with a column of an unrelated type is
    /// refused, naming the table, the column and both types (a column the
    /// source merely widened, int to bigint here, would be widened).
    func testAnExistingTableWithAConflictingColumnIsRefused() async throws {
        let pair = try ReplicaHarness()
        try pair.sourceSQL("CREATE TABLE items (id bigint PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'x')")
        _ = try pair.targetSQL("CREATE TABLE items (id int PRIMARY KEY, name boolean)")
        try pair.start()
        let stopped = try await pair.failure()
        let error = try XCTUnwrap(stopped as? SiphonError, "the pipeline did not stop: \(String(describing: stopped))")
        XCTAssertFalse(error.isTransient)
        for part in ["items", "column name", "boolean", "text"] {
            XCTAssertTrue(error.message.contains(part), "\(part) not in: \(error.message)")
        }
        XCTAssertEqual(try pair.targetSQL("SELECT count(*) FROM items"), "0")
    }

    /// A target column narrowed by hand after the sink created it: a value
    /// too long for it stops the pipeline, as PostgreSQL refuses it; it is
    /// never cut short to fit.
    func testAValueTooLongForANarrowedTargetColumnStopsThePipeline() async throws {
        let pair = try ReplicaHarness()
        try pair.sourceSQL("CREATE TABLE items (id bigint PRIMARY KEY, code varchar(10)); INSERT INTO items VALUES (1, 'abc')")
        try pair.start()
        try await pair.waitUntilEqual("SELECT * FROM items ORDER BY id", expectedRows: 1)
        try await pair.stop()
        _ = try pair.targetSQL("ALTER TABLE items ALTER COLUMN code TYPE varchar(3)")
        try pair.start()
        try pair.sourceSQL("INSERT INTO items VALUES (2, 'abcdefgh')")
        let stopped = try await pair.failure()
        let error = try XCTUnwrap(stopped as? SiphonError, "the pipeline did not stop: \(String(describing: stopped))")
        XCTAssertTrue(error.message.contains("too long"), error.message)
        XCTAssertEqual(try pair.targetSQL("SELECT string_agg(id || ':' || code, ',' ORDER BY id) FROM items"), "1:abc")
    }

    /// `schema` puts every table (and `_siphon_offsets`) in one target
    /// schema, created when missing; `tables` renames one, into another schema.
    func testSchemaAndTablesChooseTheTarget() async throws {
        let pair = try ReplicaHarness()
        try pair.sourceSQL("""
            CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a VALUES (1, 'a');
            CREATE TABLE b (id int PRIMARY KEY, v text); INSERT INTO b VALUES (2, 'b');
            """)
        try pair.start(sink: pair.sinkConfiguration {
            $0.schema = "Replica Schema"
            $0.tables = ["public.b": "elsewhere.bee"]
        })
        let deadline = ContinuousClock.now + .seconds(60)
        var seen = ""
        while ContinuousClock.now < deadline {
            seen = (try? pair.targetSQL(#"SELECT (SELECT v FROM "Replica Schema".a) || (SELECT v FROM elsewhere.bee)"#)) ?? ""
            if seen == "ab" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertEqual(seen, "ab")
        XCTAssertEqual(try pair.targetSQL(#"SELECT count(*) FROM "Replica Schema"._siphon_offsets"#), "1")
        XCTAssertEqual(try pair.targetSQL("SELECT to_regclass('public.a') IS NULL AND to_regclass('public.b') IS NULL"), "t")
        try await pair.stop()
    }
}
