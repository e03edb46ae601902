/// What a sink can say, when it opens, about the events it already holds.
public enum SinkPosition: Sendable, Equatable {
    /// The sink cannot read back what it holds (a character device such as
    /// /dev/null, a destination without positions): the pipeline's
    /// checkpoint is the only authority, and after a crash the events after
    /// it are delivered again (at least once).
    case untracked
    /// The sink read back, from its own storage, the position of the last
    /// event it holds durably (nil: it holds none). It is the resume
    /// authority: the pipeline resumes right after it, so nothing it holds
    /// is written twice, and refuses to start when its own checkpoint is
    /// ahead of it (the sink lost events the source has already let go of).
    case tracked(last: Position?)
}

/// A connector that writes events somewhere.
///
/// Contract, one line per method:
/// - `open` prepares the sink (connects, opens files, reads its own position
///   back) and says what it holds (`SinkPosition`). It may be called again
///   after `close`, on the same instance, when the pipeline restarts.
/// - `write` receives batches in strictly increasing position order, never
///   an event twice within one `open`. It may buffer, or hand events to a
///   broker that acknowledges later; nothing need be durable yet.
/// - `flush` makes events durable (on disk, acknowledged by the broker,
///   committed) and returns the position of the last one it made durable:
///   every event written before the call at or before that position is
///   durable when it returns. Usually that is everything written; a sink
///   that applies whole source transactions returns the end of the last
///   transaction it committed (`EventRecord.endsTransaction`). nil: nothing
///   written yet. Only what it returns is checkpointed and acknowledged to
///   the source. Safe to call with nothing written.
/// - A sink that says `flushesAlongsideWrites` has `flush` called on the
///   shared pool while `write` goes on with later batches; otherwise the
///   pipeline waits for each flush before it writes again.
/// - Errors are `SiphonError`s, and `isTransient` says which: a transient
///   one (connection refused or lost, a timeout, a broker or target
///   restarting, a full disk) makes the pipeline close the sink and the
///   source, wait (`retry_delay`, doubling to `max_retry_delay`) and start
///   again from the checkpoint, for ever; a permanent one (bad credentials,
///   a table the target cannot take, a message over a size limit) stops
///   this pipeline, with the error's message as the line that says what to
///   fix. Other pipelines in the process go on either way.
/// - `close` releases everything `open` took; it must not throw away
///   durable data, and it is called after any error of `write` or `flush`.
///
/// Threading: `open`, `write` and `close` (and `flush`, unless the sink
/// flushes alongside writes) run on the pipeline's own thread
/// (`ThreadExecutor`), which the source shares. A sink never blocks that
/// thread on the network: to wait for its own sockets it calls
/// `FileDescriptorWait.wait`, which lets the source's waits and the sink's
/// share the thread's `poll(2)`; a client library with threads of its own
/// (a broker client's delivery reports) hands results over with
/// thread-safe state and a descriptor to wait on, never by spinning.
/// Short blocking system calls (a `write(2)`, an fsync in `flush`) are fine.
///
/// What a sink is told besides the events (`EventBatch`, `EventRecord`):
/// `EventRecord.endsTransaction` marks the last event of each source
/// transaction, so a sink that applies changes can commit whole source
/// transactions; `op == .read` events are snapshot rows, and a batch that
/// is not `resumable` belongs to an initial snapshot still in progress.
public protocol Sink: Sendable {
    func open() async throws -> SinkPosition
    func write(_ batch: EventBatch) async throws
    func flush() async throws -> Position?
    func close() async throws
    /// Whether `flush` may run while `write` goes on (see the contract).
    var flushesAlongsideWrites: Bool { get }
    /// After `open`: the highest position the sink holds anywhere, for a
    /// sink that answers `.untracked` because no single position says what
    /// it holds (a broker's partitions), yet skips what it holds. The
    /// pipeline has the source check that it could have produced it
    /// (`Source.verifyProduced`). nil: nothing, or the sink cannot tell.
    var highestPositionHeld: Position? { get }
}

extension Sink {
    public var flushesAlongsideWrites: Bool { false }
    public var highestPositionHeld: Position? { nil }
}
