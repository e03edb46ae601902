import CSQLite
import Glibc
import SiphonCore

/// Wakes the source when the database may have a new commit.
///
/// A commit in WAL mode appends frames to `<db>-wal`; inotify reports the
/// write at once. The wake-up is only a hint (the WAL index in `-shm` is
/// updated just after the last write, and inotify may be unavailable), so
/// the source always confirms with `PRAGMA data_version` and also polls it
/// on a timer.
final class CommitWatcher: @unchecked Sendable {
    private let descriptor: Int32
    private let names: Set<String>

    /// Watches the folder holding `path`; nil when inotify is unavailable.
    init?(path: String) {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let file = slash.map { String(path[path.index(after: $0)...]) } ?? path
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { return nil }
        let mask = UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE)
        guard inotify_add_watch(descriptor, folder, mask) >= 0 else {
            close(descriptor)
            return nil
        }
        names = [file, file + "-wal"]
    }

    deinit { close(descriptor) }

    /// Returns when a watched file changed (true) or after `timeout` (false).
    func wait(timeout: Duration) async -> Bool {
        if drain() { return true }
        let woke = await FileDescriptorWait.wait(descriptor, for: .read, timeout: timeout)
        if woke { _ = drain() }
        return woke
    }

    /// Reads every queued event; true when one concerned the database.
    private func drain() -> Bool {
        var relevant = false
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { return relevant }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= count {
                let nameLength = buffer.withUnsafeBytes { raw in
                    Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                }
                let nameStart = offset + MemoryLayout<inotify_event>.size
                if nameLength > 0 {
                    let nameBytes = buffer[nameStart..<(nameStart + nameLength)].prefix { $0 != 0 }
                    if names.contains(String(decoding: nameBytes, as: UTF8.self)) { relevant = true }
                }
                offset = nameStart + nameLength
            }
        }
    }
}
