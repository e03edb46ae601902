/// `lease:`: several processes are given one pipeline (two hosts, two
/// replicas), and only the one holding the lease runs it; the others wait
/// as standbys and take over when it is gone.
public struct LeaseOptions: Sendable, Equatable {
    /// How often a standby tries to take the lease (`retry_interval`).
    public var retryInterval: Duration = .seconds(2)

    public init(retryInterval: Duration = .seconds(2)) {
        self.retryInterval = retryInterval
    }
}

/// The right to run one pipeline, held by at most one process at a time.
///
/// Contract:
/// - `tryAcquire` tries once, without waiting for the holder: true when
///   this process holds the lease now. A failure that may pass (the
///   database unreachable) is "not taken", not an error; it throws only
///   for what a person must fix, as a `SiphonError`.
/// - `watch` is called while the lease is held and returns as soon as the
///   lease is lost or can no longer be confirmed, early enough that no
///   other process can have taken it yet when the lease's own timing
///   holds (see the connector's documentation). It returns at once when
///   its task is cancelled.
/// - `release` gives the lease up (if held); idempotent, never throws.
public protocol Lease: Sendable {
    func tryAcquire() async throws -> Bool
    func watch() async
    func release()
    /// What the lease is, for logs (`advisory lock 7431… on host=db`).
    var description: String { get }
}
