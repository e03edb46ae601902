import SiphonCore
import Synchronization

/// A source of scripted transactions, for pipeline and sink tests.
///
/// Transaction `t` (0-based) has the events `Position(high: t + 1, low: i)`
/// with the keys given for it; the last event of each ends its transaction.
/// Events go out in batches of `batchSize`, cut anywhere (in the middle of
/// a transaction too), as a real source's do.
public final class MemorySource: Source {
    public struct Event: Sendable, Equatable {
        public var position: Position
        public var key: Int
        public var endsTransaction: Bool
    }

    public let pipeline: String
    public let events: [Event]
    private let batchSize: Int
    /// What `run` does after the last event: return (the pipeline then
    /// drains and stops) or wait to be cancelled.
    private let stayOpen: Bool
    /// Stop sending after this many events of a run (nil: all), then wait.
    private let pauseAfter: Mutex<Int?>
    /// Replay every event from the beginning, whatever the resume position
    /// (the pipeline must drop what it already has).
    private let replaysFromBeginning: Bool
    public let acknowledged = Mutex<[Position]>([])
    public let runs = Mutex<[Position?]>([])
    /// Called with each acknowledged position, on the pipeline's checkpoint task.
    private let onAcknowledge: (@Sendable (Position) -> Void)?

    public init(pipeline: String = "p", transactions: [[Int]], batchSize: Int = 7, stayOpen: Bool = false,
                pauseAfter: Int? = nil, replaysFromBeginning: Bool = false,
                onAcknowledge: (@Sendable (Position) -> Void)? = nil) {
        self.pipeline = pipeline
        var events: [Event] = []
        for (index, keys) in transactions.enumerated() {
            for (offset, key) in keys.enumerated() {
                events.append(Event(position: Position(high: UInt64(index + 1), low: UInt64(offset)), key: key,
                                    endsTransaction: offset == keys.count - 1))
            }
        }
        self.events = events
        self.batchSize = batchSize
        self.stayOpen = stayOpen
        self.pauseAfter = Mutex(pauseAfter)
        self.replaysFromBeginning = replaysFromBeginning
        self.onAcknowledge = onAcknowledge
    }

    /// `count` transactions of 1 to 5 events on keys 0..<keys, the same for a given seed.
    public static func randomTransactions(_ count: Int, keys: Int = 10, seed: UInt64 = 42) -> [[Int]] {
        var generator = SplitMix(seed: seed)
        return (0..<count).map { _ in
            (0..<Int(generator.next() % 5 + 1)).map { _ in Int(generator.next() % UInt64(keys)) }
        }
    }

    /// Lets a paused source send the rest.
    public func resume() { pauseAfter.withLock { $0 = nil } }

    public func run(resumingAfter position: Position?, output: EventQueue) async throws {
        runs.withLock { $0.append(position) }
        let pending = events.filter { event in
            replaysFromBeginning || position.map { event.position > $0 } ?? true
        }
        var sent = 0
        var batch = EventBatch()
        for event in pending {
            while let limit = pauseAfter.withLock({ $0 }), sent >= limit {
                if !batch.isEmpty {
                    try await output.send(batch)
                    batch = EventBatch()
                }
                try await Task.sleep(for: .milliseconds(5))
            }
            TestEvents.append(to: &batch, position: event.position, key: event.key, pipeline: pipeline,
                              endsTransaction: event.endsTransaction)
            sent += 1
            if batch.count >= batchSize {
                try await output.send(batch)
                batch = EventBatch()
            }
        }
        if !batch.isEmpty { try await output.send(batch) }
        if stayOpen { try await Task.sleep(for: .seconds(3600)) }
    }

    public func acknowledge(_ position: Position) {
        acknowledged.withLock { $0.append(position) }
        onAcknowledge?(position)
    }
}

/// A small deterministic generator (SplitMix64), so tests repeat exactly.
public struct SplitMix: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
