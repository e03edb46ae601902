import Foundation
import SiphonTestSupport
import XCTest

/// Hostile or careless pipeline files: `siphon validate` answers promptly with exit 2 and one
/// clear line per problem, never a crash, a stack trace or minutes of work.
final class ConfigHardeningTests: XCTestCase {
    /// Runs `siphon validate` on `yaml`. A hang counts as a failure: the child is killed and
    /// the call throws after `timeout`, which is far above the milliseconds a refusal takes.
    /// `siphon validate` on `yaml`, run in a folder that holds `app.db`, an
    /// SQLite database in WAL mode (validate checks that the source exists).
    private func validate(_ yaml: String, timeout: Duration = .seconds(30),
                          environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let folder = try TemporaryDirectory()
        try createDatabase(in: folder)
        let path = folder.path + "/pipeline.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return try SiphonProcess.run(["validate", "--config", path], environment: environment,
                                     currentDirectory: folder.path, timeout: timeout)
    }

    private func createDatabase(in folder: TemporaryDirectory) throws {
        let result = try SiphonProcess.run(executable: "/usr/bin/sqlite3",
                                           arguments: [folder.appending("app.db"), "PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY);"])
        guard result.status == 0 else { throw TestSupportError("sqlite3: \(result.stderr)") }
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

    // MARK: - YAML types

    private func sqlitePipeline(_ sourceKeys: String) -> String {
        """
        version: 1
        name: typed
        source:
          type: sqlite
          path: ./app.db
        \(sourceKeys.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        sink:
          type: file
          path: ./out.jsonl

        """
    }

    func testANumberIsNotATablePattern() throws {
        let result = try validate(sqlitePipeline("tables: 5"))
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains(#"source.tables: must be a list of strings, not a number; quote it ("5")"#), result.stderr)
    }

    func testEveryKindOfTypeMismatchIsReported() throws {
        let result = try validate(sqlitePipeline("""
            tables: [orders, 2024]
            batch_size: "500"
            cleanup_batch: 2.5
            enable_wal: "yes"
            poll_interval: true
            snapshot: no
            """))
        XCTAssertEqual(result.status, 2, result.stderr)
        for expected in [
            #"source.tables[1]: must be a string, not a number; quote it ("2024") if you mean the text"#,
            "source.batch_size: must be an integer, not a string; write 500 without quotes",
            "source.cleanup_batch: must be an integer (got '2.5')",
            "source.enable_wal: must be true or false, not a string; write yes without quotes",
            "source.poll_interval: must be a duration such as 500ms, 5s, 2m or 1h, not a boolean (got 'true')",
            "source.snapshot: must be one of initial, never, not a boolean (got 'no')",
        ] {
            XCTAssertTrue(result.stderr.contains(expected), "missing \(expected) in:\n\(result.stderr)")
        }
        XCTAssertEqual(lines(result.stderr).count, 6, result.stderr)
    }

    func testValuesFromTheEnvironmentAreParsedFromTheirText() throws {
        let result = try validate(sqlitePipeline("batch_size: ${N}\nenable_wal: ${WAL}\ntables: [\"${T}\"]"),
                                  environment: ["N": "500", "WAL": "true", "T": "42"])
        XCTAssertEqual(result.status, 0, result.stderr)
    }

    /// The `events:` mapping (how events are written) is checked like every
    /// other: each problem on its line, with the choices and a suggestion.
    func testEventOptionsAreCheckedLikeEveryKey() throws {
        let result = try validate(sqlitePipeline("") + """
            events:
              format: cloudevent
              json: true
              colour: blue

            """)
        XCTAssertEqual(result.status, 2, result.stderr)
        for expected in [
            "events.format: must be one of debezium, cloudevents (got 'cloudevent'); did you mean 'cloudevents'?",
            "events.json: must be one of string, embed, not a boolean (got 'true')",
            "events.colour: unknown key",
        ] {
            XCTAssertTrue(result.stderr.contains(expected), "missing \(expected) in:\n\(result.stderr)")
        }
        XCTAssertEqual(lines(result.stderr).count, 3, result.stderr)
        XCTAssertEqual(try validate(sqlitePipeline("") + "events: {format: cloudevents}\n").status, 0)
    }

    // MARK: - Shared state folders

    /// One folder named two ways (relative, and absolute through a symbolic link) by two files.
    func testTwoFilesWithOneStateFolderAreBothReported() throws {
        let folder = try TemporaryDirectory()
        try createDatabase(in: folder)
        try FileManager.default.createDirectory(atPath: folder.appending("shared"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: folder.appending("link"), withDestinationPath: folder.appending("shared"))
        func write(_ name: String, state: String) throws -> String {
            let path = folder.appending("\(name).yaml")
            try """
                version: 1
                name: \(name)
                source: {type: sqlite, path: ./app.db}
                sink: {type: file, path: ./\(name).jsonl}
                state: {path: "\(state)"}

                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let first = try write("first", state: "./shared/state")
        let second = try write("second", state: folder.appending("link/./state"))
        let result = try SiphonProcess.run(["validate", "--config", first, second], currentDirectory: folder.path)
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("\(first): state.path: the state folder './shared/state'"), result.stderr)
        XCTAssertTrue(result.stderr.contains("is also the state folder of pipeline 'second' in \(second)"), result.stderr)
        XCTAssertTrue(result.stderr.contains("\(second): state.path:"), result.stderr)
        XCTAssertTrue(result.stderr.contains("is also the state folder of pipeline 'first' in \(first)"), result.stderr)
        XCTAssertEqual(lines(result.stderr).count, 2, result.stderr)
    }
}
