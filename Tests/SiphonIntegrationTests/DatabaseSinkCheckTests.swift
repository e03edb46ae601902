import Foundation
import SiphonTestSupport
import XCTest

/// `siphon check` for the database sinks: the target reached, its schemas
/// usable or creatable, `replication_role: replica` allowed, what
/// `_siphon_offsets` holds; each failure with its fix, the password never
/// printed, and nothing created.
final class DatabaseSinkCheckTests: PostgresTestCase {
    private let secret = "Tgt-Secret-pw"

    private func check(_ pipeline: PipelineHarness) throws -> (status: Int32, stdout: String, stderr: String) {
        try SiphonProcess.run(["check", "--config", pipeline.configPath], environment: PipelineHarness.environment, timeout: .seconds(60))
    }

    private func postgresSink(_ target: String, user: String = "postgres", password: String = "postgres") throws -> String {
        """
        type: postgres
        url: "host=127.0.0.1 port=\(try server.port) dbname=\(target) user=\(user) password=\(password)"
        schema: mirror
        replication_role: replica
        """
    }

    func testAHealthyPostgresTargetPassesAndNothingIsCreated() throws {
        let target = "tgt_ok_\(getpid())"
        try server.createDatabase(target)
        let pipeline = try PipelineHarness(server: server, setup: "CREATE TABLE orders (id int PRIMARY KEY)", sink: try postgresSink(target))
        let result = try check(pipeline)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        for line in ["PASS sink target: PostgreSQL 15", "PASS sink schema mirror: does not exist yet; the sink creates it",
                     "PASS sink replication_role", "PASS sink offsets: mirror._siphon_offsets does not exist yet"] {
            XCTAssertTrue(result.stdout.contains(line), "no '\(line)' in:\n\(result.stdout)")
        }
        XCTAssertEqual(try server.psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'mirror'", database: target), "0",
                       "check creates no schema")
    }

    func testARoleThatCannotCreateTheSchemaNorSetTheReplicaRoleFailsWithTheFixes() throws {
        let target = "tgt_plain_\(getpid())"
        try server.createDatabase(target)
        let role = "tgt_role_\(getpid())"
        try server.psql("CREATE ROLE \(role) LOGIN PASSWORD '\(secret)'")
        try server.psql("REVOKE CREATE ON DATABASE \(target) FROM PUBLIC", database: target)
        let pipeline = try PipelineHarness(server: server, setup: "CREATE TABLE orders (id int PRIMARY KEY)",
                                           sink: try postgresSink(target, user: role, password: secret))
        let result = try check(pipeline)
        XCTAssertEqual(result.status, 1, result.stdout + result.stderr)
        for line in ["FAIL sink schema mirror: does not exist, and \(role) may not create it",
                     #"fix: CREATE SCHEMA "mirror" AUTHORIZATION "\#(role)";"#,
                     "FAIL sink replication_role: session_replication_role = replica needs a superuser; \(role) is not one",
                     "fix: use a superuser in sink.url, or set sink.replication_role: origin"] {
            XCTAssertTrue(result.stdout.contains(line), "no '\(line)' in:\n\(result.stdout)")
        }
        XCTAssertFalse((result.stdout + result.stderr).contains(secret), "the password leaked")

        // The schema made by an administrator without rights for the role.
        try server.psql("CREATE SCHEMA mirror", database: target)
        let again = try check(pipeline)
        XCTAssertTrue(again.stdout.contains("FAIL sink schema mirror: \(role) may not use it"), again.stdout)
        XCTAssertTrue(again.stdout.contains(#"fix: GRANT USAGE, CREATE ON SCHEMA "mirror" TO "\#(role)";"#), again.stdout)
    }

    func testAnUnreachablePostgresTargetFailsWithoutThePassword() throws {
        let pipeline = try PipelineHarness(server: server, setup: "CREATE TABLE orders (id int PRIMARY KEY)", sink: """
            type: postgres
            url: "host=127.0.0.1 port=1 dbname=nowhere user=x password=\(secret)"
            """)
        let result = try check(pipeline)
        XCTAssertEqual(result.status, 1, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("FAIL sink target:"), result.stdout)
        XCTAssertTrue(result.stdout.contains("fix: check sink.url"), result.stdout)
        XCTAssertFalse((result.stdout + result.stderr).contains(secret), "the password leaked")
    }

    func testAnSQLiteTargetThatIsNotADatabaseFailsAndANewOneIsNotCreated() throws {
        let folder = try TemporaryDirectory()
        let bogus = folder.path + "/not-a-database.db"
        try "hello, not SQLite".write(toFile: bogus, atomically: true, encoding: .utf8)
        let pipeline = try PipelineHarness(server: server, setup: "CREATE TABLE orders (id int PRIMARY KEY)",
                                           sink: "type: sqlite\npath: \(bogus)")
        let result = try check(pipeline)
        XCTAssertEqual(result.status, 1, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("FAIL sink database:"), result.stdout)
        XCTAssertTrue(result.stdout.contains("fix: point sink.path at an SQLite database"), result.stdout)

        let fresh = folder.path + "/replica.db"
        let healthy = try PipelineHarness(server: server, setup: "CREATE TABLE orders (id int PRIMARY KEY)",
                                          sink: "type: sqlite\npath: \(fresh)")
        let passed = try check(healthy)
        XCTAssertEqual(passed.status, 0, passed.stdout + passed.stderr)
        XCTAssertTrue(passed.stdout.contains("PASS sink database: \(fresh) does not exist yet; the sink creates it"), passed.stdout)
        XCTAssertTrue(passed.stdout.contains("PASS sink free disk"), passed.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: fresh), "check creates no database")
    }
}
