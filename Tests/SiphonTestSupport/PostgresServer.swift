import Foundation

/// A throwaway PostgreSQL 15 cluster in a fresh folder under /tmp, listening on 127.0.0.1
/// at a free port and on a private Unix socket, configured for logical replication.
///
/// Superuser `postgres`, password `postgres`: trust over the socket, scram-sha-256 over TCP
/// (plain and replication connections). Durability is off for speed. When run as root, the
/// server runs as the `postgres` OS user. On deinit the server is stopped (immediate mode)
/// and its folder removed.
public final class PostgresServer: @unchecked Sendable {
    /// The TCP port on 127.0.0.1; it stays the same across `stop()`/`start()`/`restart()`.
    public let port: Int
    public let dataDirectory: String
    public let socketDirectory: String
    public let logFile: String

    private let root: TemporaryDirectory
    private let lock = NSLock()
    private var running = false

    /// Settings every cluster gets unless `start(settings:)` overrides them.
    public static let defaultSettings: [String: String] = [
        "wal_level": "logical",
        "max_replication_slots": "20",
        "max_wal_senders": "20",
        "listen_addresses": "127.0.0.1",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    ]

    /// Creates, configures and starts a new cluster; returns once it accepts connections.
    /// `settings` override `defaultSettings` (values are written quoted, e.g. `["wal_level": "replica"]`).
    /// Throws with the server log's tail if it does not come up.
    public static func start(settings: [String: String] = [:]) throws -> PostgresServer {
        var attempt = 1
        while true {
            let server = try PostgresServer(port: try PostgresBinaries.freeLoopbackPort(), settings: settings)
            do {
                try server.start()
                return server
            } catch {
                // Another process may have taken the port between our probe and the server's bind.
                let log = server.logTail()
                guard attempt < 3, log.contains("could not bind") || log.contains("already in use") else {
                    throw error
                }
                attempt += 1
            }
        }
    }

    private init(port: Int, settings: [String: String]) throws {
        self.port = port
        root = try TemporaryDirectory(prefix: "siphon-pg")
        dataDirectory = root.appending("data")
        socketDirectory = root.appending("socket")
        logFile = root.appending("server.log")
        let passwordFile = root.appending("pwfile")

        try FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: false)
        try createFile(atPath: logFile)
        try createFile(atPath: passwordFile, contents: Data("postgres\n".utf8))
        try PostgresBinaries.giveToServerUser([root.path, socketDirectory, logFile, passwordFile])

        try PostgresBinaries.runAsServerUser(
            "initdb",
            ["-D", dataDirectory, "-U", "postgres", "--pwfile=\(passwordFile)",
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"],
            in: root.path, timeout: .seconds(120))

        var all = Self.defaultSettings.merging(settings) { $1 }
        all["port"] = String(port)
        all["unix_socket_directories"] = socketDirectory
        let conf = all.keys.sorted().map { "\($0) = \(Self.quote(all[$0]!))" }.joined(separator: "\n")
        try Self.append("\n# siphon test settings\n\(conf)\n", to: dataDirectory + "/postgresql.conf")
        try """
            local all all trust
            local replication all trust
            host all all 127.0.0.1/32 scram-sha-256
            host replication all 127.0.0.1/32 scram-sha-256

            """.write(toFile: dataDirectory + "/pg_hba.conf", atomically: false, encoding: .utf8)
    }

    /// A libpq connection string over TCP: `host=127.0.0.1 port=N dbname=... user=... password=...`.
    public func conninfo(database: String = "postgres", user: String = "postgres", password: String? = "postgres") -> String {
        var parts = ["host=127.0.0.1", "port=\(port)", "dbname=\(database)", "user=\(user)"]
        if let password { parts.append("password=\(password)") }
        return parts.joined(separator: " ")
    }

    /// Runs `sql` (one or more statements) with `psql -X -q -At -v ON_ERROR_STOP=1` over the
    /// Unix socket as `postgres`; returns stdout with surrounding whitespace trimmed, one row
    /// per line, columns separated by `|`. Throws, quoting stderr, on any SQL error.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") throws -> String {
        let scratch = try TemporaryDirectory(prefix: "siphon-sql")
        let script = scratch.appending("script.sql")
        try sql.write(toFile: script, atomically: false, encoding: .utf8)
        let result = try ChildProcess.run(
            executable: try PostgresBinaries.path("psql"),
            arguments: ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                        "-h", socketDirectory, "-p", String(port), "-U", "postgres", "-d", database],
            environment: ["PGCONNECT_TIMEOUT": "10"], stdin: script, timeout: .seconds(120))
        guard result.status == 0 else {
            throw TestSupportError("psql failed (status \(result.status)) running:\n\(sql)\nstderr:\n\(result.stderr)")
        }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `CREATE DATABASE "name"`.
    public func createDatabase(_ name: String) throws {
        try psql("CREATE DATABASE \"\(name.replacingOccurrences(of: "\"", with: "\"\""))\"")
    }

    /// Stops the server with `pg_ctl stop -m mode` (`smart`, `fast` or `immediate`) and waits.
    public func stop(mode: String = "fast") throws {
        try PostgresBinaries.runAsServerUser(
            "pg_ctl", ["-D", dataDirectory, "-m", mode, "-w", "-t", "60", "stop"],
            in: root.path, timeout: .seconds(90))
        lock.withLock { running = false }
    }

    /// Starts the (stopped) server on the same port and data; returns once it accepts connections.
    public func start() throws {
        do {
            try PostgresBinaries.runAsServerUser(
                "pg_ctl", ["-D", dataDirectory, "-l", logFile, "-w", "-t", "60", "start"],
                in: root.path, timeout: .seconds(90))
            lock.withLock { running = true }
            let isready = try PostgresBinaries.path("pg_isready")
            try eventually(timeout: .seconds(30), "PostgreSQL on port \(port) to accept connections") {
                try ChildProcess.run(
                    executable: isready, arguments: ["-h", socketDirectory, "-p", String(port), "-U", "postgres"],
                    timeout: .seconds(10)
                ).status == 0
            }
        } catch {
            throw TestSupportError("PostgreSQL failed to start: \(error)\nlog \(logFile):\n\(logTail())")
        }
    }

    /// `stop()` then `start()`.
    public func restart() throws {
        try stop()
        try start()
    }

    /// The last lines of the server log.
    public func logTail(lines: Int = 40) -> String {
        tail((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "", maxLines: lines)
    }

    deinit {
        let pidFile = dataDirectory + "/postmaster.pid"
        guard lock.withLock({ running }) || FileManager.default.fileExists(atPath: pidFile) else { return }
        try? stop(mode: "immediate")
        // Last resort: never leave a postmaster behind holding a port and shared memory.
        if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
           let pid = Int32(text.split(separator: "\n").first ?? "") {
            kill(pid, SIGKILL)
        }
    }

    private static func quote(_ value: String) -> String {
        if value.count >= 2, value.hasPrefix("'"), value.hasSuffix("'") { return value }
        return "'" + value.replacingOccurrences(of: "'", with: "''") + "'"
    }

    private static func append(_ text: String, to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }
}
