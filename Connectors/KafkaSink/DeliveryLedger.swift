import CRdKafka
import Glibc
import SiphonCore
import Synchronization

/// What the producer sent and what librdkafka reported back, shared by the
/// pipeline's thread (which sends and flushes) and librdkafka's delivery
/// report callback.
///
/// Records are numbered as they are sent; an event needs every record up
/// to its last one (the event, then its tombstone) to have been delivered.
/// Reports arrive in order per partition but not across partitions, so the
/// ledger keeps the numbers delivered beyond the first gap and moves its
/// frontier only over contiguous successes. A failed report stops the
/// frontier for good: nothing after it is ever reported durable, and the
/// first failure is what `flush` throws.
final class DeliveryLedger: Sendable {
    struct State {
        /// Records sent so far; the next record's number.
        var sent: UInt64 = 0
        /// Every record numbered below it was delivered.
        var frontier: UInt64 = 0
        /// Delivered records at or beyond the frontier.
        var deliveredAhead: Set<UInt64> = []
        /// Events in order, with the number of records that must be
        /// delivered before each is durable, and whether a checkpoint may
        /// stop after it; those at the front leave as the frontier passes them.
        var pending: [(position: Position, needs: UInt64, boundary: Bool)] = []
        var pendingStart = 0
        /// The last event all of whose records, and all before them, were delivered.
        var durable: Position?
        var failure: SiphonError?
    }

    private let state = Mutex(State())
    /// Written to when a report arrives (by librdkafka's queue event, see
    /// `KafkaSink`), read by the pipeline's thread through `FileDescriptorWait`.
    let wakeRead: Int32
    let wakeWrite: Int32

    init() throws {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw SiphonError(.sink, "cannot make a pipe: \(String(cString: strerror(errno)))", transient: true)
        }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        Glibc.close(wakeRead)
        Glibc.close(wakeWrite)
    }

    /// Numbers one record about to be sent.
    func nextRecord() -> UInt64 {
        state.withLock { state in
            defer { state.sent += 1 }
            return state.sent
        }
    }

    /// Takes back the number of a record librdkafka refused to queue (it was the last one numbered).
    func unsend(_ record: UInt64) {
        state.withLock { state in
            if state.sent == record + 1 { state.sent = record }
        }
    }

    /// An event whose records (if any) were all numbered: durable once they
    /// and every record before them are delivered. Without `boundary`, it
    /// is never reported durable by itself, only with a later boundary
    /// event (the transaction metadata needs a restart to begin at a
    /// transaction's first event, see `TransactionMetadata`).
    func eventSent(_ position: Position, boundary: Bool = true) {
        state.withLock { state in
            state.pending.append((position, state.sent, boundary))
            state.advance()
        }
    }

    /// From the delivery report callback.
    func delivered(_ record: UInt64) {
        state.withLock { state in
            if record == state.frontier {
                state.frontier += 1
                while state.deliveredAhead.remove(state.frontier) != nil { state.frontier += 1 }
                state.advance()
            } else if record > state.frontier {
                state.deliveredAhead.insert(record)
            }
        }
    }

    /// From the delivery report callback, or a fatal producer error: the first one is kept.
    func failed(_ error: SiphonError) {
        state.withLock { state in
            if state.failure == nil { state.failure = error }
        }
    }

    /// What `flush` needs: records sent, whether all are in, the last
    /// durable event, and the first failure.
    var snapshot: (sent: UInt64, frontier: UInt64, durable: Position?, failure: SiphonError?) {
        state.withLock { ($0.sent, $0.frontier, $0.durable, $0.failure) }
    }

    /// Empties the wake-up pipe.
    func drainWakeups() {
        var buffer = [UInt8](repeating: 0, count: 256)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
    }
}

extension DeliveryLedger.State {
    /// Moves events whose records are all behind the frontier into `durable`.
    /// Stops at a failure: the frontier never passes a failed record, since
    /// a failed one is never reported delivered.
    mutating func advance() {
        while pendingStart < pending.count, pending[pendingStart].needs <= frontier {
            if pending[pendingStart].boundary { durable = pending[pendingStart].position }
            pendingStart += 1
        }
        if pendingStart > 4096, pendingStart * 2 > pending.count {
            pending.removeFirst(pendingStart)
            pendingStart = 0
        }
    }
}
