import SiphonCore

/// How the PostgreSQL source fills a `Position`.
///
/// - Streamed change: `high` = the transaction's commit LSN, `low` = the
///   event's index within the transaction (0-based).
/// - Initial snapshot: `high` = the slot's consistent point minus one,
///   `low` = the row's index in the snapshot. Every streamed transaction
///   commits at or after the consistent point, so snapshot events sort first.
/// - Non-transactional message: `high` = the message's LSN, `low` = 0.
public enum PostgresPosition {
    public static func describe(_ position: Position) -> String {
        "commit LSN \(LSN(position.high)), event \(position.low)"
    }
}
