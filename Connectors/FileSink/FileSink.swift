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
/// stays in the page cache, see `PageCacheWindow`.
///
/// Exactly once: the sink tracks its position (`FileSinkPosition`). `open`
/// cuts a partly written last line (a crash mid-write), fsyncs the file
/// (and the folder, when it created the file), so the position it reports
/// is on disk and not only in the page cache, and checks that the last
/// event is this pipeline's. The file is locked (`flock`) while open, so
/// no second process appends to it; each flush checks that the path still
/// names the open file, so a file deleted or replaced under Siphon fails the
/// pipeline before anything written into the lost file is checkpointed.
///
/// A failed write or fdatasync (a full disk, an I/O error) is transient:
/// the pipeline closes the sink and starts again from its checkpoint. After
/// a failed fdatasync the kernel may have dropped the unsynced pages while
/// the file's length still counts them, so the file is cut back to its
/// last synced length first.
///
/// Not an actor: the pipeline writes from one task, on its own thread, and
/// an actor hop per batch cost two more job switches on that thread before
/// each batch reached the file. The descriptor sits behind a lock instead,
/// which `flush` (called on another thread, while writes go on) holds only
/// to take a duplicate of it.
public final class FileSink: Sink {
    private struct State {
        var descriptor: Int32 = -1
        /// The file the path named when it was opened, to notice a deletion.
        var identity: (device: UInt, inode: UInt)?
        /// Written since the last fdatasync.
        var unsynced = false
        /// False for a character device such as /dev/null, a FIFO or a
        /// socket, which hold nothing to sync (fdatasync fails with EINVAL).
        var syncable = true
        var cache = PageCacheWindow(size: 0, fileLength: 0)
        /// The position of the last event written, and the file's length after it.
        var lastWritten: Position?
        var length = 0
        /// The file's length at the last successful fdatasync.
        var syncedLength = 0
        /// Set when a flush failed: nothing more may be appended (the file
        /// was cut back) until the pipeline reopens the sink.
        var failed: SiphonError?
    }

    private let configuration: FileSinkConfiguration
    private let pipeline: String
    private let logger: Logger
    private let state = Mutex(State())

    public init(configuration: FileSinkConfiguration, pipeline: String, logger: Logger) {
        self.configuration = configuration
        self.pipeline = pipeline
        self.logger = logger
    }

