import Dispatch
import Synchronization

/// The bounded hand-off between a source and a sink.
///
/// `send` suspends while `capacity` batches are waiting, so a slow sink
/// slows the source down instead of growing memory. One producer and one
/// consumer; `finish` ends the stream after the queued batches.
///
/// Continuations are resumed after the lock is released (resuming one can
/// wake a thread, and the other side would spin on the lock meanwhile), and
/// timed waits share one timer: a stream of single-row transactions waits
/// tens of thousands of times a second, all with the same flush deadline.
/// Deadlines are instants, not durations from now: the same deadline given
/// again then compares equal, where a duration converted to a deadline on
/// each call came out a little earlier about half the time, and each of
/// those set a new timer (a wake-up of Dispatch's timer thread per batch).
public final class EventQueue: Sendable {
    private struct State {
        /// Taken batches leave a nil behind: a slot must not keep a batch the
        /// sink has written alive until the next compaction (with a source
        /// that keeps the queue from ever emptying, that was 64 batches of
        /// up to 2 MB each).
        var batches: [EventBatch?] = []
        var head = 0
        var finished = false
        var waitingSender: CheckedContinuation<Void, Never>?
        var waitingReceiver: CheckedContinuation<Received, Never>?
        /// When the waiting receiver gives up (nil: it waits for ever).
        var receiverDeadline: ContinuousClock.Instant?
        /// When the one outstanding timer fires, if one is.
        var timerDeadline: ContinuousClock.Instant?
        var queuedCount: Int { batches.count - head }

        mutating func takeFirst() -> EventBatch {
            let batch = batches[head]!
            batches[head] = nil
            head += 1
            compact()
            return batch
        }

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

    /// What `next(until:)` found.
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
    private let clock = ContinuousClock()

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
            let (outcome, receiver): (Int, CheckedContinuation<Received, Never>?) = state.withLock { state in
                if state.finished { return (2, nil) }
                if let receiver = state.waitingReceiver {
                    state.waitingReceiver = nil
                    state.receiverDeadline = nil
                    return (0, receiver)
                }
                if state.queuedCount < capacity {
                    state.batches.append(batch)
                    return (0, nil)
                }
                return (1, nil)
            }
            receiver?.resume(returning: .batch(batch))
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
        switch await receive(until: nil) {
        case .batch(let batch): return batch
        case .finished, .timedOut: return nil
        }
    }

    /// The next batch, waiting at most `timeout` for one.
    public func next(waitingAtMost timeout: Duration) async -> Received {
        await receive(until: clock.now + timeout)
    }

    /// The next batch, waiting for one until `deadline` at the latest.
    public func next(until deadline: ContinuousClock.Instant) async -> Received {
        await receive(until: deadline)
    }

    private func receive(until deadline: ContinuousClock.Instant?) async -> Received {
        if let batch = takeQueued() { return .batch(batch) }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Received, Never>) in
            let (immediate, sender, timer): (Received?, CheckedContinuation<Void, Never>?, ContinuousClock.Instant?) = state.withLock { state in
                if state.queuedCount > 0 {
                    let batch = state.takeFirst()
                    let sender = state.waitingSender
                    state.waitingSender = nil
                    return (.batch(batch), sender, nil)
                }
                if state.finished { return (.finished, nil, nil) }
                if let deadline, deadline <= clock.now { return (.timedOut, nil, nil) }
                state.waitingReceiver = continuation
                state.receiverDeadline = deadline
                guard let deadline else { return (nil, nil, nil) }
                // One timer at a time: a later deadline is picked up when the earlier timer fires.
                if let pending = state.timerDeadline, pending <= deadline { return (nil, nil, nil) }
                state.timerDeadline = deadline
                return (nil, nil, deadline)
            }
            sender?.resume()
            if let immediate { continuation.resume(returning: immediate) }
            if let timer { scheduleTimer(at: timer) }
        }
    }

    private func scheduleTimer(at deadline: ContinuousClock.Instant) {
        let wait = max(deadline - clock.now, .zero)
        Self.timers.asyncAfter(deadline: .now() + .nanoseconds(wait.inNanoseconds)) { [self] in timerFired(deadline) }
    }

    /// Times out the waiting receiver if its deadline passed, and keeps one
    /// timer running for a receiver that waits longer.
    private func timerFired(_ fired: ContinuousClock.Instant) {
        let (expired, next): (CheckedContinuation<Received, Never>?, ContinuousClock.Instant?) = state.withLock { state in
            if state.timerDeadline == fired { state.timerDeadline = nil }
            guard let receiver = state.waitingReceiver, let deadline = state.receiverDeadline else { return (nil, nil) }
            if deadline <= clock.now {
                state.waitingReceiver = nil
                state.receiverDeadline = nil
                return (receiver, nil)
            }
            if let pending = state.timerDeadline, pending <= deadline { return (nil, nil) }
            state.timerDeadline = deadline
            return (nil, deadline)
        }
        expired?.resume(returning: .timedOut)
        if let next { scheduleTimer(at: next) }
    }

    /// Whether a batch is ready to be taken without waiting.
    public var hasQueued: Bool { state.withLock { $0.queuedCount > 0 } }

    /// Ends the stream: `next` returns the queued batches then nil, and
    /// `send` throws from now on.
    public func finish() {
        let (receiver, sender) = state.withLock { state in
            state.finished = true
            let receiver = state.queuedCount == 0 ? state.waitingReceiver : nil
            if receiver != nil {
                state.waitingReceiver = nil
                state.receiverDeadline = nil
            }
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
            let batch = state.takeFirst()
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
