import Foundation
import SiphonTestSupport
import XCTest

/// `siphon validate` on NATS sinks: offline (no server is reached), bad
/// keys named, exit 2, secrets never printed.
final class NatsSinkValidationTests: XCTestCase {
    private func validate(_ sink: String, name: String = "orders") throws -> (status: Int32, stdout: String, stderr: String) {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/pipeline.yaml"
        try """
            version: 1
            name: \(name)
            source:
              type: postgres
              url: "host=127.0.0.1 dbname=app"
              slot: s
              tables: public.*
            sink:
            \(sink.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return try SiphonProcess.run(["validate", "--config", path])
    }

    func testAValidNatsSinkValidatesWithoutAServer() throws {
        let result = try validate("""
            type: nats
            url: nats://127.0.0.1:1
            stream: ORDERS
            user: siphon
            password: "hunter2-very-secret"
            """)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertFalse((result.stdout + result.stderr).contains("hunter2"))
    }

    func testBadNatsKeysExitTwoNamingEachKey() throws {
        let result = try validate("""
            type: nats
            url: nats://127.0.0.1:1
            stream: {name: ORDERS, subjects: ["{prefix}.*.*"]}
            subject: "{prefix}.{tabel}"
            password: "hunter2-very-secret"
            token: "hunter2-token"
            max_pending: -5
            """)
        XCTAssertEqual(result.status, 2, result.stdout + result.stderr)
        let text = result.stdout + result.stderr
        for key in ["sink.subject", "sink.user", "sink.token", "sink.max_pending"] {
            XCTAssertTrue(text.contains(key), "\(key) not named in: \(text)")
        }
        XCTAssertFalse(text.contains("hunter2"), text)
    }

    /// Static checks: a stream the sink would create that does not take its subjects.
    func testSubjectsTheStreamWouldNotTakeExitTwo() throws {
        let result = try validate("""
            type: nats
            url: nats://127.0.0.1:1
            stream: {name: ORDERS, subjects: ["{prefix}.*.*"]}
            """)
        XCTAssertEqual(result.status, 2, result.stdout + result.stderr)
        XCTAssertTrue((result.stdout + result.stderr).contains("sink.schema_subject"), result.stdout + result.stderr)
    }
}
