/// A connector that reads changes from a database.
///
/// Contract:
/// - `run` delivers events in strictly increasing position order, starting
///   strictly after `position` (nil: from the very beginning, which for a
///   source configured so means its initial snapshot).
/// - A source may deliver again events at or before positions it was never
///   told are acknowledged (after a reconnect, say); the pipeline drops
///   them. It must never skip an event.
/// - `run` may be called again on the same source after it returned or
///   threw (the pipeline restarts after a sink failure): what one call
///   handed to `output` without an acknowledgement may not have reached the
///   sink, so nothing a source remembers about delivery may outlive a call.
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

    /// Whether the state folder lacks what this source keeps there besides
    /// the checkpoint and needs to resume after a position (PostgreSQL's
    /// schema history): a lost or new state folder. A pipeline whose sink
    /// holds events then refuses to start rather than number schema
    /// versions from 1 again (see `ResumePlan`).
    var resumeStateMissing: Bool { get }

    /// Throws a permanent error when no event at `position` can have come
    /// from this source because its log has not reached it yet: a sink or a
    /// checkpoint holding it belongs to another database, or to this one
    /// before it was restored from an older backup, and resuming after it
    /// would skip every change up to it. The pipeline calls it before `run`
    /// with the highest position the checkpoint and the sink claim. A source
    /// that cannot tell does nothing.
    func verifyProduced(_ position: Position) async throws
}

extension Source {
    public var resumeStateMissing: Bool { false }
    public func verifyProduced(_ position: Position) async throws {}
}
