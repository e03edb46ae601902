import Foundation
import SiphonTestSupport
import XCTest

/// One SQLite pipeline under test: a database file written by the `sqlite3`
/// shell (a separate process, as a legacy application would be), a pipeline
/// file and the events file it produces.
final class SQLiteHarness {
    let folder: TemporaryDirectory
    let name: String
    var databasePath: String { folder.path + "/app.db" }
    var configPath: String { folder.path + "/pipeline.yaml" }
    var outputPath: String { folder.path + "/out/events.jsonl" }
    var statePath: String { folder.path + "/state" }
    static let shell = "/usr/bin/sqlite3"

    private static let counter = LockedCounter()

    /// The pipeline file's `events:` mapping, as YAML lines (`format: cloudevents`).
    let eventOptions: String?

    /// Creates the database in WAL mode (unless `wal` is false) with `setup`.
    init(setup: String, tables: [String] = ["*"], snapshot: String = "initial", wal: Bool = true,
         extraSource: String = "", events: String? = nil) throws {
        folder = try TemporaryDirectory(prefix: "siphon-sqlite")
        name = "sq\(Self.counter.next())"
        eventOptions = events
        try sql((wal ? "PRAGMA journal_mode=WAL;\n" : "") + setup)
        try writeConfig(tables: tables, snapshot: snapshot, extraSource: extraSource)
    }

    func writeConfig(tables: [String], snapshot: String, extraSource: String = "", path: String? = nil) throws {
        let yaml = """
            version: 1
            name: \(name)
            \(eventOptions.map { "events:\n  " + $0.replacingOccurrences(of: "\n", with: "\n  ") } ?? "")
            source:
              type: sqlite
              path: \(path ?? databasePath)
              tables: [\(tables.map { "\"\($0)\"" }.joined(separator: ", "))]
              snapshot: \(snapshot)
            \(extraSource)
            sink:
              type: file
              path: \(outputPath)
            state:
              path: \(statePath)

            """
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// A pipeline file with quick restarts (50ms, up to 400ms) into the file
    /// sink at `sinkPath`, for tests of failures and recovery; written to
    /// `path` (default: this harness's config path) under `name`.
    func writeRetryingConfig(sinkPath: String, to path: String? = nil, name: String? = nil) throws {
        let yaml = """
            version: 1
            name: \(name ?? self.name)
            retry_delay: 50ms
            max_retry_delay: 400ms
            source:
              type: sqlite
              path: \(databasePath)
              tables: ["*"]
            sink:
              type: file
              path: \(sinkPath)
            state:
              path: \(statePath)

            """
        try yaml.write(toFile: path ?? configPath, atomically: true, encoding: .utf8)
    }

    /// Runs SQL through the sqlite3 shell, waiting up to 10 s for locks.
    @discardableResult
    func sql(_ statements: String) throws -> String {
        let result = try SiphonProcess.run(executable: Self.shell, arguments: ["-cmd", ".timeout 10000", databasePath, statements],
                                          timeout: .seconds(60))
        guard result.status == 0 else {
            throw TestSupportError("sqlite3 failed (\(result.status)): \(result.stderr)\nSQL: \(statements.prefix(500))")
        }
        return result.stdout
    }

    /// Like `sql`, but returns the exit status and stderr instead of throwing.
    func trySQL(_ statements: String) throws -> (status: Int32, stderr: String) {
        let result = try SiphonProcess.run(executable: Self.shell, arguments: ["-cmd", ".timeout 10000", databasePath, statements],
                                          timeout: .seconds(60))
        return (result.status, result.stderr)
    }

    func start() throws -> SiphonProcess {
        try SiphonProcess(arguments: ["run", "--config", configPath], environment: ["SIPHON_LOG_LEVEL": "debug"])
    }

    /// Kills `process` with SIGKILL `times` times, each after `pause(round)`
    /// seconds, starting `siphon run` again each time; returns the last one.
    func killNine(_ process: SiphonProcess, times: Int, pause: (Int) -> TimeInterval) throws -> SiphonProcess {
        var process = process
        for round in 0..<times {
            Thread.sleep(forTimeInterval: pause(round))
            process.signal(SIGKILL)
            _ = try process.waitForExit(timeout: .seconds(10))
            process = try start()
        }
        return process
    }

    func siphon(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try SiphonProcess.run(arguments)
    }

    func events() throws -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: outputPath) else { return [] }
        return try data.split(separator: UInt8(ascii: "\n")).map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw TestSupportError("not a JSON object: \(String(decoding: line, as: UTF8.self))")
            }
            return object
        }
    }

    /// Schema-change events: Debezium's shape, told apart by `tableChanges` (they have no `op`).
    func schemaEvents() throws -> [[String: Any]] {
        try events().filter { $0["tableChanges"] != nil }
    }

    func rowEvents() throws -> [[String: Any]] {
        try events().filter { ["c", "u", "d", "r"].contains($0["op"] as? String ?? "") }
    }

    /// Waits until `condition` holds for the events in the file.
    @discardableResult
    func waitForEvents(_ what: String, process: SiphonProcess?, timeout: Duration = .seconds(30),
                       until condition: ([[String: Any]]) -> Bool) throws -> [[String: Any]] {
        var latest: [[String: Any]] = []
        do {
            try eventually(timeout: timeout, what) {
                if let process, !process.isRunning {
                    throw TestSupportError("siphon exited early:\n\(process.stderrText.suffix(3000))")
                }
                latest = try events()
                return condition(latest)
            }
        } catch {
            throw TestSupportError("\(error); have \(latest.count) events; siphon stderr:\n\(process?.stderrText.suffix(3000) ?? "")")
        }
        return latest
    }

    func waitForRowEvents(_ count: Int, process: SiphonProcess?, timeout: Duration = .seconds(30)) throws -> [[String: Any]] {
        try waitForEvents("\(count) row events", process: process, timeout: timeout) { events in
            events.filter { ["c", "u", "d", "r"].contains($0["op"] as? String ?? "") }.count >= count
        }.filter { ["c", "u", "d", "r"].contains($0["op"] as? String ?? "") }
    }

    func stop(_ process: SiphonProcess, file: StaticString = #filePath, line: UInt = #line) throws {
        process.signal(SIGTERM)
        let status = try process.waitForExit(timeout: .seconds(30))
        XCTAssertEqual(status, 0, "siphon exit status; stderr:\n\(process.stderrText.suffix(3000))", file: file, line: line)
    }
}
