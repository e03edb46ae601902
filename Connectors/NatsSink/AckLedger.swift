import Glibc
import SiphonCore
import Synchronization

/// What one session published and what JetStream acknowledged, shared by
/// the pipeline's thread (which publishes and flushes) and libnats' thread
/// (which runs the acknowledgement callback).
///
/// Messages are numbered as they are published, one per event. The
/// frontier moves only over contiguous acknowledgements, so `durable` is
/// the last event such that it and every event before it are in the
/// stream. A negative acknowledgement stops the frontier for good: nothing
/// after it is ever reported durable, and the first one is what `flush`
/// throws.
final class AckLedger: Sendable {
    struct State {
        /// Messages published so far; the next message's number.
        var sent: UInt64 = 0
        /// Every message numbered below it was acknowledged.
        var frontier: UInt64 = 0
        var ackedAhead: Set<UInt64> = []
        /// Positions of the messages from `frontier` on, in order.
        var pending: [Position] = []
        var pendingStart = 0
        var durable: Position?
        var failure: SiphonError?
        /// When the oldest unacknowledged message was published (or the
        /// frontier last moved): a missing acknowledgement is noticed by
        /// its age.
        var oldestSince = ContinuousClock.now
        /// The stream sequence of the last acknowledged message.
        var lastSequence: UInt64 = 0
    }

    private let state = Mutex(State())
    /// Written to by the callback after each acknowledgement; the pipeline's
    /// thread waits on it with `FileDescriptorWait`. Owned by the sink.
    let wakeWrite: Int32

    init(wakeWrite: Int32) {
        self.wakeWrite = wakeWrite
    }

    /// Numbers the message of the event at `position`, about to be published.
    func publishing(_ position: Position) -> UInt64 {
        state.withLock { state in
            if state.sent == state.frontier { state.oldestSince = .now }
            state.pending.append(position)
            defer { state.sent += 1 }
            return state.sent
        }
    }

    /// Takes back the last number given: libnats refused the message before
    /// it left (it is not in flight).
    func unpublish(_ number: UInt64) {
        state.withLock { state in
            guard state.sent == number + 1 else { return }
            state.sent = number
            state.pending.removeLast()
        }
    }

    /// From the acknowledgement callback: the message of the event at
    /// `position` is in the stream, at `sequence`. Positions increase with
    /// message numbers, so the number is found by bisection.
    func acknowledged(_ position: Position, sequence: UInt64) {
        state.withLock { state in
            state.lastSequence = max(state.lastSequence, sequence)
            var low = state.pendingStart, high = state.pending.count
            while low < high {
                let middle = (low + high) / 2
                if state.pending[middle] < position { low = middle + 1 } else { high = middle }
            }
            guard low < state.pending.count, state.pending[low] == position else { return }
            let firstNumber = state.sent - UInt64(state.pending.count - state.pendingStart)
            let number = firstNumber + UInt64(low - state.pendingStart)
            if number == state.frontier {
                state.frontier += 1
                while state.ackedAhead.remove(state.frontier) != nil { state.frontier += 1 }
                state.advance()
            } else if number > state.frontier {
                state.ackedAhead.insert(number)
            }
        }
        wake()
    }

    /// From the acknowledgement callback, or the session giving up: the first one is kept.
    func failed(_ error: SiphonError) {
        state.withLock { state in
            if state.failure == nil { state.failure = error }
        }
        wake()
    }

    func wake() { _ = Glibc.write(wakeWrite, "1", 1) }

    /// What `write` and `flush` need.
    var snapshot: (sent: UInt64, frontier: UInt64, durable: Position?, failure: SiphonError?, oldestSince: ContinuousClock.Instant) {
        state.withLock { ($0.sent, $0.frontier, $0.durable, $0.failure, $0.oldestSince) }
    }

    var inFlight: UInt64 { state.withLock { $0.sent - $0.frontier } }
}

extension AckLedger.State {
    /// Moves the events behind the frontier into `durable`.
    mutating func advance() {
        let count = Int(frontier - (sent - UInt64(pending.count - pendingStart)))
        if count > 0 {
            durable = pending[pendingStart + count - 1]
            pendingStart += count
            oldestSince = .now
        }
        if pendingStart > 4096, pendingStart * 2 > pending.count {
            pending.removeFirst(pendingStart)
            pendingStart = 0
        }
    }
}
