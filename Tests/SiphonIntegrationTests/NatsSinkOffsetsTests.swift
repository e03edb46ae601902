import Foundation
import NatsTesting
import SiphonTestSupport
import XCTest

/// `siphon offsets show` and `offsets reset` on a pipeline into NATS: the
/// stream's tail is the sink's position, and a reset starts over after it.
final class NatsSinkOffsetsTests: PostgresTestCase {
    func testOffsetsShowTheStreamsTailAndAResetStartsOverAfterIt() throws {
        let nats = try NatsServer.start()
        let pipeline = try PipelineHarness(server: server, tables: ["public.t"], snapshot: "initial",
                                           setup: "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10);",
                                           sink: "type: nats\nurl: \(nats.url)\nstream: OFFSETS")
        let client = try nats.client()
        let empty = try SiphonProcess.run(["offsets", "show", "--config", pipeline.configPath], environment: PipelineHarness.environment)
        XCTAssertEqual(empty.status, 0, empty.stderr)
        XCTAssertTrue(empty.stdout.contains("the nats sink holds no events"), empty.stdout)
        XCTAssertNil(try client.configuration(stream: "OFFSETS"), "offsets show created the stream")

        // A schema event, 10 snapshot rows, then the insert.
        let first = try pipeline.start()
        try first.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.sql("INSERT INTO t VALUES (11);")
        try eventually(timeout: .seconds(60), "12 messages") { try client.messages(stream: "OFFSETS").count >= 12 }
        try pipeline.stop(first)
        let last = try XCTUnwrap(client.messages(stream: "OFFSETS").last?.headers["siphon-id"])
        let shown = try SiphonProcess.run(["offsets", "show", "--config", pipeline.configPath], environment: PipelineHarness.environment)
        XCTAssertEqual(shown.status, 0, shown.stderr)
        XCTAssertTrue(shown.stdout.contains("the nats sink holds events up to \(last)"), shown.stdout)

        let reset = try SiphonProcess.run(["offsets", "reset", "--config", pipeline.configPath, "--to", "beginning", "--yes"], environment: PipelineHarness.environment)
        XCTAssertEqual(reset.status, 0, reset.stderr)
        XCTAssertTrue(reset.stdout.contains("after what the sink holds (up to \(last))"), reset.stdout)
        let second = try pipeline.start()
        try second.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.sql("INSERT INTO t VALUES (12);")
        // The 12 messages kept, then a schema event, a new snapshot of 11 rows and the insert.
        try eventually(timeout: .seconds(60), "25 messages") { try client.messages(stream: "OFFSETS").count >= 25 }
        try pipeline.stop(second)
        let messages = try client.messages(stream: "OFFSETS")
        XCTAssertEqual(messages.map { $0.headers["siphon-op"] ?? "schema" },
                       ["schema"] + Array(repeating: "r", count: 10) + ["c", "schema"] + Array(repeating: "r", count: 11) + ["c"])
        let ids = messages.compactMap { $0.headers["siphon-id"] }
        XCTAssertEqual(Set(ids).count, ids.count, "an event id after the reset repeats one from before it")
    }
}
