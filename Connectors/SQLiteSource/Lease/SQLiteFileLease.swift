import Glibc
import SiphonCore
import Synchronization

/// `lease:` for an SQLite source: an exclusive `flock` on a file next to the
/// database (`<database>-siphon-<pipeline>.lease`), held for as long as the
/// pipeline runs. The database is a local file, so its instances share a
/// host; the kernel drops the lock when the holder exits, however it exits.
/// Not on network file systems, whose `flock` may not exclude other hosts.
final class SQLiteFileLease: Lease, Sendable {
    let path: String
    private let descriptor = Mutex<Int32?>(nil)

    init(database: String, pipeline: String) {
        path = "\(database)-siphon-\(pipeline).lease"
    }

    var description: String { "lock file \(path)" }

    func tryAcquire() async throws -> Bool {
        if descriptor.withLock({ $0 != nil }) { return true }
        let held: Int32?
        do {
            held = try FileLock.tryLock(path)
        } catch {
            throw SiphonError(.sourceSetup, "cannot \(error.step) the lease file \(path): \(error.reason); the database's folder must be writable")
        }
        guard let file = held else { return false }
        descriptor.withLock { $0 = file }
        return true
    }

    /// A lock held by this process's open file cannot be lost while it runs.
    func watch() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(3600))
        }
    }

    func release() {
        if let file = descriptor.withLock({ $0.take() }) { close(file) }
    }
}
