/// The exactly-once core of a database sink: it groups row events into
/// target transactions that hold only whole source transactions, collapsed
/// per key, and commits each with the position of its last source
/// transaction (`ApplyTarget.commit`), so the target's rows and its stored
/// position never disagree, whatever the moment of a crash.
///
/// - Complete source transactions collect in `complete` and are committed
///   together when `flush` is called, or sooner once `maxEvents` events or
///   `maxDelay` have collected; with `commitsEachBatch`, also at the end of
///   every `write` (for a target that pipelines: it executes one batch while
///   the next is read, and a backlog's batches are already large).
/// - The source transaction in progress collects in `current`. When it
///   grows to `maxEvents` events, it is written into an open target
///   transaction (after `complete`), and again for every further
///   `maxEvents`, which is committed at its end: a huge source transaction
///   takes bounded memory.
/// - A schema change or truncate writes everything collected first, then
///   runs in the same target transaction, committed at the source
///   transaction's end.
/// - A table's first snapshot row empties the table first: a snapshot
///   (also one taken again after a crash) replaces the table's rows.
/// - A commit may still be under way at the target when the next events are
///   read (`ApplyTarget.confirm`): it is confirmed before the next commit is
///   sent and in `flush`, and only a confirmed commit's position is
///   `committed`, so at most one target transaction is in flight while the
///   next is collected.
///
/// Not thread-safe: the sink calls it from the pipeline's thread only.
public final class TransactionApplier: @unchecked Sendable {
    private let target: any ApplyTarget
    private let maxEvents: Int
    private let maxDelay: Duration
    private let commitsEachBatch: Bool
    private var complete = ChangeSet()
    /// The end of the last source transaction in `complete` (or in the open target transaction).
    private var completeEnd: Position?
    private var completeSince: ContinuousClock.Instant?
    private var current = ChangeSet()
    /// Each table's latest column list, shared by the rows that carry it.
    private let columnLists = ColumnLists()
    /// A target transaction is open and holds changes not yet committed.
    private var targetOpen = false
    /// The position stored with the last confirmed commit (or read back by `open`).
    public private(set) var committed: Position?
    /// The position of a commit sent and not yet confirmed.
    private var unconfirmed: Position?

    public init(target: any ApplyTarget, maxEvents: Int, maxDelay: Duration, commitsEachBatch: Bool = false) {
        self.target = target
        self.maxEvents = max(1, maxEvents)
        self.maxDelay = maxDelay
        self.commitsEachBatch = commitsEachBatch
    }

    /// Connects and reads the stored position back.
    public func open() async throws -> SinkPosition {
        reset()
        committed = try await target.open()
        return .tracked(last: committed)
    }

    /// Collects `batch`, writing and committing as the limits say.
    public func write(_ batch: EventBatch) async throws {
        for index in batch.events.indices {
            let record = batch.events[index]
            switch record.op {
            case .read where try RowChange.startsTableSnapshot(batch, index):
                // A snapshot replaces the table's rows (see `startsTableSnapshot`).
                guard let table = record.table else { break }
                try await writeCollected()
                try await target.truncate(table)
                current.add(try RowChange.parse(batch, index, columns: columnLists))
            case .create, .update, .read, .delete:
                current.add(try RowChange.parse(batch, index, columns: columnLists))
                if current.eventCount >= maxEvents { try await writeCollected() }
            case .truncate:
                guard let table = record.table else { break }
                try await writeCollected()
                try await target.truncate(table)
            case .schemaChange:
                let change = try SchemaChange.parse(batch, index)
                try await writeCollected()
                try await target.applySchema(change)
            case .message:
                break
            }
            if record.endsTransaction { try await endTransaction(at: record.position) }
        }
        // The previous batch's commit is confirmed first: at most one is in flight.
        if commitsEachBatch, !targetOpen { try await commitComplete() }
    }

    /// Commits every complete source transaction collected; returns the
    /// position committed last. A source transaction still open in the
    /// target (a huge one, or one with a schema change) commits at its end.
    public func flush() async throws -> Position? {
        // An open target transaction holds part of the source transaction
        // in progress (every other commits at its end): it waits for that end.
        if !targetOpen { try await commitComplete() }
        try await confirmCommit()
        return committed
    }

    /// Abandons whatever is not committed.
    public func close() async {
        if targetOpen { await target.rollback() }
        reset()
        await target.close()
    }

    private func reset() {
        complete = ChangeSet()
        current = ChangeSet()
        completeEnd = nil
        completeSince = nil
        targetOpen = false
        unconfirmed = nil
    }

    private func endTransaction(at position: Position) async throws {
        complete.append(current)
        current = ChangeSet()
        completeEnd = position
        if completeSince == nil { completeSince = .now }
        if targetOpen || complete.eventCount >= maxEvents || (completeSince.map { .now - $0 >= maxDelay } ?? false) {
            try await commitComplete()
        }
    }

    /// Writes `complete` and `current` into the open target transaction.
    private func writeCollected() async throws {
        try await beginIfNeeded()
        if !complete.isEmpty {
            try await target.apply(complete)
            complete = ChangeSet()
        }
        if !current.isEmpty {
            try await target.apply(current)
            current = ChangeSet()
        }
    }

    private func commitComplete() async throws {
        guard let end = completeEnd, end != committed, end != unconfirmed else { return }
        try await beginIfNeeded()
        if !complete.isEmpty { try await target.apply(complete) }
        // The previous commit, which the target has had the time it took to
        // read and send this one's changes to finish.
        try await confirmCommit()
        try await target.commit(through: end)
        targetOpen = false
        unconfirmed = end
        complete = ChangeSet()
        completeSince = nil
    }

    private func confirmCommit() async throws {
        guard let pending = unconfirmed else { return }
        try await target.confirm()
        committed = pending
        unconfirmed = nil
    }

    private func beginIfNeeded() async throws {
        guard !targetOpen else { return }
        try await target.begin()
        targetOpen = true
    }
}
