import SiphonCore
import Synchronization

/// Where `MemorySink`s keep their events: it outlives the sinks, as a file
/// or a database outlives the process that wrote it.
public final class MemoryDestination: Sendable {
    public struct Stored: Sendable, Equatable {
        public var position: Position
        public var key: String
        public var endsTransaction: Bool
    }

    /// Made durable by a flush.
    public let durable = Mutex<[Stored]>([])
    /// Written, not flushed yet (lost in a crash).
    let pending = Mutex<[Stored]>([])
    /// Failures to inject: each call of the named method takes one.
    let plannedFailures = Mutex<[(method: MemorySink.Method, error: SiphonError)]>([])
    public let log = Mutex<[String]>([])

    public init() {}

    /// The next `times` calls of `method` throw `error`.
    public func fail(_ method: MemorySink.Method, times: Int = 1, with error: SiphonError) {
        plannedFailures.withLock { $0.append(contentsOf: Array(repeating: (method, error), count: times)) }
    }

    /// Forgets what was written and not flushed, as a crash would.
    public func crash() { pending.withLock { $0.removeAll() } }

    func takeFailure(_ method: MemorySink.Method) -> SiphonError? {
        plannedFailures.withLock { failures in
            guard let index = failures.firstIndex(where: { $0.method == method }) else { return nil }
            return failures.remove(at: index).error
        }
    }
}

/// A sink that keeps events in a `MemoryDestination`, for pipeline tests
/// and to check the conformance suite itself.
///
/// `tracksPosition`: `open` reports the last durable event (exactly once).
/// `committingTransactions`: `flush` makes durable only whole source
/// transactions, as a database target does, and returns the end of the last.
public final class MemorySink: Sink {
    public enum Method: Sendable, Equatable { case open, write, flush }

    public let destination: MemoryDestination
    private let tracksPosition: Bool
    private let committingTransactions: Bool

    public init(destination: MemoryDestination = MemoryDestination(), tracksPosition: Bool = true,
                committingTransactions: Bool = false) {
        self.destination = destination
        self.tracksPosition = tracksPosition
        self.committingTransactions = committingTransactions
    }

    public func open() async throws -> SinkPosition {
        destination.log.withLock { $0.append("open") }
        if let failure = destination.takeFailure(.open) { throw failure }
        destination.crash()
        return tracksPosition ? .tracked(last: destination.durable.withLock { $0.last?.position }) : .untracked
    }

    public func write(_ batch: EventBatch) async throws {
        if let failure = destination.takeFailure(.write) { throw failure }
        let stored = batch.events.indices.map { index in
            let event = batch.events[index]
            let key = event.key.map { String(decoding: batch.buffer.bytes[$0], as: UTF8.self) } ?? "null"
            return MemoryDestination.Stored(position: event.position, key: key, endsTransaction: event.endsTransaction)
        }
        destination.pending.withLock { $0.append(contentsOf: stored) }
        destination.log.withLock { $0.append("write") }
    }

    public func flush() async throws -> Position? {
        if let failure = destination.takeFailure(.flush) { throw failure }
        destination.log.withLock { $0.append("flush") }
        let moved: [MemoryDestination.Stored] = destination.pending.withLock { pending in
            let count = committingTransactions
                ? (pending.lastIndex(where: \.endsTransaction).map { $0 + 1 } ?? 0)
                : pending.count
            defer { pending.removeFirst(count) }
            return Array(pending.prefix(count))
        }
        return destination.durable.withLock { durable in
            durable.append(contentsOf: moved)
            return durable.last?.position
        }
    }

    public func close() async throws {
        destination.log.withLock { $0.append("close") }
    }
}
