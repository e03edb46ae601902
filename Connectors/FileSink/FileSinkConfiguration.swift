import Glibc
import SiphonCore

/// The `sink:` keys of a `type: file` sink.
public struct FileSinkConfiguration: Sendable, Equatable {
    /// The JSON Lines file (`sink.path`), appended to; created when missing.
    public var path: String
    /// How much of the file's tail may stay in the page cache
    /// (`sink.page_cache_mb`); 0 leaves it to the kernel. See `PageCacheWindow`.
    public var pageCacheBytes: Int
    /// Permissions of a file the sink creates (`sink.mode`, octal); the
    /// events hold row data, so only the owner may read them by default. A
    /// folder the sink creates gets the same bits plus search (x) where read is set.
    public var mode: mode_t

    public init(path: String, pageCacheBytes: Int = 64 << 20, mode: mode_t = 0o600) {
        self.path = path
        self.pageCacheBytes = pageCacheBytes
        self.mode = mode
    }

    /// The folder mode for `mode`: each class that may read may also search.
    var folderMode: mode_t {
        mode | 0o700 | ((mode & 0o040) != 0 ? 0o010 : 0) | ((mode & 0o004) != 0 ? 0o001 : 0)
    }
}
