import Glibc
import SiphonCore
import Synchronization

/// What one session published and what JetStream acknowledged, shared by
/// the pipeline's thread (which publishes and flushes) and libnats' thread
/// (which runs the acknowledgement callback).
///
/// Messages are numbered as they are published. An event's message is
/// found again by its position and `Part` (with transaction metadata on,
/// a BEGIN message shares its first event's position and an END message
/// its last event's). The frontier moves only over contiguous
/// acknowledgements, so `durable` is the last boundary message such that
/// it and every message before it are in the stream. A negative
/// acknowledgement stops the frontier for good: nothing after it is ever
/// reported durable, and the first one is what `flush` throws.
///
/// Wake-ups: the pipeline's thread says which frontier it waits for
/// (`waitsFor`), and the callback writes a byte to the pipe only when the
/// frontier gets there (or on a failure): one wake-up per wait instead of
/// one per acknowledgement, which at tens of thousands of messages a
/// second is a context switch each.
final class AckLedger: Sendable {
    /// Which message of an event: its transaction's BEGIN, the event, its transaction's END.
    enum Part: UInt8, Comparable, Sendable {
        case begin, event, end
        static func < (lhs: Part, rhs: Part) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    struct Entry {
        var position: Position
        var part: Part
        /// Whether the checkpoint may stop here (`Sink.flush`'s answer).
        var boundary: Bool

        func precedes(_ position: Position, _ part: Part) -> Bool {
            self.position < position || (self.position == position && self.part < part)
        }
    }

    struct State {
        /// Messages published so far; the next message's number.
        var sent: UInt64 = 0
        /// Every message numbered below it was acknowledged.
        var frontier: UInt64 = 0
        var ackedAhead: Set<UInt64> = []
        /// The messages from `frontier` on, in order.
        var pending: [Entry] = []
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
    /// The frontier the pipeline's thread waits for; `UInt64.max`: none.
    private let wakeAt = Atomic<UInt64>(.max)
    /// Written to when the awaited frontier is reached; the pipeline's
    /// thread waits on it with `FileDescriptorWait`. Owned by the sink.
    let wakeWrite: Int32

    init(wakeWrite: Int32) {
        self.wakeWrite = wakeWrite
    }

    /// Numbers the message about to be published.
    func publishing(_ position: Position, part: Part = .event, boundary: Bool = true) -> UInt64 {
        state.withLock { state in
            if state.sent == state.frontier { state.oldestSince = .now }
            state.pending.append(Entry(position: position, part: part, boundary: boundary))
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

    /// From the acknowledgement callback: the message `part` of the event
    /// at `position` is in the stream, at `sequence`. Messages are
    /// published in (position, part) order, so its number is found by
    /// bisection.
    func acknowledged(_ position: Position, part: Part = .event, sequence: UInt64) {
        let frontier: UInt64 = state.withLock { state in
            state.lastSequence = max(state.lastSequence, sequence)
            var low = state.pendingStart, high = state.pending.count
            while low < high {
                let middle = (low + high) / 2
                if state.pending[middle].precedes(position, part) { low = middle + 1 } else { high = middle }
            }
            guard low < state.pending.count, state.pending[low].position == position, state.pending[low].part == part else {
                return state.frontier
            }
            let firstNumber = state.sent - UInt64(state.pending.count - state.pendingStart)
            let number = firstNumber + UInt64(low - state.pendingStart)
            if number == state.frontier {
                state.frontier += 1
                while state.ackedAhead.remove(state.frontier) != nil { state.frontier += 1 }
                state.advance()
            } else if number > state.frontier {
                state.ackedAhead.insert(number)
            }
            return state.frontier
        }
        if frontier >= wakeAt.load(ordering: .acquiring), wakeAt.exchange(.max, ordering: .acquiringAndReleasing) != .max {
            wake()
        }
    }

    /// From the acknowledgement callback, or the session giving up: the first one is kept.
    func failed(_ error: SiphonError) {
        state.withLock { state in
            if state.failure == nil { state.failure = error }
        }
        wakeAt.store(.max, ordering: .releasing)
        wake()
    }

    /// The pipeline's thread is about to wait until the frontier reaches
    /// `frontier` (or a failure): false when it is already there (or
    /// failed), so there is nothing to wait for.
    func waitsFor(frontier: UInt64) -> Bool {
        wakeAt.store(frontier, ordering: .releasing)
        let done = state.withLock { $0.frontier >= frontier || $0.failure != nil }
        if done { wakeAt.store(.max, ordering: .releasing) }
        return !done
    }

    func wake() { _ = Glibc.write(wakeWrite, "1", 1) }

    /// What `write` and `flush` need.
    var snapshot: (sent: UInt64, frontier: UInt64, durable: Position?, failure: SiphonError?, oldestSince: ContinuousClock.Instant) {
        state.withLock { ($0.sent, $0.frontier, $0.durable, $0.failure, $0.oldestSince) }
    }

    var inFlight: UInt64 { state.withLock { $0.sent - $0.frontier } }
}

extension AckLedger.State {
    /// Moves the messages behind the frontier out of `pending`, and
    /// `durable` to the last boundary among them.
    mutating func advance() {
        let count = Int(frontier - (sent - UInt64(pending.count - pendingStart)))
        if count > 0 {
            for index in stride(from: pendingStart + count - 1, through: pendingStart, by: -1) where pending[index].boundary {
                durable = pending[index].position
                break
            }
            pendingStart += count
            oldestSince = .now
        }
        if pendingStart > 4096, pendingStart * 2 > pending.count {
            pending.removeFirst(pendingStart)
            pendingStart = 0
        }
    }
}
