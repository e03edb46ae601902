import Foundation
import SiphonTestSupport
import XCTest

/// One pipeline under test: its own database on a shared throwaway server,
/// a pipeline file in a temporary folder, and the events file it writes.
final class PipelineHarness {
    let server: PostgresServer
    let database: String
    let folder: TemporaryDirectory
    let name: String
    var configPath: String { folder.path + "/pipeline.yaml" }
    var outputPath: String { folder.path + "/out/events.jsonl" }
    var statePath: String { folder.path + "/state" }
    /// The pipeline file's `sink:` mapping, as YAML lines; nil: a file sink writing `outputPath`.
    let sink: String?

    private static let counter = LockedCounter()

    /// Creates a fresh database and writes a pipeline file for it.
    init(server: PostgresServer, tables: [String] = ["public.*"], snapshot: String = "initial",
         extraSource: String = "", setup: String? = nil, sink: String? = nil) throws {
        self.server = server
        self.sink = sink
        let number = Self.counter.next()
        name = "p\(number)_\(getpid())"
        database = "db_\(name)"
        folder = try TemporaryDirectory()
        try server.createDatabase(database)
        if let setup { try server.psql(setup, database: database) }
        try writeConfig(tables: tables, snapshot: snapshot, extraSource: extraSource)
    }

    func writeConfig(tables: [String], snapshot: String, extraSource: String = "", url: String? = nil) throws {
        let tableList = tables.map { "\"\($0)\"" }.joined(separator: ", ")
        let yaml = """
            version: 1
            name: \(name)
            source:
              type: postgres
              url: "\(url ?? "host=127.0.0.1 port=\(server.port) dbname=\(database) user=postgres password=${TEST_PGPASSWORD}")"
              slot: slot_\(name)
              publication: pub_\(name)
              tables: [\(tableList)]
              snapshot: \(snapshot)
              status_interval: 1s
              retry_delay: 100ms
              max_retry_delay: 1s
            \(extraSource)
            sink:
              \(sink?.replacingOccurrences(of: "\n", with: "\n  ") ?? "type: file\n  path: \(outputPath)")
            state:
              path: \(statePath)

            """
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    static let environment = ["TEST_PGPASSWORD": "postgres", "SIPHON_LOG_LEVEL": "debug"]

    func start(environment: [String: String] = PipelineHarness.environment) throws -> SiphonProcess {
        try SiphonProcess(arguments: ["run", "--config", configPath], environment: environment)
    }

    func sql(_ statement: String) throws {
        try server.psql(statement, database: database)
    }

    /// Every complete line of the events file, parsed.
    func events() throws -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: outputPath) else { return [] }
        var result: [[String: Any]] = []
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw TestSupportError("not a JSON object: \(String(decoding: line, as: UTF8.self))")
            }
            result.append(object)
        }
        return result
    }

    /// Row events only (op c/u/d/r/t), the way a Debezium consumer reads them.
    func rowEvents() throws -> [[String: Any]] {
        try events().filter { ["c", "u", "d", "r", "t"].contains($0["op"] as? String ?? "") }
    }

    /// Waits until at least `count` row events are in the file, then returns them.
    @discardableResult
    func waitForRowEvents(_ count: Int, timeout: Duration = .seconds(60), process: SiphonProcess? = nil) throws -> [[String: Any]] {
        var latest: [[String: Any]] = []
        do {
            try eventually(timeout: timeout, "\(count) row events in \(outputPath)") {
                latest = try rowEvents()
                if let process, !process.isRunning {
                    throw TestSupportError("siphon exited early:\n\(process.stderrText.suffix(3000))")
                }
                return latest.count >= count
            }
        } catch {
            throw TestSupportError("\(error); have \(latest.count); siphon stderr:\n\(process?.stderrText.suffix(4000) ?? "")")
        }
        return latest
    }

    /// Stops siphon gracefully and checks it exited 0.
    func stop(_ process: SiphonProcess, file: StaticString = #filePath, line: UInt = #line) throws {
        process.signal(SIGTERM)
        let status = try process.waitForExit(timeout: .seconds(30))
        XCTAssertEqual(status, 0, "siphon exit status; stderr:\n\(process.stderrText.suffix(3000))", file: file, line: line)
    }

    deinit {
        // Free the slot so the shared server does not keep WAL for it.
        _ = try? server.psql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'slot_\(name)' AND NOT active")
    }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}

/// Starts one server per test class.
class PostgresTestCase: XCTestCase {
    nonisolated(unsafe) static var servers: [String: PostgresServer] = [:]

    var server: PostgresServer {
        get throws {
            let key = String(describing: type(of: self))
            if let server = Self.servers[key] { return server }
            let server = try PostgresServer.start()
            Self.servers[key] = server
            return server
        }
    }

    override class func tearDown() {
        servers[String(describing: self)] = nil
        super.tearDown()
    }
}

extension Dictionary where Key == String, Value == Any {
    subscript(path path: String) -> Any? {
        var current: Any? = self
        for part in path.split(separator: ".") {
            current = (current as? [String: Any])?[String(part)]
        }
        return current
    }
}

/// A psql session running in the background (a writer generating load).
enum ChildProcessRunner {
    static func start(server: PostgresServer, database: String, sql: String) throws -> SiphonProcess {
        try SiphonProcess(executable: URL(fileURLWithPath: "/usr/lib/postgresql/15/bin/psql"),
                          arguments: ["-X", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql,
                                      "host=127.0.0.1 port=\(server.port) dbname=\(database) user=postgres password=postgres"])
    }
}
