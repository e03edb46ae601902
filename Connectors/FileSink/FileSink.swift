import CLinuxIO
import Foundation
import Logging
import SiphonCore
import Synchronization

/// Appends events to a JSON Lines file, one event per line.
///
/// Durability: `flush` fdatasyncs the file, so a checkpoint never runs ahead
/// of what is on disk (a character device such as /dev/null, a FIFO or a
/// socket has nothing to sync and promises nothing). Only the file's tail
/// stays in the page cache, see `PageCacheWindow`. Exactly-once: `open` cuts a partly written last line
/// (a crash mid-write) and returns the position of the last complete line,
/// so the pipeline never writes an event twice.
///
/// Not an actor: the pipeline writes from one task, on its own thread, and
/// an actor hop per batch cost two more job switches on that thread before
/// each batch reached the file. The descriptor sits behind a lock instead,
/// which `flush` (called on another thread, while writes go on) holds only
/// to take a duplicate of it.
public final class FileSink: Sink {
    public struct Configuration: Sendable, Equatable {
        public var path: String
        /// How much of the file's tail may stay in the page cache
        /// (`sink.page_cache_mb`); 0 leaves it to the kernel. See `PageCacheWindow`.
        public var pageCacheBytes: Int
        public init(path: String, pageCacheBytes: Int = 64 << 20) {
            self.path = path
            self.pageCacheBytes = pageCacheBytes
        }
    }

    private struct State {
        var descriptor: Int32 = -1
        /// Written since the last fdatasync.
        var unsynced = false
        /// False for a character device such as /dev/null, a FIFO or a
        /// socket, which hold nothing to sync (fdatasync fails with EINVAL).
        var syncable = true
        var cache = PageCacheWindow(size: 0, fileLength: 0)
    }

    private let configuration: Configuration
    private let logger: Logger
    private let state = Mutex(State())

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func open() async throws -> Position? {
        let path = configuration.path
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw SiphonError(.sink, "sink.path: cannot create folder \(folder): \(error.localizedDescription)")
            }
        }
        let fd = Foundation.open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw sinkError("open", path) }
        let recovered: JSONLinesTail.Recovered
        do {
            recovered = try JSONLinesTail.recover(fd: fd, path: path)
        } catch {
            Foundation.close(fd)
            throw error
        }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            Foundation.close(fd)
            throw sinkError("stat", path)
        }
        let kind = status.st_mode & S_IFMT
        let syncable = kind != S_IFCHR && kind != S_IFIFO && kind != S_IFSOCK
        let length = Int(lseek(fd, 0, SEEK_END))
        let cache = PageCacheWindow(size: kind == S_IFREG ? configuration.pageCacheBytes : 0, fileLength: max(length, 0))
        let previous = state.withLock { state in
            defer { state = State(descriptor: fd, syncable: syncable, cache: cache) }
            return state.descriptor
        }
        if previous >= 0 { Foundation.close(previous) }
        if recovered.truncatedBytes > 0 {
            logger.warning("cut a partly written last line left by a crash", metadata: [
                "file": .string(path), "bytes": .stringConvertible(recovered.truncatedBytes),
            ])
        }
        return recovered.lastPosition
    }

    public func write(_ batch: EventBatch) async throws {
        try state.withLock { state in
            guard state.descriptor >= 0 else { throw SiphonError(.sink, "file sink used before open") }
            let descriptor = state.descriptor
            let ok = batch.buffer.bytes.withUnsafeBytes { raw -> Bool in
                var offset = 0
                while offset < raw.count {
                    let count = Foundation.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                    if count < 0 {
                        if errno == EINTR { continue }
                        return false
                    }
                    offset += count
                }
                return true
            }
            guard ok else { throw sinkError("write", configuration.path) }
            state.unsynced = true
            try carryOut(state.cache.appended(batch.buffer.count), on: &state)
        }
    }

    /// Makes the page cache window's calls. A wait for writeback reports
    /// (and clears) any writeback error of the whole file, which the next
    /// fdatasync would then not see: every failure fails the sink, except
    /// a file that does not support starting writeback at all.
    private func carryOut(_ plan: PageCacheWindow.Plan, on state: inout State) throws {
        if let range = plan.startWriteback,
           siphon_start_writeback(state.descriptor, Int64(range.lowerBound), Int64(range.count)) != 0 {
            guard [EINVAL, ESPIPE, ENOSYS, EOPNOTSUPP].contains(errno) else {
                throw sinkError("start writeback of", configuration.path)
            }
            logger.notice("this file cannot be written back early; leaving its page cache to the kernel", metadata: [
                "file": .string(configuration.path), "error": .string(String(cString: strerror(errno))),
            ])
            state.cache.turnOff()
            return
        }
        if let range = plan.writeBackAndDrop,
           siphon_write_back_and_drop(state.descriptor, Int64(range.lowerBound), Int64(range.count)) != 0 {
            throw sinkError("write back", configuration.path)
        }
    }

    /// The pipeline flushes on another thread while `write` goes on.
    public var flushesAlongsideWrites: Bool { true }

    /// Syncs what was written before the call, without holding the lock
    /// that `write` takes: a duplicate of the descriptor keeps the file open
    /// for the fdatasync even if the sink is closed meanwhile, and a write
    /// during the fdatasync leaves the file unsynced for the next flush.
    public func flush() async throws {
        let descriptor = try state.withLock { state -> Int32? in
            guard state.descriptor >= 0, state.unsynced, state.syncable else { return nil }
            let copy = fcntl(state.descriptor, F_DUPFD_CLOEXEC, 0)
            guard copy >= 0 else { throw sinkError("fsync", configuration.path) }
            state.unsynced = false
            return copy
        }
        guard let descriptor else { return }
        defer { Foundation.close(descriptor) }
        guard fdatasync(descriptor) == 0 else {
            let error = sinkError("fsync", configuration.path)
            state.withLock { $0.unsynced = true }
            throw error
        }
    }

    public func close() async throws {
        state.withLock { state in
            guard state.descriptor >= 0 else { return }
            if state.unsynced && state.syncable { _ = fdatasync(state.descriptor) }
            Foundation.close(state.descriptor)
            state = State()
        }
    }

    private func sinkError(_ action: String, _ path: String) -> SiphonError {
        SiphonError(.sink, "cannot \(action) \(path): \(String(cString: strerror(errno))); check sink.path, its permissions and free space")
    }
}
