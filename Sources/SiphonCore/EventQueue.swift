import Dispatch
import Synchronization

/// The bounded hand-off between a source and a sink.
///
/// `send` suspends while `capacity` batches are waiting, so a slow sink
/// slows the source down instead of growing memory. One producer and one
/// consumer; `finish` ends the stream after the queued batches.
public final class EventQueue: Sendable {
    private struct State {
        var batches: [EventBatch] = []
        var head = 0
        var finished = false
        var waitingSender: CheckedContinuation<Void, Never>?
        var waitingReceiver: CheckedContinuation<Received, Never>?
        /// Tells a timed-out wait from a later one.
        var receiverGeneration: UInt64 = 0
        var queuedCount: Int { batches.count - head }

        mutating func compact() {
            if head == batches.count {
                batches.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 64 {
                batches.removeFirst(head)
                head = 0
            }
        }
    }

    /// What `next(waitingAtMost:)` found.
    public enum Received: Sendable {
        case batch(EventBatch)
        /// The queue is finished and drained.
        case finished
        /// Nothing arrived in time.
        case timedOut
    }

    public let capacity: Int
    private let state = Mutex(State())
    private static let timers = DispatchQueue(label: "siphon.queue.timers")

    public init(capacity: Int = 8) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// Queues a batch, waiting while the queue is full. Throws
    /// `CancellationError` when the consumer has finished the queue or the
    /// task is cancelled; the batch is then dropped (it was never acknowledged).
    public func send(_ batch: EventBatch) async throws {
        guard !batch.isEmpty else { return }
        while true {
            try Task.checkCancellation()
            let outcome: Int = state.withLock { state in
                if state.finished { return 2 }
                if let receiver = state.waitingReceiver {
                    state.waitingReceiver = nil
                    receiver.resume(returning: .batch(batch))
                    return 0
                }
                if state.queuedCount < capacity {
                    state.batches.append(batch)
                    return 0
                }
                return 1
            }
            switch outcome {
            case 0: return
            case 2: throw CancellationError()
            default:
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let resumeNow = state.withLock { state -> Bool in
                            if state.finished || state.queuedCount < capacity { return true }
                            state.waitingSender = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    self.wakeSender()
                }
            }
        }
    }

    /// The next batch, or nil once the queue is finished and drained.
    public func next() async -> EventBatch? {
        switch await receive(timeout: nil) {
        case .batch(let batch): return batch
        case .finished, .timedOut: return nil
        }
    }

    /// The next batch, waiting at most `timeout` for one.
    public func next(waitingAtMost timeout: Duration) async -> Received {
        await receive(timeout: timeout)
    }

    private func receive(timeout: Duration?) async -> Received {
        if let batch = takeQueued() { return .batch(batch) }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Received, Never>) in
            let immediate: Received? = state.withLock { state in
                if state.queuedCount > 0 {
                    let batch = state.batches[state.head]
                    state.head += 1
                    state.compact()
                    let sender = state.waitingSender
                    state.waitingSender = nil
                    sender?.resume()
                    return .batch(batch)
                }
                if state.finished { return .finished }
                if timeout == .zero { return .timedOut }
                state.waitingReceiver = continuation
                state.receiverGeneration &+= 1
                if let timeout {
                    let generation = state.receiverGeneration
                    let (seconds, attoseconds) = timeout.components
                    let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
                    Self.timers.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [self] in
                        expireReceiver(generation)
                    }
                }
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    private func expireReceiver(_ generation: UInt64) {
        let receiver = state.withLock { state -> CheckedContinuation<Received, Never>? in
            guard state.receiverGeneration == generation, let receiver = state.waitingReceiver else { return nil }
            state.waitingReceiver = nil
            return receiver
        }
        receiver?.resume(returning: .timedOut)
    }

    /// Whether a batch is ready to be taken without waiting.
    public var hasQueued: Bool { state.withLock { $0.queuedCount > 0 } }

    /// Ends the stream: `next` returns the queued batches then nil, and
    /// `send` throws from now on.
    public func finish() {
        let (receiver, sender) = state.withLock { state in
            state.finished = true
            let receiver = state.queuedCount == 0 ? state.waitingReceiver : nil
            if receiver != nil { state.waitingReceiver = nil }
            let sender = state.waitingSender
            state.waitingSender = nil
            return (receiver, sender)
        }
        receiver?.resume(returning: .finished)
        sender?.resume()
    }

    private func takeQueued() -> EventBatch? {
        let (batch, sender): (EventBatch?, CheckedContinuation<Void, Never>?) = state.withLock { state in
            guard state.queuedCount > 0 else { return (nil, nil) }
            let batch = state.batches[state.head]
            state.head += 1
            state.compact()
            let sender = state.waitingSender
            state.waitingSender = nil
            return (batch, sender)
        }
        sender?.resume()
        return batch
    }

    private func wakeSender() {
        let sender = state.withLock { state in
            let sender = state.waitingSender
            state.waitingSender = nil
            return sender
        }
        sender?.resume()
    }
}
