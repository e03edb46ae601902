import Foundation
import SiphonTestSupport
import XCTest

/// The metrics of issue 24 that an SQLite pipeline feeds, scraped from
/// `siphon run --http` while it runs on a real database file.
final class SQLiteMetricsTests: XCTestCase {
    private func start(_ harness: SQLiteHarness, port: Int) throws -> SiphonProcess {
        try SiphonProcess(arguments: ["run", "--config", harness.configPath, "--http", "127.0.0.1:\(port)"],
                          environment: ["SIPHON_LOG_LEVEL": "debug"])
    }

    func testSnapshotLatencyBytesAndPositions() throws {
        let harness = try SQLiteHarness(setup: """
            CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
            INSERT INTO t SELECT value, hex(randomblob(20)) FROM generate_series(1, 300);
            """)
        let port = try PostgresBinaries.freeLoopbackPort()
        let process = try start(harness, port: port)
        _ = try harness.waitForRowEvents(300, process: process)
        let name = harness.name
        let table = ["pipeline": name, "table": "main.t"]
        var scrape = try MetricsScrape(port: port)
        XCTAssertEqual(scrape.value("siphon_snapshot_rows_done", table), 300, scrape.text)
        XCTAssertEqual(scrape.value("siphon_snapshot_rows_total", table), 300, scrape.text)

        try eventually(timeout: .seconds(20), "the snapshot durable") {
            scrape = try MetricsScrape(port: port)
            return scrape.value("siphon_source_position_durable", ["pipeline": name]) != nil
        }
        let before = scrape
        for id in 301...303 { try harness.sql("INSERT INTO t VALUES (\(id), 'streamed')") }
        try harness.sql("UPDATE t SET v = 'changed' WHERE id <= 10")
        _ = try harness.waitForRowEvents(313, process: process)
        try eventually(timeout: .seconds(20), "the changes durable, their changelog rows deleted, nothing left behind") {
            scrape = try MetricsScrape(port: port)
            let moved = ["received", "durable", "acknowledged"].allSatisfy { kind in
                let label = "siphon_source_position_\(kind)"
                return (scrape.value(label, ["pipeline": name]) ?? 0) > (before.value(label, ["pipeline": name]) ?? 0)
            }
            return moved && (scrape.value("siphon_commit_to_sink_seconds_count", ["pipeline": name]) ?? 0) >= 1
                && scrape.value("siphon_sqlite_changelog_backlog", ["pipeline": name]) == 0
        }
        scrape.checkLatencyHistogram(pipeline: name)
        XCTAssertGreaterThan(scrape.value("siphon_bytes_total", table.merging(["op": "r"]) { $1 }) ?? 0, 300 * 50, scrape.text)
        XCTAssertGreaterThan(scrape.value("siphon_bytes_total", table.merging(["op": "c"]) { $1 }) ?? 0, 3 * 50)
        XCTAssertGreaterThan(scrape.value("siphon_bytes_total", table.merging(["op": "u"]) { $1 }) ?? 0, 10 * 50)
        XCTAssertEqual(scrape.sum("siphon_bytes_total", ["pipeline": name]),
                       scrape.value("siphon_bytes_written_total", ["pipeline": name]), scrape.text)
        // The positions are changelog sequences: the last one read is the changelog's end.
        let last = try harness.sql("SELECT max(seq) FROM _siphon_changelog;").trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(scrape.value("siphon_source_position_received", ["pipeline": name]), Double(last), scrape.text)
        let source = try MetricsScrape.status(port: port, pipeline: name)["source"] as? [String: Any]
        XCTAssertEqual(source?["changelog_backlog"] as? Int, 0, "\(String(describing: source))")
        XCTAssertEqual(source?["position_received"] as? Int, Int(last))
        try harness.stop(process)
    }

    /// While the sink fails (a full disk), the rows written meanwhile wait
    /// in the changelog: the backlog counts them, and the restarts are
    /// counted by error kind; once space is back, the backlog drains to 0.
    func testChangelogBacklogWhileTheSinkIsDown() throws {
        let disk: SmallDisk
        do {
            disk = try SmallDisk(megabytes: 4)
        } catch {
            throw XCTSkip("\(error)")
        }
        let harness = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT);")
        try harness.writeRetryingConfig(sinkPath: disk.path + "/out/events.jsonl")
        let port = try PostgresBinaries.freeLoopbackPort()
        let process = try start(harness, port: port)
        let name = harness.name
        try harness.sql("INSERT INTO t SELECT value, 'first' FROM generate_series(1, 100);")
        try eventually(timeout: .seconds(20), "the first rows drained") {
            let scrape = try MetricsScrape(port: port)
            return scrape.value("siphon_events_written_total", ["pipeline": name]) ?? 0 >= 100
                && scrape.value("siphon_sqlite_changelog_backlog", ["pipeline": name]) == 0
        }
        try disk.fill()
        try harness.sql("INSERT INTO t SELECT value, hex(randomblob(200)) FROM generate_series(101, 400);")
        try process.waitFor(stderrContaining: "No space left on device", timeout: .seconds(30))
        try eventually(timeout: .seconds(20), "a backlog of the 300 rows while the sink fails") {
            let scrape = try MetricsScrape(port: port)
            return scrape.value("siphon_sqlite_changelog_backlog", ["pipeline": name]) ?? 0 >= 300
                && scrape.sum("siphon_pipeline_retries_total", ["pipeline": name, "kind": "sink"]) >= 1
        }
        disk.free()
        try eventually(timeout: .seconds(30), "the backlog drained") {
            try MetricsScrape(port: port).value("siphon_sqlite_changelog_backlog", ["pipeline": name]) == 0
        }
        process.signal(SIGTERM)
        XCTAssertEqual(try process.waitForExit(timeout: .seconds(15)), 0, process.stderrText.suffix(2000).description)
    }
}
