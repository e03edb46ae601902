import Foundation
import Logging
import PostgresSink
import PostgresSource
import SiphonCore
import SiphonTestSupport
import Synchronization
import XCTest

/// A source PostgreSQL cluster, a second cluster as the target, and a
/// pipeline (the real PostgreSQL source into the PostgreSQL sink) running
/// in this process. Tables are compared with SQL on both clusters.
final class ReplicaHarness: @unchecked Sendable {
    let source: PostgresServer
    let target: PostgresServer
    let database: String
    let state: TemporaryDirectory
    private var pipeline: Pipeline?
    private var running: Task<Void, any Error>?
    private var finished = Flag()

    init(database: String = "app", sourceSettings: [String: String] = [:]) throws {
        source = try PostgresServer.start(settings: sourceSettings)
        target = try PostgresServer.start()
        self.database = database
        try source.createDatabase(database)
        try target.createDatabase(database)
        state = try TemporaryDirectory()
    }

    /// A test that failed half-way leaves no pipeline running into the next.
    deinit { pipeline?.stop() }

    func sourceSQL(_ sql: String) throws { try source.psql(sql, database: database) }
    func targetSQL(_ sql: String) throws -> String { try target.psql(sql, database: database) }

    var targetURL: String { target.conninfo(database: database) }

    func sinkConfiguration(_ change: (inout PostgresSinkConfiguration) -> Void = { _ in }) -> PostgresSinkConfiguration {
        var configuration = PostgresSinkConfiguration(url: targetURL, batchMaxEvents: 500, batchMaxDelay: .milliseconds(50))
        change(&configuration)
        return configuration
    }

    /// Starts the pipeline `name` from the source's `public` tables into `sink`.
    func start(name: String = "replica", sink: PostgresSinkConfiguration? = nil) throws {
        let logger = Logger(label: "replica-test")
        let sourceConfiguration = PostgresSourceConfiguration(
            url: source.conninfo(database: database), slot: name, tables: ["public.*"], snapshot: .initial,
            statusInterval: .milliseconds(200), retryDelay: .milliseconds(50))
        let stateDirectory = try StateDirectory(path: state.appending(name))
        let source = PostgresSource(configuration: sourceConfiguration, pipeline: name, state: stateDirectory, logger: logger)
        let sink = PostgresSink(configuration: sink ?? sinkConfiguration(), pipeline: name, logger: logger)
        var options = PipelineOptions()
        options.flushInterval = .milliseconds(50)
        options.retryDelay = .milliseconds(50)
        options.maxRetryDelay = .milliseconds(500)
        let pipeline = Pipeline(name: name, source: source, sink: sink,
                                checkpoints: CheckpointStore(directory: stateDirectory, pipeline: name),
                                options: options, logger: logger)
        self.pipeline = pipeline
        let finished = Flag()
        self.finished = finished
        running = Task {
            defer { finished.set() }
            try await pipeline.run()
        }
    }

    func stop() async throws {
        pipeline?.stop()
        try await running?.value
        pipeline = nil
        running = nil
    }

    /// The error the pipeline stopped with, waiting up to `timeout` for it to stop.
    func failure(timeout: Duration = .seconds(60)) async throws -> (any Error)? {
        let deadline = ContinuousClock.now + timeout
        while !finished.isSet, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        guard finished.isSet, let running else { return nil }
        self.running = nil
        pipeline = nil
        if case .failure(let error) = await running.result { return error }
        return nil
    }

    /// `query` on both clusters: equal text, row for row.
    func rows(_ query: String) throws -> (source: String, target: String) {
        (try source.psql(query, database: database), try target.psql(query, database: database))
    }

    /// Waits until `query` reads the same on both clusters (and, when
    /// given, the source side equals `expected`), failing with both sides.
    func waitUntilEqual(_ query: String, expectedRows: Int? = nil, timeout: Duration = .seconds(60),
                        file: StaticString = #filePath, line: UInt = #line) async throws {
        let deadline = ContinuousClock.now + timeout
        var last: (source: String, target: String) = ("", "")
        while ContinuousClock.now < deadline {
            do {
                last = try rows(query)
            } catch {
                // The target table may not be created yet.
                last = ("", "\(error)")
            }
            let countOK = expectedRows.map { last.source.split(separator: "\n").count == $0 } ?? true
            if last.source == last.target, countOK { return }
            if let running, finished.isSet {
                _ = try await running.value
                XCTFail("the pipeline stopped", file: file, line: line)
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTFail("source and target differ for \(query)\nsource:\n\(last.source.prefix(3000))\ntarget:\n\(last.target.prefix(3000))",
                file: file, line: line)
        throw TestSupportError("source and target differ")
    }
}

/// Set once, read from any thread.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