    public func open() async throws -> SinkPosition {
        let path = configuration.path
        let createdFolders = try createFolders()
        var created = false
        var fd = Foundation.open(path, O_RDWR | O_APPEND | O_CLOEXEC)
        if fd < 0 && errno == ENOENT {
            // New: never through a symlink someone planted, never over a file made meanwhile.
            fd = Foundation.open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, configuration.mode)
            created = fd >= 0
        }
        guard fd >= 0 else { throw sinkError("open", transient: errno == ENOSPC || errno == EDQUOT || errno == EIO) }
        do {
            let opened = try prepare(fd: fd, created: created, createdFolders: createdFolders)
            let previous = state.withLock { state in
                defer { state = opened.state }
                return state.descriptor
            }
            if previous >= 0 { Foundation.close(previous) }
            return opened.position
        } catch {
            Foundation.close(fd)
            throw error
        }
    }

    /// Locks, recovers and syncs the opened file; returns the sink's state
    /// and what it holds.
    private func prepare(fd: Int32, created: Bool, createdFolders: [String]) throws -> (state: State, position: SinkPosition) {
        let path = configuration.path
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw sinkError("stat", transient: true) }
        let kind = status.st_mode & S_IFMT
        guard kind == S_IFREG else {
            // /dev/null, a FIFO, a socket: nothing to read back or sync.
            let syncable = kind != S_IFCHR && kind != S_IFIFO && kind != S_IFSOCK
            return (State(descriptor: fd, syncable: syncable), .untracked)
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            throw SiphonError(.sink, "sink file \(path) is locked by another process (another siphon writing it?); stop it, or give this pipeline its own sink.path")
        }
        let recovered = try FileSinkPosition.recover(fd: fd, path: path, pipeline: pipeline, cut: true)
        if recovered.truncatedBytes > 0 {
            logger.warning("cut a partly written last line (left by a crash or a failed write)", metadata: [
                "file": .string(path), "bytes": .stringConvertible(recovered.truncatedBytes),
            ])
        }
        // What the pipeline resumes after must be on disk, not only in the
        // page cache: after a kill -9 the file's tail may be unsynced.
        guard fdatasync(fd) == 0 else { throw sinkError("fsync", transient: true) }
        if created { try syncFolder(of: path) }
        for folder in createdFolders { try syncFolder(of: folder) }
        let length = Int(lseek(fd, 0, SEEK_END))
        var opened = State(descriptor: fd)
        opened.identity = (UInt(status.st_dev), UInt(status.st_ino))
        opened.cache = PageCacheWindow(size: configuration.pageCacheBytes, fileLength: max(length, 0))
        opened.lastWritten = recovered.lastPosition
        opened.length = max(length, 0)
        opened.syncedLength = opened.length
        return (opened, .tracked(last: recovered.lastPosition))
    }

    /// Creates the file's missing folders (with `folderMode`); returns them, outermost first.
    private func createFolders() throws -> [String] {
        let folder = (configuration.path as NSString).deletingLastPathComponent
        guard !folder.isEmpty else { return [] }
        var missing: [String] = []
        var current = folder
        while !current.isEmpty, current != "/", !FileManager.default.fileExists(atPath: current) {
            missing.insert(current, at: 0)
            current = (current as NSString).deletingLastPathComponent
        }
        for path in missing where mkdir(path, configuration.folderMode) != 0 && errno != EEXIST {
            throw SiphonError(.sink, "sink.path: cannot create folder \(path): \(String(cString: strerror(errno)))",
                              transient: errno == ENOSPC || errno == EDQUOT || errno == EIO)
        }
        return missing
    }

    /// fsyncs the folder holding `path`, so that a new entry in it survives a power loss.
    private func syncFolder(of path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        let fd = Foundation.open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw sinkError("open the folder of", transient: true) }
        defer { Foundation.close(fd) }
        guard fsync(fd) == 0 else { throw sinkError("fsync the folder of", transient: true) }
    }

    public func write(_ batch: EventBatch) async throws {
        try state.withLock { state in
            guard state.descriptor >= 0 else { throw SiphonError(.sink, "file sink used before open") }
            if let failure = state.failed { throw failure }
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
            // Any failed write (a full disk, an I/O error) is worth a retry:
            // `open` cuts the partial line it may have left.
            guard ok else { throw sinkError("write", transient: true) }
            state.unsynced = true
            state.length += batch.buffer.count
            if let last = batch.lastPosition { state.lastWritten = last }
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
                throw sinkError("start writeback of", transient: true)
            }
            logger.notice("this file cannot be written back early; leaving its page cache to the kernel", metadata: [
                "file": .string(configuration.path), "error": .string(String(cString: strerror(errno))),
            ])
            state.cache.turnOff()
            return
        }
        if let range = plan.writeBackAndDrop,
           siphon_write_back_and_drop(state.descriptor, Int64(range.lowerBound), Int64(range.count)) != 0 {
            throw sinkError("write back", transient: true)
        }
    }

    /// The pipeline flushes on another thread while `write` goes on.
    public var flushesAlongsideWrites: Bool { true }

    /// Syncs what was written before the call, without holding the lock
    /// that `write` takes: a duplicate of the descriptor keeps the file open
    /// for the fdatasync even if the sink is closed meanwhile, and a write
    /// during the fdatasync leaves the file unsynced for the next flush.
    /// Returns the last event written before the call.
    public func flush() async throws -> Position? {
        let taken = try state.withLock { state -> (descriptor: Int32?, position: Position?, length: Int) in
            if let failure = state.failed { throw failure }
            guard state.descriptor >= 0, state.unsynced, state.syncable else {
                return (nil, state.lastWritten, state.length)
            }
            let copy = fcntl(state.descriptor, F_DUPFD_CLOEXEC, 0)
            guard copy >= 0 else { throw sinkError("fsync", transient: true) }
            state.unsynced = false
            return (copy, state.lastWritten, state.length)
        }
        guard let descriptor = taken.descriptor else { return taken.position }
        defer { Foundation.close(descriptor) }
        guard fdatasync(descriptor) == 0 else {
            throw failFlush(sinkError("fsync", transient: true))
        }
        try checkStillNamed(descriptor)
        state.withLock { $0.syncedLength = max($0.syncedLength, taken.length) }
        return taken.position
    }

    /// After a failed fdatasync, cuts the file back to what was synced
    /// (the kernel may have dropped the failed pages while the length still
    /// counts them) and refuses further writes; returns `error` to throw.
    private func failFlush(_ error: SiphonError) -> SiphonError {
        state.withLock { state in
            state.failed = error
            guard state.descriptor >= 0 else { return }
            if ftruncate(state.descriptor, off_t(state.syncedLength)) == 0 {
                state.length = state.syncedLength
                state.unsynced = true
            }
        }
        return error
    }

    /// Fails when `sink.path` no longer names the open file (deleted,
    /// renamed, replaced): the events in it would be lost with it.
    private func checkStillNamed(_ descriptor: Int32) throws {
        guard let identity = state.withLock({ $0.identity }) else { return }
        var status = stat()
        let named = stat(configuration.path, &status) == 0
            && UInt(status.st_dev) == identity.device && UInt(status.st_ino) == identity.inode
        guard named else {
            let error = SiphonError(.sink, "sink file \(configuration.path) was deleted or replaced while Siphon was writing it; the events written since it was opened are only in the lost file. Nothing after the last checkpoint was acknowledged: restore the file, or start over with `siphon offsets reset`")
            state.withLock { $0.failed = error }
            throw error
        }
    }

    public func close() async throws {
        state.withLock { state in
            guard state.descriptor >= 0 else { return }
            if state.unsynced && state.syncable && state.failed == nil { _ = fdatasync(state.descriptor) }
            Foundation.close(state.descriptor)  // releases the lock too
            state = State()
        }
    }

    private func sinkError(_ action: String, transient: Bool) -> SiphonError {
        SiphonError(.sink, "cannot \(action) \(configuration.path): \(String(cString: strerror(errno))); check sink.path, its permissions and free space",
                    transient: transient)
    }
}
