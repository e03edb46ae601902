import SiphonCore

/// `siphon check` for the PostgreSQL target: reachable with the given
/// credentials, the schemas the sink writes to usable (or creatable), the
/// role allowed `session_replication_role` when `replication_role: replica`
/// asks for it, and what `_siphon_offsets` holds for the pipeline. Creates
/// nothing.
extension PostgresSink {
    public static func preflight(_ configuration: PostgresSinkConfiguration, context: ConnectorContext) async -> [PreflightCheck] {
        let address: TargetAddress
        do {
            address = try TargetAddress(configuration.url)
        } catch {
            return [.fail("target", error.message, fix: "correct sink.url")]
        }
        let connection: TargetConnection
        do {
            connection = try await TargetConnection.connect(address)
        } catch {
            return [.fail("target", (error as? SiphonError)?.message ?? "\(error)",
                          fix: "check sink.url: host, port, database, user and password, and that pg_hba.conf lets this host in")]
        }
        defer { connection.close() }
        var checks: [PreflightCheck] = []
        do {
            let facts = try await connection.query("""
                SELECT current_setting('server_version'), current_setting('server_version_num')::int,
                       r.rolsuper, has_database_privilege(current_database(), 'CREATE')
                FROM pg_roles r WHERE r.rolname = current_user
                """, doing: "reading the server's version and the role's rights")
            guard let row = facts.first, row.count == 4 else {
                return [.fail("target", "no answer about role \(address.user)", fix: "check sink.url")]
            }
            let superuser = row[2] == "t", mayCreateSchemas = row[3] == "t"
            checks.append(.pass("target", "PostgreSQL \(row[0] ?? "?") at \(address.display)"))
            // The schemas written to: the configured one, or (without it) the
            // source tables' own, which are known only once events arrive:
            // `public`, where `_siphon_offsets` goes, stands for them.
            let schemas = Set([configuration.offsetsSchema]
                + configuration.tables.values.compactMap { $0.contains(".") ? String($0.prefix { $0 != "." }) : nil })
            for schema in schemas.sorted() {
                let rights = try await connection.query("""
                    SELECT has_schema_privilege(n.oid, 'USAGE'), has_schema_privilege(n.oid, 'CREATE')
                    FROM pg_namespace n WHERE n.nspname = $1
                    """, [schema], doing: "reading the rights on schema \(schema)")
                let quoted = SQL.quoted(schema)
                if let rights = rights.first {
                    checks.append(rights[0] == "t" && rights[1] == "t"
                        ? .pass("schema \(schema)", "exists; \(address.user) may use it and create tables in it")
                        : .fail("schema \(schema)", "\(address.user) may not \(rights[0] == "t" ? "create tables in" : "use") it",
                                fix: "GRANT USAGE, CREATE ON SCHEMA \(quoted) TO \(SQL.quoted(address.user));"))
                } else {
                    checks.append(mayCreateSchemas
                        ? .pass("schema \(schema)", "does not exist yet; the sink creates it")
                        : .fail("schema \(schema)", "does not exist, and \(address.user) may not create it",
                                fix: "CREATE SCHEMA \(quoted) AUTHORIZATION \(SQL.quoted(address.user)); (or GRANT CREATE ON DATABASE to the role)"))
                }
            }
            if configuration.replicationRole == .replica {
                checks.append(superuser
                    ? .pass("replication_role", "\(address.user) is a superuser and may set session_replication_role = replica")
                    : .fail("replication_role", "session_replication_role = replica needs a superuser; \(address.user) is not one",
                            fix: "use a superuser in sink.url, or set sink.replication_role: origin"))
            }
            let offsets = TableName(schema: configuration.offsetsSchema, name: "_siphon_offsets")
            if try await PostgresTarget.exists(offsets, on: connection) {
                let held = try await PostgresTarget.readPosition(connection, table: SQL.quoted(offsets), pipeline: context.pipeline)
                checks.append(.pass("offsets", held.map { "\(offsets) holds pipeline \(context.pipeline) at \($0)" }
                    ?? "\(offsets) exists; nothing of pipeline \(context.pipeline) yet"))
            } else {
                checks.append(.pass("offsets", "\(offsets) does not exist yet; the sink creates it"))
            }
        } catch {
            checks.append(.fail("target", (error as? SiphonError)?.message ?? "\(error)", fix: "see the message"))
        }
        return checks
    }
}
