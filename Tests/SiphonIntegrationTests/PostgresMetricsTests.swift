import Foundation
import SiphonTestSupport
import XCTest

/// The metrics of issue 24 that a PostgreSQL pipeline feeds, scraped from
/// `siphon run --http` while it runs against a real cluster: snapshot
/// progress, bytes per op and table, commit-to-sink latency, positions,
/// the slot's retained WAL, and reconnects of the source.
final class PostgresMetricsTests: PostgresTestCase {
    func testMetricsFollowSnapshotStreamingAndAReconnect() throws {
        let pipeline = try PipelineHarness(server: server, tables: ["public.t"], setup: """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
            """)
        let port = try PostgresBinaries.freeLoopbackPort()
        var environment = PipelineHarness.environment
        environment["SIPHON_HTTP"] = "127.0.0.1:\(port)"
        let process = try pipeline.start(environment: environment)
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        let name = pipeline.name
        let table = ["pipeline": name, "table": "public.t"]

        // The snapshot: every row of the table, done == total.
        var scrape = try MetricsScrape(port: port)
        XCTAssertEqual(scrape.value("siphon_snapshot_rows_done", table), 5000, scrape.text)
        XCTAssertEqual(scrape.value("siphon_snapshot_rows_total", table), 5000, scrape.text)
        let snapshot = (try MetricsScrape.status(port: port, pipeline: name)["source"] as? [String: Any])?["snapshot"] as? [[String: Any]]
        XCTAssertEqual(snapshot?.first?["rows_done"] as? Int, 5000, "\(String(describing: snapshot))")
        XCTAssertEqual(snapshot?.first?["done"] as? Bool, true)

        // Streaming: latency observed per durable batch, positions moving.
        _ = try pipeline.waitForRowEvents(5000, process: process)
        try eventually(timeout: .seconds(20), "the snapshot checkpointed, the slot read") {
            scrape = try MetricsScrape(port: port)
            return scrape.value("siphon_source_position_durable", ["pipeline": name]) != nil
                && scrape.value("siphon_slot_retained_wal_bytes", ["pipeline": name]) != nil
        }
        let before = scrape
        let latencyBefore = before.value("siphon_commit_to_sink_seconds_count", ["pipeline": name]) ?? 0
        for id in 5001...5003 { try pipeline.sql("INSERT INTO t VALUES (\(id), 'streamed')") }
        try pipeline.sql("UPDATE t SET v = 'changed' WHERE id <= 10")
        _ = try pipeline.waitForRowEvents(5013, process: process)
        try eventually(timeout: .seconds(20), "the changes durable and acknowledged to the server") {
            scrape = try MetricsScrape(port: port)
            let moved = ["received", "durable", "acknowledged"].allSatisfy { kind in
                let label = "siphon_source_position_\(kind)"
                return (scrape.value(label, ["pipeline": name]) ?? 0) > (before.value(label, ["pipeline": name]) ?? 0)
            }
            return moved && (scrape.value("siphon_commit_to_sink_seconds_count", ["pipeline": name]) ?? 0) > latencyBefore
        }
        scrape.checkLatencyHistogram(pipeline: name)

        // Bytes per op and table: each moves, and together they are every byte written.
        XCTAssertGreaterThan(scrape.value("siphon_bytes_total", table.merging(["op": "r"]) { $1 }) ?? 0, 5000 * 100, scrape.text)
        XCTAssertGreaterThan(scrape.value("siphon_bytes_total", table.merging(["op": "c"]) { $1 }) ?? 0, 3 * 100)
        XCTAssertGreaterThan(scrape.value("siphon_bytes_total", table.merging(["op": "u"]) { $1 }) ?? 0, 10 * 100)
        XCTAssertEqual(scrape.sum("siphon_bytes_total", ["pipeline": name]),
                       scrape.value("siphon_bytes_written_total", ["pipeline": name]), scrape.text)

        // The positions are LSNs: the acknowledged one is the slot's confirmed LSN.
        try eventually(timeout: .seconds(20), "the acknowledged position is the slot's confirmed_flush_lsn") {
            let confirmed = try server.psql("SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'slot_\(name)'")
            return try MetricsScrape(port: port).value("siphon_source_position_acknowledged", ["pipeline": name]) == Double(confirmed)
        }
        let current = Double(try server.psql("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")) ?? 0
        XCTAssertLessThanOrEqual(scrape.value("siphon_source_position_received", ["pipeline": name]) ?? .infinity, current)
        try eventually(timeout: .seconds(20), "retained WAL and wal_status read on the slow timer") {
            scrape = try MetricsScrape(port: port)
            return (scrape.value("siphon_slot_retained_wal_bytes", ["pipeline": name]) ?? 0) > 0
                && scrape.value("siphon_slot_wal_status", ["pipeline": name, "status": "reserved"]) == 1
                && scrape.value("siphon_slot_wal_status", ["pipeline": name, "status": "lost"]) == 0
        }
        let source = try MetricsScrape.status(port: port, pipeline: name)["source"] as? [String: Any]
        XCTAssertEqual(source?["wal_status"] as? String, "reserved", "\(String(describing: source))")
        XCTAssertNotNil(source?["position_durable"] as? Int)
        XCTAssertEqual(source?["reconnects"] as? Int, 0)

        // The server ends the walsender: the source reconnects by itself,
        // the pipeline stays running, and the reconnect is counted.
        XCTAssertEqual(try server.psql("SELECT count(pg_terminate_backend(active_pid)) FROM pg_replication_slots WHERE slot_name = 'slot_\(name)' AND active_pid IS NOT NULL"), "1")
        try eventually(timeout: .seconds(30), "the reconnect counted") {
            scrape = try MetricsScrape(port: port)
            return scrape.sum("siphon_source_reconnects_total", ["pipeline": name]) >= 1
        }
        try pipeline.sql("INSERT INTO t VALUES (6000, 'after the reconnect')")
        _ = try pipeline.waitForRowEvents(5014, process: process)
        let status = try MetricsScrape.status(port: port, pipeline: name)
        let after = status["source"] as? [String: Any]
        // One, or a few more when the server still held the slot for the dying walsender.
        XCTAssertGreaterThanOrEqual(after?["reconnects"] as? Int ?? 0, 1, "\(status)")
        XCTAssertNotNil(after?["last_reconnect_error_kind"] as? String, "\(status)")
        XCTAssertEqual(status["state"] as? String, "running")
        XCTAssertEqual(status["restarts"] as? Int, 0, "a source reconnect is no pipeline restart")
        try pipeline.stop(process)
    }
}
