import Logging
import SiphonCore

/// `siphon check` for a PostgreSQL source: everything `run` needs from the
/// server, read from the catalog and settings, with the exact fix for each
/// failure. Creates nothing: no slot, no publication.
extension PostgresSource {
    public static func preflight(_ configuration: PostgresSourceConfiguration, context: ConnectorContext) async -> [PreflightCheck] {
        let target: ConnectionTarget
        do {
            target = try ConnectionTarget(configuration.url)
        } catch {
            return [.fail("source.url", error.text, fix: "fix source.url (a conninfo string or a postgres:// URL)")]
        }
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(target, replication: false)
        } catch {
            return [.fail("connection", classify(error).message,
                          fix: "check host, port, user and password in source.url, and that pg_hba.conf admits this host")]
        }
        defer { connection.close() }
        var checks = [PreflightCheck.pass("connection", "connected to \(target.display)")]
        do {
            checks += try await serverChecks(connection)
            checks += try await roleChecks(connection)
            checks += await replicationConnectionCheck(target)
            checks += try await tableChecks(connection, configuration: configuration, logger: context.logger)
            checks += try await slotChecks(connection, configuration: configuration)
            if context.lease != nil { checks.append(try await leaseCheck(connection)) }
        } catch {
            checks.append(.fail("catalog", classify(error).message, fix: "the role needs to read pg_catalog and pg_settings"))
        }
        return checks
    }

    /// `lease:` keeps schema versions in `siphon.schema_history`, which the
    /// role creates on first use or must be able to write.
    private static func leaseCheck(_ connection: PostgresConnection) async throws -> PreflightCheck {
        let row = try await connection.query("""
            SELECT to_regclass('siphon.schema_history') IS NOT NULL,
                   CASE WHEN to_regclass('siphon.schema_history') IS NOT NULL
                        THEN has_table_privilege('siphon.schema_history', 'SELECT, INSERT, UPDATE') END,
                   has_database_privilege(current_database(), 'CREATE'),
                   EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'siphon')
                     AND has_schema_privilege('siphon', 'CREATE'),
                   current_user, current_database()
            """).first ?? []
        guard row.count == 6 else { return .fail("lease", "no answer about siphon.schema_history", fix: "run siphon check again") }
        let user = row[4] ?? "", database = row[5] ?? ""
        if row[0] == "t" {
            return row[1] == "t"
                ? .pass("lease", "siphon.schema_history exists and \(user) may write it (schema versions across takeovers)")
                : .fail("lease", "\(user) may not write siphon.schema_history, where lease: keeps schema versions",
                        fix: "GRANT SELECT, INSERT, UPDATE ON siphon.schema_history TO \(try connection.identifier(user))")
        }
        if row[2] == "t" || row[3] == "t" {
            return .pass("lease", "\(user) may create siphon.schema_history, where lease: keeps schema versions (on first run)")
        }
        return .fail("lease", "\(user) may not create the schema siphon and its table schema_history, where lease: keeps schema versions",
                     fix: "GRANT CREATE ON DATABASE \(try connection.identifier(database)) TO \(try connection.identifier(user)) (or create the schema siphon owned by \(user))")
    }

    private static func setting(_ connection: PostgresConnection, _ name: String) async throws -> String? {
        try await connection.query("SELECT setting FROM pg_settings WHERE name = $1", parameters: [name]).first?.first ?? nil
    }

    private static func serverChecks(_ connection: PostgresConnection) async throws -> [PreflightCheck] {
        var checks: [PreflightCheck] = []
        let version = connection.serverVersion
        let shown = "\(version / 10000).\(version % 10000)"
        if version < 100_000 {
            checks.append(.fail("server version", "PostgreSQL \(shown)", fix: "upgrade to PostgreSQL 10 or later (14 or later to stream large transactions)"))
        } else if version < 140_000 {
            checks.append(.warn("server version", "PostgreSQL \(shown): large transactions are decoded at commit, not streamed",
                                fix: "upgrade to PostgreSQL 14 or later to stream large transactions (source.streaming)"))
        } else {
            checks.append(.pass("server version", "PostgreSQL \(version / 10000)"))
        }
        let level = try await setting(connection, "wal_level") ?? "?"
        checks.append(level == "logical"
            ? .pass("wal_level", "logical")
            : .fail("wal_level", "wal_level is \(level)", fix: "ALTER SYSTEM SET wal_level = logical; then restart the server"))
        let slots = try await connection.query(
            "SELECT current_setting('max_replication_slots')::int, (SELECT count(*) FROM pg_replication_slots)").first ?? []
        if let limit = slots.first.flatMap({ $0.flatMap { Int($0) } }), let used = slots.last.flatMap({ $0.flatMap { Int($0) } }) {
            checks.append(used < limit
                ? .pass("max_replication_slots", "\(used) of \(limit) in use")
                : .fail("max_replication_slots", "all \(limit) in use",
                        fix: "ALTER SYSTEM SET max_replication_slots = \(limit + 2); then restart the server (or drop an unused slot)"))
        }
        let senders = try await connection.query(
            "SELECT current_setting('max_wal_senders')::int, (SELECT count(*) FROM pg_stat_replication)").first ?? []
        if let limit = senders.first.flatMap({ $0.flatMap { Int($0) } }), let used = senders.last.flatMap({ $0.flatMap { Int($0) } }) {
            checks.append(used < limit
                ? .pass("max_wal_senders", "\(used) of \(limit) in use")
                : .fail("max_wal_senders", "all \(limit) in use",
                        fix: "ALTER SYSTEM SET max_wal_senders = \(limit + 2); then restart the server"))
        }
        if version >= 130_000, let keep = try await setting(connection, "max_slot_wal_keep_size") {
            checks.append(keep == "-1"
                ? .warn("max_slot_wal_keep_size", "unlimited: a slot nobody reads keeps WAL until the disk is full",
                        fix: "ALTER SYSTEM SET max_slot_wal_keep_size = '50GB' (what the disk can spare); SELECT pg_reload_conf()")
                : .pass("max_slot_wal_keep_size", "\(keep) MB"))
        }
        return checks
    }

    private static func roleChecks(_ connection: PostgresConnection) async throws -> [PreflightCheck] {
        let row = try await connection.query(
            "SELECT current_user, rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user").first ?? []
        let user = row.first.flatMap { $0 } ?? "?"
        let allowed = row.count == 3 && (row[1] == "t" || row[2] == "t")
        return [allowed
            ? .pass("REPLICATION", "role \(user) may replicate")
            : .fail("REPLICATION", "role \(user) lacks the REPLICATION attribute",
                    fix: "ALTER ROLE \(user) REPLICATION")]
    }

    /// pg_hba.conf has a separate rule for replication connections.
    private static func replicationConnectionCheck(_ target: ConnectionTarget) async -> [PreflightCheck] {
        do {
            let replication = try await PostgresConnection.connect(target, replication: true)
            replication.close()
            return [.pass("replication connection", "accepted")]
        } catch {
            return [.fail("replication connection", classify(error).message,
                          fix: "add a line for this host to pg_hba.conf that admits the role to `replication`-type connections for the database (host <db> <role> <address> scram-sha-256), then SELECT pg_reload_conf()")]
        }
    }

    private static func tableChecks(_ connection: PostgresConnection, configuration: PostgresSourceConfiguration,
                                    logger: Logger) async throws -> [PreflightCheck] {
        let catalog = Catalog(connection: connection, logger: logger)
        let user = try await connection.query("SELECT current_user").first?.first.flatMap { $0 } ?? "?"
        let filter = TableFilter(patterns: configuration.tables)
        let matching = try await catalog.userTables().filter { filter.matches($0.name) }
        guard !matching.isEmpty else {
            return [.fail("tables", "no table matches source.tables (\(configuration.tables.joined(separator: ", ")))",
                          fix: "list existing tables in source.tables, as schema.table or with * patterns")]
        }
        var checks: [PreflightCheck] = []
        let existing = try await catalog.publication(configuration.publication)
        for table in matching.sorted(by: { $0.name.description < $1.name.description }) {
            let name = "table \(table.name)"
            let qualified = try catalog.qualifiedName(table.name)
            let readable = try await connection.query("SELECT has_table_privilege($1, 'SELECT')", parameters: [qualified])
                .first?.first ?? nil
            if readable != "t" {
                checks.append(.fail(name, "the role cannot SELECT from it (the snapshot reads it)", fix: "GRANT SELECT ON \(qualified) TO \(try connection.identifier(user))"))
            } else if let problem = table.identityProblem {
                checks.append(.warn(name, "left out: \(problem)",
                                    fix: "add a primary key (not DEFERRABLE), or ALTER TABLE \(table.partitionWithoutIdentity ?? qualified) REPLICA IDENTITY FULL"))
            } else if let existing, !existing.tables.contains(table.name) {
                checks.append(.warn(name, "not in the existing publication \(configuration.publication), so not captured",
                                    fix: "ALTER PUBLICATION \(configuration.publication) ADD TABLE \(qualified)"))
            } else {
                checks.append(.pass(name, "captured"))
            }
        }
        return checks
    }

    private static func slotChecks(_ connection: PostgresConnection, configuration: PostgresSourceConfiguration) async throws -> [PreflightCheck] {
        let name = "slot \(configuration.slot)"
        let columns = connection.serverVersion >= 130_000 ? "wal_status, safe_wal_size" : "NULL, NULL"
        let rows = try await connection.query(
            "SELECT plugin, database, \(columns) FROM pg_replication_slots WHERE slot_name = $1", parameters: [configuration.slot])
        guard let row = rows.first else { return [.pass(name, "does not exist yet; `siphon run` creates it")] }
        if row[0] != "pgoutput" {
            return [.fail(name, "uses the plugin \(row[0] ?? "?"), not pgoutput",
                          fix: "choose another source.slot, or drop this one: SELECT pg_drop_replication_slot('\(configuration.slot)')")]
        }
        if row[1] != connection.databaseName {
            return [.fail(name, "belongs to database \(row[1] ?? "?"), not \(connection.databaseName)",
                          fix: "choose another source.slot")]
        }
        switch row[2] {
        case "lost":
            return [.fail(name, "wal_status is lost: the WAL it needs is gone",
                          fix: "start over: siphon offsets reset --config <file> --to beginning --yes (drops the slot; a new snapshot follows)")]
        case "unreserved":
            return [.warn(name, "wal_status is unreserved: its WAL is about to be removed (safe_wal_size \(row[3] ?? "?") bytes)",
                          fix: "start the pipeline now, or raise max_slot_wal_keep_size")]
        default:
            let safe = row[3].flatMap { $0 }.map { ", safe_wal_size \($0) bytes" } ?? ""
            return [.pass(name, "pgoutput, wal_status \(row[2].flatMap { $0 } ?? "n/a")\(safe)")]
        }
    }
}
