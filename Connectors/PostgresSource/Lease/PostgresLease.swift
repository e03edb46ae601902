import Logging
import SiphonCore
import Synchronization

/// `lease:` for a PostgreSQL source: a session advisory lock in the source
/// database, on a key derived from the slot name, held on a normal
/// connection for as long as the pipeline runs.
///
/// Timing, which is what keeps two instances from streaming at once: the
/// holder checks its connection every `checkInterval` and gives the lease
/// up when a check goes unanswered for `checkTimeout`, so it stops at most
/// about 4 s after its last answered check. The server ends the session of
/// a holder it no longer hears from (a dead host, a network partition)
/// through TCP keepalives set on that session (5 s idle, then 3 probes 2 s
/// apart) or `tcp_user_timeout` (10 s) for data it sent unanswered: about
/// 10-11 s after the last packet. Only then can a standby take the lock.
/// A killed process's socket is closed by the kernel, so its lock goes at
/// once and a standby takes over within one `retry_interval`.
final class PostgresLease: Lease, Sendable {
    static let checkInterval = Duration.seconds(1)
    static let checkTimeout = Duration.seconds(3)
    /// Client and server TCP settings of the lease's connection (see above).
    static let connectionSettings = [
        "keepalives": "1", "keepalives_idle": "5", "keepalives_interval": "2", "keepalives_count": "3",
        "tcp_user_timeout": "10000", "application_name": "siphon lease",
        "options": "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3 -c tcp_user_timeout=10000",
    ]

    private let target: ConnectionTarget
    let key: Int64
    let slot: String
    private let logger: Logger
    /// The lease's connection: a standby's between its tries, the holder's while it holds.
    private let connection = Mutex<PostgresConnection?>(nil)

    init(target: ConnectionTarget, slot: String, logger: Logger) {
        self.target = target.adding(Self.connectionSettings)
        self.slot = slot
        key = Self.key(slot: slot)
        self.logger = logger
    }

    var description: String { "advisory lock \(key) (slot \(slot)) on \(target.display)" }

    /// FNV-1a (64 bits) of `siphon-lease:` and the slot name: the same key
    /// in every process and every version of Siphon, as the lock requires.
    static func key(slot: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in ("siphon-lease:" + slot).utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }

    func tryAcquire() async throws -> Bool {
        let existing = connection.withLock { $0.take() }
        do {
            let session: PostgresConnection
            if let existing { session = existing } else { session = try await PostgresConnection.connect(target, replication: false) }
            let rows = try await session.within(Self.checkTimeout) {
                try await session.query("SELECT pg_try_advisory_lock($1)", parameters: [String(key)])
            }
            connection.withLock { $0 = session }
            return rows.first?.first == "t"
        } catch {
            existing?.close()
            let failure = PostgresSource.classify(error)
            if failure.isTransient { return false }
            throw failure
        }
    }

    func watch() async {
        while true {
            do {
                try await Task.sleep(for: Self.checkInterval)
            } catch {
                return
            }
            let session = connection.withLock { $0.take() }
            guard let session else { return }
            do {
                _ = try await session.within(Self.checkTimeout) { try await session.query("SELECT 1") }
                connection.withLock { $0 = session }
            } catch {
                session.close()
                logger.warning("the lease's connection failed: \(PostgresSource.classify(error).message)",
                               metadata: ["lease": .string(description)])
                return
            }
        }
    }

    /// Closing the session is what frees a session lock, so this is also
    /// what a crash does.
    func release() {
        connection.withLock { $0.take() }?.close()
    }
}
