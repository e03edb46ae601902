import Foundation
import Logging
import SiphonCore
import SiphonTestSupport
@testable import SQLiteSource

/// An SQLite database and a `SQLiteSource` on it run in the test process,
/// with every event it hands over parsed: for checks on the events
/// themselves, without the binary and a sink.
final class SourceRun {
    struct Event {
        var position: Position
        var endsTransaction: Bool
        var line: String
        var json: [String: Any]

        subscript(path: String) -> Any? {
            var current: Any? = json
            for part in path.split(separator: ".") { current = (current as? [String: Any])?[String(part)] }
            return current
        }

        var isSchemaChange: Bool { json["tableChanges"] != nil }
    }

    let folder: TemporaryDirectory
    var database: String { folder.appending("app.db") }
    private(set) var events: [Event] = []
    /// The number of events in each batch handed over.
    private(set) var batchSizes: [Int] = []
    private var queue: EventQueue?
    private var task: Task<Void, any Error>?
    /// Acknowledges each batch as it arrives, as a pipeline does once the sink holds it.
    private var acknowledging: SQLiteSource?

    /// A database in WAL mode made by `setup`.
    init(setup: String) throws {
        folder = try TemporaryDirectory(prefix: "siphon-sqlite-run")
        try sql("PRAGMA journal_mode=WAL;" + setup)
    }

    /// Runs SQL through the sqlite3 shell, another process as the application would be.
    func sql(_ statements: String) throws {
        let result = try SiphonProcess.run(executable: "/usr/bin/sqlite3", arguments: ["-cmd", ".timeout 10000", database, statements])
        guard result.status == 0 else { throw TestSupportError("sqlite3: \(result.stderr)") }
    }

    /// Starts a source (stopping the one before), resuming after `position`;
    /// it is told of each batch handed over unless `acknowledge` is false.
    func start(batchSize: Int = 5000, snapshot: SQLiteSourceConfiguration.SnapshotMode = .initial, events options: EventOptions = EventOptions(),
               resumingAfter position: Position? = nil, acknowledge: Bool = true) async throws -> SQLiteSource {
        await stop()
        let configuration = SQLiteSourceConfiguration(path: database, snapshot: snapshot, pollInterval: .milliseconds(20),
                                                      batchSize: batchSize)
        let source = SQLiteSource(configuration: configuration, pipeline: "p", events: options,
                                  state: try StateDirectory(path: folder.appending("state")), logger: Logger(label: "test"))
        let queue = EventQueue(capacity: 1024)
        self.queue = queue
        task = Task { try await source.run(resumingAfter: position, output: queue) }
        acknowledging = acknowledge ? source : nil
        return source
    }

    /// Waits until at least `count` events have been handed over in all.
    @discardableResult
    func waitForEvents(_ count: Int, timeout: Duration = .seconds(30)) async throws -> [Event] {
        let deadline = ContinuousClock.now + timeout
        while events.count < count {
            guard let queue, ContinuousClock.now < deadline else {
                throw TestSupportError("\(events.count) of \(count) events after \(timeout)")
            }
            if case .batch(let batch) = await queue.next(waitingAtMost: .milliseconds(100)) {
                batchSizes.append(batch.count)
                for index in 0..<batch.count {
                    let line = batch.line(index)
                    let json = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] ?? [:]
                    events.append(Event(position: batch.events[index].position, endsTransaction: batch.events[index].endsTransaction,
                                        line: String(decoding: line, as: UTF8.self), json: json))
                }
                if let last = batch.lastPosition { acknowledging?.acknowledge(last) }
            }
        }
        return events
    }

    /// No more events arrive for `quiet`.
    func expectNoMoreEvents(for quiet: Duration = .milliseconds(300)) async throws {
        let before = events.count
        try? await waitForEvents(before + 1, timeout: quiet)
        if events.count != before { throw TestSupportError("unexpected events: \(events[before...].map(\.line))") }
    }

    func stop() async {
        task?.cancel()
        queue?.finish()
        _ = try? await task?.value
        task = nil
        queue = nil
    }
}
