import Foundation
import SiphonTestSupport
import XCTest

/// `siphon offsets show` and `offsets reset` on a pipeline into a
/// PostgreSQL target: `_siphon_offsets` is the sink's position, and a reset
/// starts over with a new snapshot that leaves the target equal to the
/// source, rows deleted while the pipeline was stopped included.
final class DatabaseSinkOffsetsTests: PostgresTestCase {
    func testOffsetsShowTheTargetsPositionAndAResetStartsOverWithANewSnapshot() throws {
        let target = try PostgresServer.start()
        try target.createDatabase("replica")
        let pipeline = try PipelineHarness(server: server, tables: ["public.t"], snapshot: "initial",
                                           setup: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;",
                                           sink: """
                                               type: postgres
                                               url: "host=127.0.0.1 port=\(target.port) dbname=replica user=postgres password=${TEST_PGPASSWORD}"
                                               """)
        func offsets(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try SiphonProcess.run(["offsets"] + arguments + ["--config", pipeline.configPath], environment: PipelineHarness.environment)
        }
        let empty = try offsets(["show"])
        XCTAssertEqual(empty.status, 0, empty.stderr)
        XCTAssertTrue(empty.stdout.contains("the postgres sink holds no events"), empty.stdout)
        XCTAssertEqual(try target.psql("SELECT count(*) FROM pg_tables WHERE tablename = '_siphon_offsets'", database: "replica"), "0",
                       "offsets show created _siphon_offsets")

        let query = "SELECT * FROM t ORDER BY id"
        let first = try pipeline.start()
        try first.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.sql("INSERT INTO t VALUES (11, 'v11');")
        try eventually(timeout: .seconds(60), "the target to equal the source") {
            try target.psql(query, database: "replica") == (try server.psql(query, database: pipeline.database))
        }
        try pipeline.stop(first)
        let held = try target.psql("SELECT position FROM _siphon_offsets WHERE pipeline = '\(pipeline.name)'", database: "replica")
        let shown = try offsets(["show"])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        XCTAssertTrue(shown.stdout.contains("the postgres sink holds events up to \(held)"), shown.stdout)

        let reset = try offsets(["reset", "--to", "beginning", "--yes"])
        XCTAssertEqual(reset.status, 0, reset.stderr)
        XCTAssertTrue(reset.stdout.contains("after what the sink holds (up to \(held))"), reset.stdout)
        // While stopped: a delete (the new snapshot must remove the row from the target) and an update.
        try pipeline.sql("DELETE FROM t WHERE id = 3; UPDATE t SET v = 'changed' WHERE id = 4;")
        let second = try pipeline.start()
        try second.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.sql("INSERT INTO t VALUES (12, 'v12');")
        try eventually(timeout: .seconds(60), "the target to equal the source after the reset") {
            try target.psql(query, database: "replica") == (try server.psql(query, database: pipeline.database))
        }
        XCTAssertTrue(second.stderrText.contains("snapshot"), "a new snapshot after the reset:\n\(second.stderrText.suffix(2000))")
        try pipeline.stop(second)
        let after = try target.psql("SELECT position FROM _siphon_offsets WHERE pipeline = '\(pipeline.name)'", database: "replica")
        XCTAssertGreaterThan(after, held, "the position moved on past the reset")
        XCTAssertEqual(try target.psql("SELECT count(*) FROM t WHERE id = 3", database: "replica"), "0")
    }
}
