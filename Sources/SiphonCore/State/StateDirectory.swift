import Foundation

/// A pipeline's state folder: offsets, schema history, spill files.
///
/// Every file is replaced atomically and durably: written to a temporary
/// file, fsynced, renamed over the old one, then the folder is fsynced, so
/// a crash leaves either the old or the new content, never a mix.
///
/// The folder holds row data (spilled transactions) and positions: it is
/// created 0700 and its files 0600, and files Siphon creates here are opened
/// with `O_NOFOLLOW` (and `O_EXCL` where the file must be new), so a
/// symlink planted in the folder never redirects a write.
public struct StateDirectory: Sendable {
    public let path: String

    /// Names a folder for reading only: nothing is created; reads of a
    /// missing folder find no files.
    public init(readingAt path: String) {
        self.path = path
    }

    /// Opens the folder, creating it (and its parents) when missing.
    public init(path: String) throws {
        self.path = path
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw SiphonError(.state, "cannot create state folder \(path): \(error.localizedDescription); check state.path and its permissions")
        }
        guard access(path, W_OK) == 0 else {
            throw SiphonError(.state, "state folder \(path) is not writable; fix its permissions or set state.path")
        }
    }

    public func url(_ name: String) -> String { path + "/" + name }

    /// Takes the folder's `lock` file (flock) for the rest of the process,
    /// so two processes never run the same pipeline state: their
    /// checkpoints and the sink's file would interleave. The kernel drops
    /// the lock when the process exits, however it exits.
    public func lockForProcess() throws {
        let file = url("lock")
        let held: Int32?
        do {
            held = try FileLock.tryLock(file)
        } catch {
            throw SiphonError(.state, "cannot \(error.step) \(file): \(error.reason)")
        }
        guard held != nil else {
            let holder = (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            throw SiphonError(.configuration, "state folder \(path) is in use by another siphon process\(holder.isEmpty ? "" : " (pid \(holder))"); stop it first, or give this pipeline its own state.path")
        }
        // Deliberately never closed: the lock lives as long as the process.
    }

    /// The file's bytes, or nil when it does not exist.
    public func read(_ name: String) throws -> [UInt8]? {
        let file = url(name)
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw SiphonError(.state, "cannot read \(file); check its permissions")
        }
        return [UInt8](data)
    }

    /// Replaces the file's content atomically and durably.
    public func write(_ name: String, _ bytes: [UInt8]) throws {
        let target = url(name)
        let temporary = target + ".tmp"
        // A temporary file left by a crash is replaced, never written through.
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw stateError("create", temporary) }
        var ok = bytes.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let written = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 { if errno == EINTR { continue }; return false }
                offset += written
            }
            return true
        }
        if ok { ok = fsync(fd) == 0 }
        close(fd)
        guard ok else { throw stateError("write", temporary) }
        guard rename(temporary, target) == 0 else { throw stateError("rename", target) }
        try syncDirectory()
    }

    public func remove(_ name: String) {
        unlink(url(name))
    }

    /// Removes every file and folder in the state folder but those named
    /// in `kept` (`offsets reset`).
    public func removeAll(except kept: Set<String>) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for name in names where !kept.contains(name) {
            do {
                try FileManager.default.removeItem(atPath: url(name))
            } catch {
                throw SiphonError(.state, "cannot remove \(url(name)): \(error.localizedDescription)")
            }
        }
        try syncDirectory()
    }

    /// Makes renames and new files in the folder durable.
    public func syncDirectory() throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw stateError("open", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw stateError("fsync", path) }
    }

    private func stateError(_ action: String, _ file: String) -> SiphonError {
        SiphonError(.state, "cannot \(action) \(file): \(String(cString: strerror(errno))); check the state folder's permissions and free space")
    }
}
