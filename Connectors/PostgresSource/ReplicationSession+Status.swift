import Logging
import Metrics
import SiphonCore

/// What the session tells the server and records while it streams:
/// standby status updates (the acknowledgement of what the sink holds),
/// `source.heartbeat`, and the slot's lag.
extension ReplicationSession {
    /// How often the slot's lag is read (`siphon_slot_lag_bytes`,
    /// `source.max_lag`): a catalog read, so a slow timer.
    var lagCheckInterval: Duration { max(configuration.statusInterval * 3, .seconds(3)) }

    /// Runs `source.heartbeat`'s statement on the side connection. A failure
    /// is a warning (the slot still advances by the keepalives' WAL end).
    func beat(_ heartbeat: PostgresSourceConfiguration.Heartbeat, on connection: PostgresConnection) async {
        do {
            try await connection.query(heartbeat.query)
        } catch {
            logger.warning("source.heartbeat.query failed; streaming goes on", metadata: [
                "error": .string(PostgresSource.classify(error).message),
                "fix": .string("make the statement run as the pipeline's role, or leave source.heartbeat.query out for pg_logical_emit_message"),
            ])
        }
    }

    /// Records the WAL the slot holds back (its lag behind the server's
    /// WAL, and the WAL kept from its restart LSN on, with `wal_status`), and
    /// warns when the lag is more than `source.max_lag`. (`wal_status`, from
    /// PostgreSQL 13 on, is read through `to_jsonb` so that the query still
    /// runs on 10 to 12, where it is null.)
    func checkLag(_ limit: Int64?, on connection: PostgresConnection) async {
        do {
            let rows = try await connection.query("""
                SELECT pg_wal_lsn_diff(w.lsn, s.confirmed_flush_lsn)::bigint, pg_wal_lsn_diff(w.lsn, s.restart_lsn)::bigint,
                       to_jsonb(s) ->> 'wal_status'
                FROM pg_replication_slots s,
                     (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END AS lsn) w
                WHERE slot_name = $1
                """, parameters: [configuration.slot])
            guard let row = rows.first, row.count >= 3, let text = row[0], let lag = Int64(text) else { return }
            let retained = row[1].flatMap { Int64($0) }
            if let retained { retainedGauge.record(retained) }
            if let status = row[2] {
                for (name, gauge) in walStatusGauges { gauge.record(name == status ? 1 : 0) }
            }
            source.activity.retainedLog(bytes: retained, status: row[2])
            lagGauge.record(lag)
            guard let limit, lag > limit else { return }
            logger.warning("the slot holds back more WAL than source.max_lag", metadata: [
                "slot": .string(configuration.slot), "lag_bytes": .stringConvertible(lag), "max_lag_bytes": .stringConvertible(limit),
                "fix": .string("the sink is slow or failing (see the lines before), or the pipeline is behind a large backlog; Siphon never drops the slot itself"),
            ])
        } catch {
            logger.debug("could not read the slot's lag", metadata: ["error": .string(PostgresSource.classify(error).message)])
        }
    }

    /// A standby status update: what the sink holds durably, so the server
    /// may forget it. Also the sign of life without which the walsender
    /// ends the connection after wal_sender_timeout (60s by default).
    func sendStatus(_ replication: PostgresConnection, requestReply: Bool) async throws {
        let update = StandbyStatusUpdate(
            written: max(receivedLSN, tracker.confirmedLSN), flushed: tracker.confirmedLSN,
            applied: tracker.confirmedLSN, clientTime: PostgresTime.postgresMicros(fromUnixMillis: Clock.unixMillis()),
            replyRequested: requestReply)
        try await replication.sendCopyData(update.encode())
        if tracker.confirmedLSN > confirmedSent { source.activity.acknowledged(tracker.confirmedLSN.rawValue) }
        confirmedSent = tracker.confirmedLSN
        lastStatusSent = ContinuousClock.now
    }
}
