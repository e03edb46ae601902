import Foundation
import SiphonTestSupport
import XCTest

/// `siphon validate` on PostgreSQL source keys that read fine but cannot be
/// used as they are.
final class PostgresConfigCheckTests: XCTestCase {
    private func validate(url: String, extraSource: String = "", environment: [String: String] = [:])
        throws -> (status: Int32, output: String) {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/pipeline.yaml"
        try """
            version: 1
            name: orders
            source:
              type: postgres
              url: "\(url)"
              slot: orders
            \(extraSource)
            sink:
              type: file
              path: ./out.jsonl

            """.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try SiphonProcess.run(["validate", "--config", path], environment: environment)
        // The file's own (random) path is not output the password could be judged by.
        return (result.status, (result.stdout + result.stderr).replacingOccurrences(of: path, with: "<file>"))
    }

    func testRetryDelaysHaveALowerBoundAndAnOrder() throws {
        let url = "host=127.0.0.1 dbname=app user=u"
        let zero = try validate(url: url, extraSource: "  retry_delay: 0s")
        XCTAssertEqual(zero.status, 2, zero.output)
        XCTAssertTrue(zero.output.contains("source.retry_delay: must be at least 10ms"), zero.output)

        let inverted = try validate(url: url, extraSource: "  retry_delay: 5s\n  max_retry_delay: 1s")
        XCTAssertEqual(inverted.status, 2, inverted.output)
        XCTAssertTrue(inverted.output.contains("source.max_retry_delay: must be at least retry_delay (5s)"), inverted.output)

        let tooSmallMax = try validate(url: url, extraSource: "  max_retry_delay: 1ms")
        XCTAssertEqual(tooSmallMax.status, 2, tooSmallMax.output)
        XCTAssertTrue(tooSmallMax.output.contains("source.max_retry_delay: must be at least retry_delay (500ms)"), tooSmallMax.output)

        let fine = try validate(url: url, extraSource: "  retry_delay: 10ms\n  max_retry_delay: 10ms")
        XCTAssertEqual(fine.status, 0, fine.output)
    }
}
