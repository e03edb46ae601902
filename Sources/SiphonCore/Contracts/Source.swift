/// A connector that reads changes from a database.
///
/// Contract:
/// - `run` delivers events in strictly increasing position order, starting
///   strictly after `position` (nil: from the very beginning, which for a
///   source configured so means its initial snapshot).
/// - A source may deliver again events at or before positions it was never
///   told are acknowledged (after a reconnect, say); the pipeline drops
///   them. It must never skip an event.
/// - Transient failures (connection loss, a restarted server) are handled
///   inside `run`: reconnect with backoff and resume from the last
///   acknowledged position. `run` throws only for errors a person must fix,
///   as a `SiphonError`, and returns when its task is cancelled.
/// - `run` executes on its pipeline's thread (`ThreadExecutor`), which the
///   sink shares: wait for a socket with `FileDescriptorWait`, never by
///   blocking otherwise, and move
///   long bulk work (a snapshot) to the shared pool with
///   `withTaskExecutorPreference(globalConcurrentExecutor)` so that the sink
///   writes meanwhile.
public protocol Source: Sendable {
    func run(resumingAfter position: Position?, output: EventQueue) async throws

    /// Every event at or before `position` is durable in the sink. Only now
    /// may the source let its database forget them (confirm the LSN, delete
    /// changelog rows). Cheap and non-blocking; called from the sink's task.
    func acknowledge(_ position: Position)
}

/// A connector that writes events somewhere.
///
/// Contract:
/// - `open` prepares the sink and returns the position of the last event
///   the sink itself holds durably, if it can tell (the file sink reads its
///   last line; a database target keeps the position in its own
///   transaction). The pipeline resumes after the later of that and the
///   stored checkpoint, so such sinks get exactly-once delivery.
/// - `write` receives batches in position order. It may buffer, or hand
///   events to a broker that acknowledges later; nothing is durable yet.
/// - `flush` returns only when every event written so far is durable (on
///   disk, acknowledged by the broker, committed). Only then does the
///   pipeline checkpoint and acknowledge to the source. It must be safe to
///   call with nothing written.
/// - A sink that says `flushesAlongsideWrites` has `flush` called on
///   another thread while `write` goes on with later batches; its `flush`
///   then makes durable at least every event written before the call.
///   Otherwise the pipeline waits for each flush before it writes again.
/// - After a `write` or `flush` throws, the pipeline calls `close` and
///   restarts from the checkpoint; events after it are delivered again.
public protocol Sink: Sendable {
    func open() async throws -> Position?
    func write(_ batch: EventBatch) async throws
    func flush() async throws
    func close() async throws
    /// Whether `flush` may run while `write` goes on (see the contract).
    var flushesAlongsideWrites: Bool { get }
}

extension Sink {
    public var flushesAlongsideWrites: Bool { false }
}
