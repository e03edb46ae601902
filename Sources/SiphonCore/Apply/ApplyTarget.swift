/// A database a database sink applies changes to (PostgreSQL, SQLite): the
/// operations `TransactionApplier` drives, all on one connection.
///
/// Contract, one line per method:
/// - `open` connects, creates the offsets table (`_siphon_offsets`) when
///   missing, and returns the position stored there for the pipeline (nil:
///   none). Called again after `close`.
/// - `begin` starts a target transaction; every other call but `open` and
///   `close` runs inside one.
/// - `apply` writes a collapsed set of row changes (set-based statements).
/// - `applySchema` brings a table to a schema-change event's columns
///   (create, add, widen, relax NOT NULL); idempotent, so a replay is harmless.
/// - `truncate` empties a table.
/// - `commit` stores `position` in the offsets table and commits, both or
///   neither. It may return before the target has answered (a target that
///   pipelines its statements): the commit counts only once `confirm` has
///   returned after it.
/// - `confirm` waits for the outcome of every commit sent so far and throws
///   the first failure; a failed target transaction committed nothing.
/// - `rollback` abandons the open transaction, if any, without throwing.
/// - `close` releases the connection without throwing; nothing uncommitted survives.
///
/// Errors are `SiphonError`s, transient where retrying may help.
public protocol ApplyTarget: AnyObject {
    func open() async throws -> Position?
    func begin() async throws
    func apply(_ changes: ChangeSet) async throws
    func applySchema(_ change: SchemaChange) async throws
    func truncate(_ table: TableName) async throws
    func commit(through position: Position) async throws
    func confirm() async throws
    func rollback() async
    func close() async
}

extension ApplyTarget {
    /// For a target whose `commit` returns once committed.
    public func confirm() async throws {}
}
