import Foundation
import NatsTesting
import SiphonTestSupport
import XCTest

/// `siphon check` on NATS sinks: the server reached or not, credentials,
/// the stream's subjects; one line each, exit 1 on a failure, the password
/// never printed, and no stream created.
final class NatsCheckCommandTests: PostgresTestCase {
    private let secret = "Ch3ck-Nats-pw"

    private func check(_ pipeline: PipelineHarness) throws -> (status: Int32, stdout: String, stderr: String) {
        try SiphonProcess.run(["check", "--config", pipeline.configPath], environment: PipelineHarness.environment,
                              timeout: .seconds(60))
    }

    func testAReachableServerPassesAndNothingIsCreated() throws {
        let nats = try NatsServer.start(user: "siphon", password: secret)
        let pipeline = try PipelineHarness(server: server, setup: "CREATE TABLE t (id int PRIMARY KEY)",
                                           sink: "type: nats\nurl: \(nats.url)\nstream: CHECKED\nuser: siphon\npassword: \"\(secret)\"")
        let result = try check(pipeline)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("PASS sink server: reached \(nats.url), JetStream answers"), result.stdout)
        XCTAssertTrue(result.stdout.contains("PASS sink stream: CHECKED does not exist yet; the sink creates it taking \(pipeline.name).>"),
                      result.stdout)
        XCTAssertNil(try nats.client().configuration(stream: "CHECKED"), "check created the stream")
        XCTAssertFalse((result.stdout + result.stderr).contains(secret))
    }

    func testWrongCredentialsAnUnreachableServerAndANarrowStreamFail() throws {
        let nats = try NatsServer.start(user: "siphon", password: "the-right-one")
        let wrong = try PipelineHarness(server: server, setup: "CREATE TABLE t (id int PRIMARY KEY)",
                                        sink: "type: nats\nurl: \(nats.url)\nstream: S\nuser: siphon\npassword: \"\(secret)\"")
        let refused = try check(wrong)
        XCTAssertEqual(refused.status, 1, refused.stdout)
        XCTAssertTrue(refused.stdout.contains("FAIL sink server: NATS at \(nats.url) refused the credentials"), refused.stdout)
        XCTAssertFalse((refused.stdout + refused.stderr).contains(secret))

        let port = try NatsServer.start().port  // released at once: nothing listens there
        let unreachable = try PipelineHarness(server: server, setup: "CREATE TABLE t (id int PRIMARY KEY)",
                                              sink: "type: nats\nurl: nats://127.0.0.1:\(port)\nstream: S")
        let down = try check(unreachable)
        XCTAssertEqual(down.status, 1, down.stdout)
        XCTAssertTrue(down.stdout.contains("FAIL sink server: cannot reach NATS at nats://127.0.0.1:\(port)"), down.stdout)

        let open = try NatsServer.start()
        try open.client().createStream("NARROW", subjects: ["elsewhere.>"])
        let narrow = try PipelineHarness(server: server, setup: "CREATE TABLE t (id int PRIMARY KEY)",
                                         sink: "type: nats\nurl: \(open.url)\nstream: NARROW")
        let mismatch = try check(narrow)
        XCTAssertEqual(mismatch.status, 1, mismatch.stdout)
        XCTAssertTrue(mismatch.stdout.contains("FAIL sink stream: stream NARROW takes the subjects elsewhere.>"), mismatch.stdout)
    }
}
