import Foundation
import SiphonTestSupport
import XCTest

/// `siphon run --http`: the endpoints, scraped while a real pipeline runs.
final class HTTPEndpointsTests: XCTestCase {
    private func get(_ port: Int, _ path: String) throws -> (status: Int, body: String) {
        let result = try SiphonProcess.run(executable: "/usr/bin/curl",
                                           arguments: ["-s", "-o", "-", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"])
        let text = result.stdout
        guard let split = text.lastIndex(of: "\n"), let status = Int(text[text.index(after: split)...]) else {
            throw TestSupportError("curl said: \(text) \(result.stderr)")
        }
        return (status, String(text[..<split]))
    }

    /// The value of `metric{pipeline="name"}` in Prometheus text.
    private func metric(_ text: String, _ name: String, pipeline: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix("\(name){") && $0.contains("pipeline=\"\(pipeline)\"") }
            .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
    }

    func testEndpointsFollowTheRunningPipeline() throws {
        let harness = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", snapshot: "never")
        let port = try PostgresBinaries.freeLoopbackPort()
        let process = try SiphonProcess(arguments: ["run", "--config", harness.configPath, "--http", "127.0.0.1:\(port)"])
        try process.waitFor(stderrContaining: "capturing", timeout: .seconds(30))
        XCTAssertEqual(try get(port, "/healthz").status, 200)
        try eventually(timeout: .seconds(10), "ready") { try get(port, "/readyz").status == 200 }

        _ = try harness.sql("INSERT INTO t SELECT value, 'x' FROM generate_series(1, 10);")
        try eventually(timeout: .seconds(20), "10 events counted") {
            (metric(try get(port, "/metrics").body, "siphon_events_written_total", pipeline: harness.name) ?? 0) >= 10
        }
        _ = try harness.sql("INSERT INTO t SELECT value, 'y' FROM generate_series(11, 30);")
        try eventually(timeout: .seconds(20), "the count moves to 30") {
            (metric(try get(port, "/metrics").body, "siphon_events_written_total", pipeline: harness.name) ?? 0) >= 30
        }
        let metrics = try get(port, "/metrics").body
        XCTAssertNotNil(metric(metrics, "siphon_bytes_written_total", pipeline: harness.name), metrics)
        XCTAssertEqual(metric(metrics, "siphon_pipeline_ready", pipeline: harness.name), 1, metrics)
        let creates = metrics.split(separator: "\n").first {
            $0.hasPrefix("siphon_events_total{") && $0.contains("pipeline=\"\(harness.name)\"") && $0.contains("op=\"c\"")
                && $0.contains("table=\"main.t\"")
        }
        XCTAssertEqual(creates.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }, 30, metrics)
        try eventually(timeout: .seconds(10), "a checkpoint in /status") {
            let status = try JSONSerialization.jsonObject(with: Data(try get(port, "/status").body.utf8)) as? [String: Any]
            let pipeline = (status?["pipelines"] as? [[String: Any]])?.first
            return pipeline?["name"] as? String == harness.name && pipeline?["state"] as? String == "running"
                && (pipeline?["events_written"] as? Int ?? 0) >= 30 && pipeline?["checkpoint"] is String
        }
        XCTAssertEqual(try get(port, "/nothing").status, 404)
        process.signal(SIGTERM)
        XCTAssertEqual(try process.waitForExit(timeout: .seconds(15)), 0, process.stderrText)
    }

    /// While the sink fails (a full disk) the pipeline waits between
    /// restarts: not ready, with the error in /status; ready again once
    /// space is freed.
    func testReadyzFailsWhileTheSinkIsDownAndRecovers() throws {
        let disk: SmallDisk
        do {
            disk = try SmallDisk(megabytes: 4)
        } catch {
            throw XCTSkip("\(error)")
        }
        let harness = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT);")
        try harness.writeRetryingConfig(sinkPath: disk.path + "/out/events.jsonl")
        let port = try PostgresBinaries.freeLoopbackPort()
        let process = try SiphonProcess(arguments: ["run", "--config", harness.configPath, "--http", "127.0.0.1:\(port)"])
        _ = try harness.sql("INSERT INTO t SELECT value, 'first' FROM generate_series(1, 100);")
        try eventually(timeout: .seconds(20), "ready") { try get(port, "/readyz").status == 200 }
        try disk.fill()
        _ = try harness.sql("INSERT INTO t SELECT value, hex(randomblob(200)) FROM generate_series(101, 400);")
        try process.waitFor(stderrContaining: "No space left on device", timeout: .seconds(30))
        try eventually(timeout: .seconds(20), "not ready while the sink fails") {
            let ready = try get(port, "/readyz")
            return ready.status == 503 && ready.body.contains(harness.name)
        }
        let status = try get(port, "/status").body
        XCTAssertTrue(status.contains("No space left on device"), status)
        XCTAssertTrue(process.isRunning)
        disk.free()
        try eventually(timeout: .seconds(30), "ready again") { try get(port, "/readyz").status == 200 }
        process.signal(SIGTERM)
        XCTAssertEqual(try process.waitForExit(timeout: .seconds(15)), 0, process.stderrText.suffix(2000).description)
    }

    func testABadAddressIsBadConfiguration() throws {
        let harness = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY)", snapshot: "never")
        let result = try SiphonProcess.run(["run", "--config", harness.configPath, "--http", "localhost"])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("--http"), result.stderr)
    }
}
