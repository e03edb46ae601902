import SiphonCore

/// Ends a session that streams values in binary form (`binary: true`) when
/// it meets a value it cannot decode; `PostgresSource` then reconnects at
/// once with values in text form for the rest of the process's life.
///
/// Why a reconnect and not a per-value fallback: pgoutput chooses the
/// format for the whole session, and a binary value has no text form on
/// the wire to fall back to. The session start already keeps binary off
/// when a captured table has a column of a type `BinaryFormat` does not
/// cover, so this only happens when the stream brings one the catalog did
/// not show at that moment: a table or column added or retyped since, or
/// an older definition still in the WAL backlog, or bytes that do not have
/// their format's shape. The check runs on the Relation message, before
/// any row of that relation is rendered and before its schema version is
/// recorded; undecodable bytes are caught while rendering, and the batch
/// holding them is dropped with the session. The text session resumes from
/// the last acknowledged position and the pipeline skips what the sink
/// already holds, so the output is the same as if text had been used.
struct BinaryModeFallback: Error, CustomStringConvertible {
    var table: TableName
    var column: String
    var reason: String

    var description: String {
        "column \(column) of \(table) \(reason); streaming values in text form from now on"
    }
}
