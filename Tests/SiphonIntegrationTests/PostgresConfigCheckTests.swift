import Foundation
import SiphonTestSupport
import XCTest

/// `siphon validate` on PostgreSQL source keys that read fine but cannot be
/// used as they are: a URL libpq rejects (never echoed), retry delays.
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

    /// Every run of 3 or more characters of `secret` found in `text`.
    private func fragments(of secret: String, in text: String) -> [String] {
        let characters = Array(secret)
        var found: Set<String> = []
        for start in characters.indices {
            for end in stride(from: start + 3, through: characters.count, by: 1) {
                let piece = String(characters[start..<end])
                if text.contains(piece) { found.insert(piece) }
            }
        }
        return found.sorted()
    }

    func testMalformedURLNeverEchoesAnyPartOfThePassword() throws {
        // A password with a double quote once turned the scrubber's quote state around.
        let password = "Tr0ub4\"dor&3horse"
        let urls = [
            "postgresql://u:${PGPASSWORD}%zz@db.example:5432/app",        // bad percent-encoding
            "postgresql://u:${PGPASSWORD}@[::1/app",                       // unclosed IPv6 bracket
            "postgresql://u:${PGPASSWORD}@db.example:5432/app?x${PGPASSWORD}=1",  // unknown query parameter
            "postgresql://u:${PGPASSWORD}@db.example/app?sslmode",         // parameter without '='
            "postgresql://u:ab/${PGPASSWORD}@db.example:5432/app",         // '/' in the password: host and port would take its parts
            "postgresql://u:${PGPASSWORD}@x@db.example:5432/app",          // '@' in the password: the host would take a part
            "host=db.example user=u password=x ${PGPASSWORD}",             // a conninfo word without '='
            "host=db.example user=u password='${PGPASSWORD}",              // an unterminated quoted value
        ]
        for url in urls {
            let result = try validate(url: url, environment: ["PGPASSWORD": password])
            XCTAssertEqual(result.status, 2, "\(url) is refused: \(result.output)")
            XCTAssertTrue(result.output.contains("source.url: "), result.output)
            XCTAssertEqual(fragments(of: password, in: result.output), [], "\(url): \(result.output)")
        }
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
