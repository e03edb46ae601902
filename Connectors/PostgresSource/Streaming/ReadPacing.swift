/// Decides when the replication loop reads the socket, and when it should
/// let messages pile up in the socket before its next read.
///
/// A read that finds nothing costs a syscall, and the loop makes it before
/// the batch it has goes to the sink. So after each wait for data the loop
/// reads once, and reads again before the next wait only in the middle of a
/// transaction (the server sends each message as it decodes it, and the
/// rest has usually come meanwhile) or while the stream is busy.
///
/// A backlog arrives as a continuous stream, microseconds apart: read as it
/// comes, every message costs a wake-up, a poll, a recv and a TCP ACK, which
/// is most of the CPU of a stream of small transactions. Waiting a little
/// (`settle`) before each read then takes dozens of messages at once.
///
/// A live stream arrives in bursts instead: one transaction's messages a few
/// microseconds apart, then a gap. Settling inside such a burst only delays
/// the rest of it, so the stream counts as busy only after it has gone
/// `busyAfter` without a gap of `gap` (a burst of one transaction lasts tens
/// of microseconds; a backlog goes on).
struct ReadPacing {
    /// A wait for data longer than this is a gap: the server had nothing to send.
    static let gap: Duration = .microseconds(100)
    /// How long the stream must run without a gap to count as a backlog.
    static let busyAfter: Duration = .milliseconds(1)
    /// How long to let messages pile up before each read while busy. At most
    /// this much (plus timer slack) is added to an event's latency, and only
    /// during a backlog.
    static let settle: Duration = .microseconds(100)

    /// When the current run of gapless waits began; nil after a gap.
    private var hotSince: ContinuousClock.Instant?
    /// The socket was read since the last wait.
    private var readSinceWait = false

    /// Records a wait for data that began at `start` and ended at `end`.
    mutating func waited(from start: ContinuousClock.Instant, to end: ContinuousClock.Instant) {
        readSinceWait = false
        if end - start >= Self.gap {
            hotSince = nil
        } else if hotSince == nil {
            hotSince = start
        }
    }

    /// Whether the last wait for data ended without a gap: more is likely
    /// waiting in the socket already.
    var isBusy: Bool { hotSince != nil }

    /// Whether the loop may read the socket when libpq holds no whole
    /// message, `inTransaction` or between transactions.
    func mayReadSocket(inTransaction: Bool) -> Bool { !readSinceWait || inTransaction || isBusy }

    /// Records a read of the socket.
    mutating func readSocket() { readSinceWait = true }

    /// Whether to settle before the next read, at `now`.
    func shouldSettle(at now: ContinuousClock.Instant) -> Bool {
        guard let hotSince else { return false }
        return now - hotSince >= Self.busyAfter
    }
}
