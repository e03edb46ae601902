import Foundation
import SiphonTestSupport
import XCTest

/// A transaction PostgreSQL streamed before it committed is replayed from
/// its spill file at commit, which can take longer than the walsender waits
/// for a sign of life (wal_sender_timeout).
final class StreamedTransactionReplayTests: XCTestCase {
    func testReplayLongerThanTheWalsenderTimeoutKeepsTheConnection() throws {
        let server = try PostgresServer.start(settings: ["wal_sender_timeout": "2s", "logical_decoding_work_mem": "64kB"])
        let pipeline = try PipelineHarness(server: server, snapshot: "never",
                                           setup: "CREATE TABLE big (id int PRIMARY KEY, label text)")
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        let rows = 150_000
        try pipeline.sql("INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, \(rows)) g")
        try eventually(timeout: .seconds(120), interval: .milliseconds(500), "\(rows) events") {
            if !process.isRunning { throw TestSupportError("siphon exited:\n\(process.stderrText.suffix(3000))") }
            return try DeliveryTests.lineCount(pipeline.outputPath) >= rows + 1
        }
        try pipeline.stop(process)
        XCTAssertFalse(process.stderrText.contains("reconnecting"), "the connection was never lost:\n\(process.stderrText.suffix(3000))")
        XCTAssertEqual(try DeliveryTests.lineCount(pipeline.outputPath), rows + 1)
    }
}
