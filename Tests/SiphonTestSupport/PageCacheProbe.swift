import Foundation

/// Which of a file's pages are dirty in the page cache (written, not yet
/// on disk), read from /proc/self/pagemap and /proc/kpageflags (root only):
/// what a power loss would take away.
public enum PageCacheProbe {
    /// The file's pages and how many of them are dirty.
    public static func dirtyPages(of path: String) throws -> (pages: Int, dirty: Int) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TestSupportError("cannot open \(path)") }
        defer { close(fd) }
        let size = Int(lseek(fd, 0, SEEK_END))
        guard size > 0 else { return (0, 0) }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let map = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), map != MAP_FAILED else {
            throw TestSupportError("cannot map \(path)")
        }
        defer { munmap(map, size) }
        let pages = (size + pageSize - 1) / pageSize
        var touched = 0
        for page in 0..<pages { touched &+= Int(map.load(fromByteOffset: page * pageSize, as: UInt8.self)) }
        _ = touched
        let pagemap = open("/proc/self/pagemap", O_RDONLY)
        let flags = open("/proc/kpageflags", O_RDONLY)
        defer { close(pagemap); close(flags) }
        guard pagemap >= 0, flags >= 0 else { throw TestSupportError("/proc/kpageflags needs root") }
        let first = UInt(bitPattern: map) / UInt(pageSize)
        var dirty = 0
        for page in 0..<pages {
            var entry: UInt64 = 0
            guard pread(pagemap, &entry, 8, off_t((first + UInt(page)) * 8)) == 8 else { throw TestSupportError("pagemap") }
            guard entry >> 63 & 1 == 1 else { continue }
            let frame = entry & ((1 << 55) - 1)
            guard frame != 0 else { throw TestSupportError("pagemap hides page frames (needs root)") }
            var pageFlags: UInt64 = 0
            guard pread(flags, &pageFlags, 8, off_t(frame * 8)) == 8 else { throw TestSupportError("kpageflags") }
            if pageFlags >> 4 & 1 == 1 { dirty += 1 }  // KPF_DIRTY
        }
        return (pages, dirty)
    }
}
