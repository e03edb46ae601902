import Foundation
import SiphonTestSupport
import XCTest

/// Hostile or careless pipeline files: `siphon validate` answers promptly with exit 2 and one
/// clear line per problem, never a crash, a stack trace or minutes of work.
final class ConfigHardeningTests: XCTestCase {
    /// Runs `siphon validate` on `yaml`. A hang counts as a failure: the child is killed and
    /// the call throws after `timeout`, which is far above the milliseconds a refusal takes.
    private func validate(_ yaml: String, timeout: Duration = .seconds(30)) throws -> (status: Int32, stdout: String, stderr: String) {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/pipeline.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return try SiphonProcess.run(["validate", "--config", path], timeout: timeout)
    }

    private func lines(_ text: String) -> [Substring] {
        text.split(separator: "\n")
    }

    // MARK: - YAML bombs

    /// The classic "billion laughs": nine levels of nine aliases, 9^9 strings once expanded.
    func testAliasBombIsRefusedPromptly() throws {
        var yaml = "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n"
        let names = Array("abcdefghi")
        for (previous, name) in zip(names, names.dropFirst()) {
            yaml += "\(name): &\(name) [\(Array(repeating: "*\(previous)", count: 9).joined(separator: ","))]\n"
        }
        let result = try validate(yaml)
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertEqual(lines(result.stderr).count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("alias"), result.stderr)
        XCTAssertTrue(result.stderr.contains("line "), result.stderr)
    }

    func testDeepNestingIsRefusedNotACrash() throws {
        for yaml in [String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000),
                     "version: 1\nname: deep\nsource: " + String(repeating: "{a: ", count: 5_000) + "1" + String(repeating: "}", count: 5_000)] {
            let result = try validate(yaml)
            XCTAssertEqual(result.status, 2, result.stderr)
            XCTAssertEqual(lines(result.stderr).count, 1, result.stderr)
            XCTAssertTrue(result.stderr.contains("nested more than 64 levels"), result.stderr)
        }
    }

    func testSmallAnchorsStillWork() throws {
        let result = try validate("""
            version: 1
            name: anchors
            source:
              type: postgres
              url: "host=127.0.0.1 dbname=app"
              slot: &slot orders
              publication: *slot
              retry_delay: &delay 1s
              max_retry_delay: *delay
            sink:
              type: file
              path: ./out.jsonl
            """)
        XCTAssertEqual(result.status, 0, result.stderr)
    }
}
