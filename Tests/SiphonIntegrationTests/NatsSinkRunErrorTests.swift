import Foundation
import SiphonTestSupport
import XCTest

/// `siphon run` into NATS with bad credentials or no server: the line that
/// says what to fix, the exit status, and the password nowhere in the output.
final class NatsSinkRunErrorTests: PostgresTestCase {
    static let secret = "hunter2-nats-secret"

    func testWrongCredentialsStopThePipelineWithoutPrintingThem() throws {
        let nats = try NatsServer.start(user: "siphon", password: "the-right-one")
        let pipeline = try PipelineHarness(server: server, tables: ["public.t"], snapshot: "never",
                                           setup: "CREATE TABLE t (id int PRIMARY KEY);",
                                           sink: "type: nats\nurl: \(nats.url)\nstream: S\nuser: siphon\npassword: \"\(Self.secret)\"")
        let process = try pipeline.start()
        let status = try process.waitForExit(timeout: .seconds(60))
        XCTAssertEqual(status, 1, process.stderrText)
        XCTAssertTrue(process.stderrText.contains("refused the credentials"), process.stderrText)
        XCTAssertTrue(process.stderrText.contains("check sink.user and sink.password"), process.stderrText)
        XCTAssertFalse((process.stderrText + process.stdoutText).contains(Self.secret))
    }

    func testAnUnreachableServerIsRetriedWithAClearLine() throws {
        let port = try NatsServer.start().port  // released at once: nothing listens there
        let pipeline = try PipelineHarness(server: server, tables: ["public.t"], snapshot: "never",
                                           setup: "CREATE TABLE t (id int PRIMARY KEY);",
                                           sink: "type: nats\nurl: nats://siphon:\(Self.secret)@127.0.0.1:\(port)\nstream: S")
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "cannot reach NATS at nats://127.0.0.1:\(port)", timeout: .seconds(30))
        Thread.sleep(forTimeInterval: 1)
        XCTAssertTrue(process.isRunning, "an unreachable server is transient: Siphon keeps trying")
        try pipeline.stop(process)
        XCTAssertFalse((process.stderrText + process.stdoutText).contains(Self.secret))
    }
}
