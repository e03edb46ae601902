import Foundation
import SiphonTestSupport
import XCTest

/// `source.heartbeat` and `source.max_lag`. (The idle database next to a
/// busy one, which needs no heartbeat, is `ChangeCaptureTests.testIdleSlotDoesNotPinWAL`.)
final class HeartbeatTests: PostgresTestCase {
    /// A user's action query runs every interval on the source; the default
    /// one writes a logical message that moves the slot and is no event.
    func testHeartbeatQueryRunsAndItsMessageIsNoEvent() throws {
        let pipeline = try PipelineHarness(server: server, tables: ["public.t"], snapshot: "never", extraSource: """
              heartbeat:
                interval: 1s
                query: "INSERT INTO beats DEFAULT VALUES"
            """, setup: "CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE beats (id serial PRIMARY KEY, at timestamptz DEFAULT now())")
        var process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try eventually(timeout: .seconds(20), "three heartbeats") {
            (Int(try server.psql("SELECT count(*) FROM beats", database: pipeline.database)) ?? 0) >= 3
        }
        try pipeline.stop(process)

        // The default: pg_logical_emit_message, with messages captured.
        try pipeline.writeConfig(tables: ["public.t"], snapshot: "never", extraSource: """
              heartbeat:
                interval: 1s
            """)
        process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        let before = try server.psql("SELECT pg_current_wal_lsn()")
        try eventually(timeout: .seconds(20), "the slot confirms a heartbeat's WAL") {
            try server.psql("SELECT confirmed_flush_lsn > '\(before)'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'slot_\(pipeline.name)'") == "t"
        }
        try pipeline.sql("INSERT INTO t VALUES (1)")
        let events = try pipeline.waitForRowEvents(1, process: process)
        XCTAssertEqual(events.map { $0["op"] as? String }, ["c"], "heartbeats are no events")
        XCTAssertFalse(try pipeline.events().contains { $0["op"] as? String == "m" }, "no message event from the heartbeat")
        try pipeline.stop(process)
    }

    func testMaxLagWarnsWhileTheSlotIsBehind() throws {
        let pipeline = try PipelineHarness(server: server, tables: ["public.t"], snapshot: "never", extraSource: """
              max_lag: 1
            """, setup: "CREATE TABLE t (id int PRIMARY KEY)")
        let port = try PostgresBinaries.freeLoopbackPort()
        var environment = PipelineHarness.environment
        environment["SIPHON_HTTP"] = "127.0.0.1:\(port)"
        let process = try pipeline.start(environment: environment)
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        let busy = "busy_\(pipeline.name)"
        try server.createDatabase(busy)
        // Writes in another database keep the WAL ahead of the slot's last confirmation.
        try server.psql("""
            CREATE TABLE noise (id serial PRIMARY KEY, v text);
            CREATE PROCEDURE noisy() LANGUAGE plpgsql AS $$ BEGIN
              FOR i IN 1..400 LOOP INSERT INTO noise (v) SELECT md5(g::text) FROM generate_series(1, 200) g; COMMIT; PERFORM pg_sleep(0.02); END LOOP;
            END $$;
            """, database: busy)
        let writer = try ChildProcessRunner.start(server: server, database: busy, sql: "CALL noisy()")
        try process.waitFor(stderrContaining: "the slot holds back more WAL than source.max_lag", timeout: .seconds(30))
        XCTAssertTrue(process.isRunning, "a warning, never a stop")
        // The lag is also a gauge, read on the same timer.
        let metrics = try SiphonProcess.run(executable: "/usr/bin/curl", arguments: ["-s", "http://127.0.0.1:\(port)/metrics"]).stdout
        let lag = metrics.split(separator: "\n").first { $0.hasPrefix("siphon_slot_lag_bytes{") && $0.contains(pipeline.name) }
        XCTAssertNotNil(lag.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }, metrics)
        _ = try? writer.waitForExit(timeout: .seconds(60))
        try pipeline.stop(process)
    }

    func testBadHeartbeatAndMaxLagAreBadConfiguration() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "never", extraSource: """
              heartbeat:
                interval: 10ms
                querry: "SELECT 1"
              max_lag: lots
            """)
        let result = try SiphonProcess.run(["validate", "--config", pipeline.configPath], environment: PipelineHarness.environment)
        XCTAssertEqual(result.status, 2, result.stdout + result.stderr)
        for key in ["source.heartbeat.interval", "source.heartbeat.querry", "source.max_lag"] {
            XCTAssertTrue(result.stderr.contains(key), "\(key) not named in: \(result.stderr)")
        }
    }
}
