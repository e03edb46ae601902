import Foundation
import SiphonTestSupport
import XCTest

/// `--log-level` and `--log-format` of `siphon run`.
final class LoggingOptionsTests: XCTestCase {
    func testUnknownLogLevelOrFormatIsBadConfiguration() throws {
        let harness = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY)", snapshot: "never")
        let level = try SiphonProcess.run(["run", "--config", harness.configPath, "--log-level", "verbose"])
        XCTAssertEqual(level.status, 2, level.stderr)
        XCTAssertTrue(level.stderr.contains("--log-level"), level.stderr)
        let format = try SiphonProcess.run(["run", "--config", harness.configPath, "--log-format", "xml"])
        XCTAssertEqual(format.status, 2, format.stderr)
        XCTAssertTrue(format.stderr.contains("--log-format"), format.stderr)
        let environment = try SiphonProcess.run(["run", "--config", harness.configPath], environment: ["SIPHON_LOG_LEVEL": "loud"])
        XCTAssertEqual(environment.status, 2, environment.stderr)
        XCTAssertTrue(environment.stderr.contains("SIPHON_LOG_LEVEL"), environment.stderr)
        let unknown = try SiphonProcess.run(["run", "--config", harness.configPath, "--no-such-option"])
        XCTAssertEqual(unknown.status, 2, "the argument parser's usage errors exit 2 too: \(unknown.stderr)")
    }

    /// Every line a JSON object with the fields log collectors index.
    func testJSONLogsAreOneObjectPerLine() throws {
        let harness = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", snapshot: "never")
        let process = try SiphonProcess(arguments: ["run", "--config", harness.configPath, "--log-format", "json",
                                                    "--log-level", "info"])
        try process.waitFor(stderrContaining: "capturing", timeout: .seconds(30))
        _ = try harness.sql("INSERT INTO t VALUES (1, 'a \"quoted\"\nline');")
        _ = try harness.waitForEvents("one row", process: process) { $0.count >= 1 }
        process.signal(SIGTERM)
        XCTAssertEqual(try process.waitForExit(timeout: .seconds(15)), 0, process.stderrText)
        let lines = process.stderrText.split(separator: "\n")
        XCTAssertGreaterThan(lines.count, 2)
        for line in lines {
            let object = try XCTUnwrap(try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                                       "not a JSON object: \(line)")
            XCTAssertNotNil(object["ts_ms"] as? Int, String(line))
            XCTAssertNotNil(object["level"] as? String, String(line))
            XCTAssertNotNil(object["message"] as? String, String(line))
        }
        let pipelineLines = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["pipeline"] as? String == harness.name }
        XCTAssertFalse(pipelineLines.isEmpty, "records of the pipeline name it")
        XCTAssertTrue(pipelineLines.contains { $0["connector"] as? String == "SQLiteSource" }, "the source's records name it")
    }
}
