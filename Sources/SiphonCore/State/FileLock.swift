import Glibc

/// An exclusive, non-blocking `flock` on a file, with the holder's pid
/// written in it: what keeps a state folder, an SQLite lease or a file
/// sink's output to one process. The kernel drops the lock when the
/// process exits, however it exits.
public enum FileLock {
    /// Opening or locking failed for a reason other than another holder.
    public struct Failure: Error {
        /// "open" or "lock".
        public var step: String
        /// `strerror`'s text.
        public var reason: String
    }

    /// Opens (creating) `path` and locks it: the open descriptor, which
    /// holds the lock until it is closed, or nil when another process
    /// holds it.
    public static func tryLock(_ path: String) throws(Failure) -> Int32? {
        let descriptor = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Failure(step: "open", reason: String(cString: strerror(errno))) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            close(descriptor)
            if failure == EWOULDBLOCK { return nil }
            throw Failure(step: "lock", reason: String(cString: strerror(failure)))
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        return descriptor
    }
}
