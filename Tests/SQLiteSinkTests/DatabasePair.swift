import Foundation
import Logging
import PostgresSink
import PostgresSource
import SQLiteSink
import SQLiteSource
import SiphonCore
import SiphonTestSupport
import Synchronization
import XCTest

/// A database on either side of a pipeline: a PostgreSQL cluster's
/// database or an SQLite file, queried with psql or the sqlite3 shell
/// (both print rows as `a|b|c`, NULL as nothing).
enum Side {
    case postgres(PostgresServer, database: String)
    case sqlite(path: String)

    static func newPostgres(database: String = "app") throws -> Side {
        let server = try PostgresServer.start()
        try server.createDatabase(database)
        return .postgres(server, database: database)
    }

    static func newSQLite(in folder: TemporaryDirectory, name: String, wal: Bool = true) throws -> Side {
        let side = Side.sqlite(path: folder.appending(name))
        if wal { try side.sql("PRAGMA journal_mode=WAL;") }
        return side
    }

    @discardableResult
    func sql(_ statements: String) throws -> String {
        switch self {
        case .postgres(let server, let database):
            return try server.psql(statements, database: database)
        case .sqlite(let path):
            let result = try SiphonProcess.run(executable: "/usr/bin/sqlite3", arguments: ["-cmd", ".timeout 10000", path, statements])
            guard result.status == 0 else { throw TestSupportError("sqlite3 \(path): \(result.stderr)") }
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}

/// A pipeline from `source` to `target` running in this process: the real
/// source connector and the real sink.
final class DatabasePair: @unchecked Sendable {
    let source: Side
    let target: Side
    let folder: TemporaryDirectory
    private var pipeline: Pipeline?
    private var running: Task<Void, any Error>?

    init(source: Side, target: Side, folder: TemporaryDirectory) {
        self.source = source
        self.target = target
        self.folder = folder
    }

    deinit { pipeline?.stop() }

    func start(name: String = "pair") throws {
        let logger = Logger(label: "pair-test")
        let state = try StateDirectory(path: folder.appending("state-\(name)"))
        let from: any Source
        switch source {
        case .postgres(let server, let database):
            from = PostgresSource(configuration: PostgresSourceConfiguration(
                url: server.conninfo(database: database), slot: name, tables: ["public.*"], snapshot: .initial,
                statusInterval: .milliseconds(200), retryDelay: .milliseconds(50)), pipeline: name, state: state, logger: logger)
        case .sqlite(let path):
            from = SQLiteSource(configuration: SQLiteSourceConfiguration(path: path, pollInterval: .milliseconds(20)),
                                pipeline: name, events: EventOptions(), state: state, logger: logger)
        }
        let to: any Sink
        switch target {
        case .postgres(let server, let database):
            to = PostgresSink(configuration: PostgresSinkConfiguration(url: server.conninfo(database: database), batchMaxEvents: 300,
                                                                       batchMaxDelay: .milliseconds(20)), pipeline: name, logger: logger)
        case .sqlite(let path):
            to = SQLiteSink(configuration: SQLiteSinkConfiguration(path: path, batchMaxEvents: 300, batchMaxDelay: .milliseconds(20)),
                            pipeline: name, logger: logger)
        }
        var options = PipelineOptions()
        options.flushInterval = .milliseconds(50)
        options.retryDelay = .milliseconds(50)
        let pipeline = Pipeline(name: name, source: from, sink: to, checkpoints: CheckpointStore(directory: state, pipeline: name),
                                options: options, logger: logger)
        self.pipeline = pipeline
        running = Task { try await pipeline.run() }
    }

    func stop() async throws {
        pipeline?.stop()
        try await running?.value
        pipeline = nil
        running = nil
    }

    /// The error the pipeline stopped with, nil when it is still running
    /// after `timeout` (it is then stopped) or stopped without one.
    func stopReason(within timeout: Duration) async -> (any Error)? {
        guard let running else { return nil }
        let watchdog = Task { [pipeline] in
            try? await Task.sleep(for: timeout)
            pipeline?.stop()
        }
        defer { watchdog.cancel() }
        do {
            try await running.value
            return nil
        } catch {
            return error
        }
    }

    /// Waits until `sourceQuery` on the source reads as `targetQuery` on the
    /// target (and has `rows` lines, when given).
    func waitUntilEqual(source sourceQuery: String, target targetQuery: String? = nil, rows: Int? = nil,
                        timeout: Duration = .seconds(60), file: StaticString = #filePath, line: UInt = #line) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = ("", "")
        while ContinuousClock.now < deadline {
            let left = try source.sql(sourceQuery)
            let right = (try? target.sql(targetQuery ?? sourceQuery)) ?? "(no table yet)"
            last = (left, right)
            if left == right, rows.map({ left.split(separator: "\n").count == $0 }) ?? true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTFail("source and target differ\nsource (\(sourceQuery)):\n\(last.0.prefix(2000))\ntarget (\(targetQuery ?? sourceQuery)):\n\(last.1.prefix(2000))",
                file: file, line: line)
        throw TestSupportError("source and target differ")
    }
}
