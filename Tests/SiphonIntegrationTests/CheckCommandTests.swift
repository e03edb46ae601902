import Foundation
import KafkaTesting
import SiphonTestSupport
import XCTest

/// `siphon check`: one line per check with the fix, exit 1 when one fails,
/// and nothing created.
final class CheckCommandTests: PostgresTestCase {
    private let secret = "Ch3ck-Secret-pw"

    private func check(_ configPath: String, json: Bool = false) throws -> (status: Int32, stdout: String, stderr: String) {
        try SiphonProcess.run(["check", "--config", configPath] + (json ? ["--json"] : []),
                              environment: PipelineHarness.environment, timeout: .seconds(60))
    }

    func testAHealthySetupPassesWithWarningsAndCreatesNothing() throws {
        let pipeline = try PipelineHarness(server: server, setup: """
            CREATE TABLE orders (id int PRIMARY KEY, v text);
            CREATE TABLE nokey (v text);
            """)
        let result = try check(pipeline.configPath)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        for line in ["PASS source wal_level: logical", "PASS source REPLICATION", "PASS source replication connection",
                     "PASS source table public.orders: captured", "WARN source table public.nokey: left out",
                     #"fix: add a primary key (not DEFERRABLE), or ALTER TABLE "public"."nokey" REPLICA IDENTITY FULL"#,
                     "does not exist yet", "PASS sink file"] {
            XCTAssertTrue(result.stdout.contains(line), "no '\(line)' in:\n\(result.stdout)")
        }
        XCTAssertEqual(try server.psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'slot_\(pipeline.name)'"), "0")
        XCTAssertEqual(try server.psql("SELECT count(*) FROM pg_publication WHERE pubname = 'pub_\(pipeline.name)'",
                                       database: pipeline.database), "0")
        XCTAssertFalse(FileManager.default.fileExists(atPath: pipeline.outputPath), "check creates no sink file")
        XCTAssertFalse(FileManager.default.fileExists(atPath: pipeline.statePath), "check creates no state folder")
    }

    func testMissingGrantsFailWithTheirFixAndNeverThePassword() throws {
        let pipeline = try PipelineHarness(server: server, setup: "CREATE TABLE orders (id int PRIMARY KEY)")
        let role = "plain_\(pipeline.name)"
        try server.psql("CREATE ROLE \(role) LOGIN PASSWORD '\(secret)'")
        try pipeline.writeConfig(tables: ["public.*"], snapshot: "never",
                                 url: "postgres://\(role):\(secret)@127.0.0.1:\(try server.port)/\(pipeline.database)")
        let result = try check(pipeline.configPath)
        XCTAssertEqual(result.status, 1, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("FAIL source REPLICATION: role \(role) lacks the REPLICATION attribute"), result.stdout)
        XCTAssertTrue(result.stdout.contains("fix: ALTER ROLE \(role) REPLICATION"), result.stdout)
        XCTAssertTrue(result.stdout.contains("FAIL source table public.orders"), result.stdout)
        XCTAssertTrue(result.stdout.contains(#"fix: GRANT SELECT ON "public"."orders" TO "\#(role)""#), result.stdout)
        XCTAssertFalse((result.stdout + result.stderr).contains(secret), "the password leaked")

        let json = try check(pipeline.configPath, json: true)
        XCTAssertEqual(json.status, 1)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], json.stdout)
        XCTAssertEqual(object["passed"] as? Bool, false)
        let source = try XCTUnwrap(object["source"] as? [[String: Any]])
        XCTAssertTrue(source.contains { $0["name"] as? String == "REPLICATION" && $0["outcome"] as? String == "fail" }, json.stdout)
    }

    func testWalLevelAndAnSQLiteDatabaseNotInWALModeFail() throws {
        let replica = try PostgresServer.start(settings: ["wal_level": "replica"])
        let pipeline = try PipelineHarness(server: replica)
        let result = try check(pipeline.configPath)
        XCTAssertEqual(result.status, 1, result.stdout)
        XCTAssertTrue(result.stdout.contains("FAIL source wal_level: wal_level is replica"), result.stdout)
        XCTAssertTrue(result.stdout.contains("fix: ALTER SYSTEM SET wal_level = logical; then restart the server"), result.stdout)

        let sqlite = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY)", snapshot: "never", wal: false)
        let rollback = try check(sqlite.configPath)
        XCTAssertEqual(rollback.status, 2, "found offline already, as by validate: \(rollback.stdout)")
        XCTAssertTrue(rollback.stderr.contains("WAL"), rollback.stderr)
    }

    func testKafkaBrokersReachedOrNot() throws {
        let kafka = try MockKafka()
        let reached = try PipelineHarness(server: server, setup: "CREATE TABLE t (id int PRIMARY KEY)",
                                          sink: "type: kafka\nbrokers: \(kafka.bootstraps)")
        let good = try check(reached.configPath)
        XCTAssertTrue(good.stdout.contains("PASS sink brokers: reached \(kafka.bootstraps)"), good.stdout + good.stderr)
        XCTAssertEqual(good.status, 0, good.stdout)
        let unreachable = try PipelineHarness(server: server, sink: "type: kafka\nbrokers: 127.0.0.1:1")
        let bad = try check(unreachable.configPath)
        XCTAssertEqual(bad.status, 1, bad.stdout)
        XCTAssertTrue(bad.stdout.contains("FAIL sink brokers"), bad.stdout)
    }
}
