import Foundation
import SiphonTestSupport
import XCTest

/// Databases Siphon cannot use: one clear line saying what to fix, and never the password.
final class SourceSetupErrorTests: PostgresTestCase {
    private let secret = "Sup3r-Secret-pw"

    private func runToFailure(_ pipeline: PipelineHarness, url: String) throws -> (status: Int32, stderr: String) {
        try pipeline.writeConfig(tables: ["public.*"], snapshot: "never", url: url)
        let result = try SiphonProcess.run(["run", "--config", pipeline.configPath], timeout: .seconds(60))
        XCTAssertFalse(result.stderr.contains(secret), "the password leaked:\n\(result.stderr)")
        XCTAssertFalse(result.stdout.contains(secret))
        return (result.status, result.stderr)
    }

    func testWrongPassword() throws {
        let pipeline = try PipelineHarness(server: server)
        let result = try runToFailure(pipeline, url: "host=127.0.0.1 port=\(try server.port) dbname=\(pipeline.database) user=postgres password=\(secret)")
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("rejected the password"), result.stderr)
    }

    func testMissingReplicationPermission() throws {
        let pipeline = try PipelineHarness(server: server, setup: "CREATE TABLE t (id int PRIMARY KEY)")
        try server.psql("CREATE ROLE plain_\(pipeline.name) LOGIN PASSWORD '\(secret)'")
        let result = try runToFailure(pipeline, url: "postgres://plain_\(pipeline.name):\(secret)@127.0.0.1:\(try server.port)/\(pipeline.database)")
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("REPLICATION") || result.stderr.contains("permission"), result.stderr)
        XCTAssertEqual(result.stderr.components(separatedBy: "siphon: error:").count, 2, result.stderr)
    }

    func testUnreachableDatabaseRetriesWithAClearLine() throws {
        let pipeline = try PipelineHarness(server: server)
        try pipeline.writeConfig(tables: ["public.*"], snapshot: "never",
                                 url: "host=127.0.0.1 port=1 dbname=app user=postgres password=\(secret)")
        let process = try SiphonProcess(arguments: ["run", "--config", pipeline.configPath])
        try process.waitFor(stderrContaining: "reconnecting", timeout: .seconds(30))
        XCTAssertTrue(process.isRunning, "an unreachable database is transient: Siphon keeps trying")
        XCTAssertTrue(process.stderrText.contains("cannot reach PostgreSQL at host=127.0.0.1 port=1"), process.stderrText)
        XCTAssertFalse(process.stderrText.contains(secret))
        process.signal(SIGTERM)
        XCTAssertEqual(try process.waitForExit(timeout: .seconds(15)), 0, process.stderrText)
    }

    func testWalLevelNotLogical() throws {
        let replica = try PostgresServer.start(settings: ["wal_level": "replica"])
        let pipeline = try PipelineHarness(server: replica)
        let result = try runToFailure(pipeline, url: "host=127.0.0.1 port=\(replica.port) dbname=\(pipeline.database) user=postgres password=postgres")
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("wal_level = logical"), result.stderr)
    }
}
