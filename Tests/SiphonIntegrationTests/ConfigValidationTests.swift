import Foundation
import SiphonTestSupport
import XCTest

/// `siphon validate` and `siphon run` on bad pipeline files: exit 2 and one line per problem.
final class ConfigValidationTests: XCTestCase {
    private func validate(_ yaml: String, environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/pipeline.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return try SiphonProcess.run(["validate", "--config", path], environment: environment)
    }

    func testExampleConfigsAreValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = root.appendingPathComponent("Config").path
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".yaml") }
        XCTAssertFalse(files.isEmpty)
        // Validate checks that an SQLite source's database exists: run where the example's ./shop.db does.
        let work = try TemporaryDirectory()
        let created = try SiphonProcess.run(executable: "/usr/bin/sqlite3",
                                            arguments: [work.appending("shop.db"), "PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY);"])
        XCTAssertEqual(created.status, 0, created.stderr)
        let result = try SiphonProcess.run(["validate", "--config", folder], environment: ["PGPASSWORD": "example"],
                                           currentDirectory: work.path)
        XCTAssertEqual(result.status, 0, result.stderr)
        for file in files { XCTAssertTrue(result.stdout.contains(file), result.stdout) }
    }

    func testEveryProblemAtOnceWithKeyPaths() throws {
        let result = try validate("""
            version: 1
            name: orders
            source:
              type: postgres
              url: "host=127.0.0.1 dbname=app"
              tables: public.*
              snapshot: always
              slott: x
            sink:
              type: file
            extra: 1
            """)
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("source.slot: required"), result.stderr)
        XCTAssertTrue(result.stderr.contains("source.snapshot: must be one of initial, never"), result.stderr)
        XCTAssertTrue(result.stderr.contains("source.slott: unknown key (did you mean 'slot'?)"), result.stderr)
        XCTAssertTrue(result.stderr.contains("sink.path: required"), result.stderr)
        XCTAssertTrue(result.stderr.contains("extra: unknown key"), result.stderr)
        XCTAssertFalse(result.stderr.contains("Fatal error"), result.stderr)
    }

    func testWrongTypesAndBadYAMLAndUnknownType() throws {
        let wrongTypes = try validate("""
            version: one
            name: orders
            source: [1, 2]
            sink:
              type: kafka
            """)
        XCTAssertEqual(wrongTypes.status, 2)
        XCTAssertTrue(wrongTypes.stderr.contains("version: must be an integer"), wrongTypes.stderr)
        XCTAssertTrue(wrongTypes.stderr.contains("source: must be a mapping"), wrongTypes.stderr)

        let unknownSink = try validate("""
            version: 1
            name: orders
            source:
              type: postgres
              url: "host=127.0.0.1 dbname=app"
              slot: s
            sink:
              type: kafak
            """)
        XCTAssertEqual(unknownSink.status, 2)
        XCTAssertTrue(unknownSink.stderr.contains("sink.type: unknown sink type 'kafak'"), unknownSink.stderr)

        let badYAML = try validate("version: 1\nname: [unclosed\n")
        XCTAssertEqual(badYAML.status, 2)
        XCTAssertTrue(badYAML.stderr.contains("line"), badYAML.stderr)
        XCTAssertEqual(badYAML.stderr.split(separator: "\n").count, 1, badYAML.stderr)
    }

    func testUndefinedVariableIsAnErrorAndValuesStaySecret() throws {
        let yaml = """
            version: 1
            name: orders
            source:
              type: postgres
              url: "host=127.0.0.1 dbname=app password=${SECRET_PW} user=${UNDEFINED_USER}"
              slot: "${SECRET_PW}"
            sink:
              type: file
              path: ./out.jsonl
            """
        let result = try validate(yaml, environment: ["SECRET_PW": "Hunter2-Secret!"])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("source.url: environment variable UNDEFINED_USER is not set"), result.stderr)
        XCTAssertTrue(result.stderr.contains("source.slot"), result.stderr)
        XCTAssertFalse(result.stderr.contains("Hunter2-Secret!"), result.stderr)
        XCTAssertFalse(result.stdout.contains("Hunter2-Secret!"))
    }

    func testMissingFileAndRunExitsTwoToo() throws {
        let missing = try SiphonProcess.run(["validate", "--config", "/nonexistent/pipeline.yaml"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/pipeline.yaml"), missing.stderr)
        let folder = try TemporaryDirectory()
        let path = folder.path + "/p.yaml"
        try "version: 1\nname: x\nsource:\n  type: postgres\nsink:\n  type: file\n  path: out.jsonl\n".write(toFile: path, atomically: true, encoding: .utf8)
        let run = try SiphonProcess.run(["run", "--config", path])
        XCTAssertEqual(run.status, 2)
        XCTAssertTrue(run.stderr.contains("source.url: required"), run.stderr)
    }
}
