import CLinuxIO
import Glibc

/// Keeps the page cache the output file takes bounded.
///
/// Left to itself, the kernel keeps every byte Siphon appends in memory,
/// dirty until the kernel's writeback timer (30 s) or dirty limit, or the
/// next fdatasync. An initial
/// snapshot writes gigabytes in seconds: that evicts the database's own
/// cached pages on the same host, and piles up dirty pages that the kernel
/// then flushes in a burst, competing with the database's own fsyncs.
///
/// So as the file grows, writeback of each `size / 4` bytes is started at
/// once (asynchronously), and once more than `size` bytes have been
/// written back since the last drop, the older half is waited for (it is
/// long done by then, in practice) and dropped from the cache
/// (`POSIX_FADV_DONTNEED`). The newest `size / 2` to `size` bytes (plus
/// up to 2 MB, see `folioAlignment`) stay cached for a reader that tails
/// the file. Durability is unchanged: this only starts writes early;
/// `FileSink.flush` still fdatasyncs.
///
/// The next writes reuse the pages dropped this way. On this project's
/// benchmark VM, where memory the guest frees is handed back to the host
/// and faulting fresh memory in is slow, that made writing a 2.5 GB
/// snapshot take 0.85 s of kernel time instead of 3.1 s (Benchmarks/README).
struct PageCacheWindow {
    /// Bytes of the file's tail that may stay cached; 0 leaves the file to the kernel.
    private(set) var size: Int
    /// The file's length.
    private(set) var end: Int
    /// Writeback has been started for every byte before this offset.
    private var writebackStarted: Int
    /// Bytes before this offset have been written back and dropped from the cache.
    private var dropped: Int
    /// The largest page cache folio on x86-64 and arm64 with 4 KB pages.
    static let folioAlignment = 2 << 20

    init(size: Int, fileLength: Int) {
        self.size = size
        end = fileLength
        writebackStarted = fileLength
        dropped = fileLength
    }

    /// Records `count` bytes appended through `descriptor`. Throws the
    /// failing call and errno: a writeback error seen here is not reported
    /// again by the next fdatasync, so it must fail the sink now. When the
    /// file does not support these calls (a FIFO, say), the window turns
    /// itself off and says why, once.
    mutating func appended(_ count: Int, descriptor: Int32) throws(WritebackError) -> WritebackError? {
        end += count
        guard size > 0 else { return nil }
        if end - writebackStarted >= size / 4 {
            guard siphon_start_writeback(descriptor, Int64(writebackStarted), Int64(end - writebackStarted)) == 0 else {
                return try turnOff(WritebackError(call: "sync_file_range", code: errno))
            }
            writebackStarted = end
        }
        if writebackStarted - dropped > size {
            // The kernel drops only whole folios, which grow to 2 MB and never
            // straddle a multiple of their size: a range cut elsewhere would
            // keep the folios at its ends.
            let start = dropped & ~(Self.folioAlignment - 1)
            let upTo = (writebackStarted - size / 2) & ~(Self.folioAlignment - 1)
            guard upTo > start else { return nil }
            guard siphon_write_back_and_drop(descriptor, Int64(start), Int64(upTo - start)) == 0 else {
                return try turnOff(WritebackError(call: "sync_file_range/posix_fadvise", code: errno))
            }
            dropped = upTo
        }
        return nil
    }

    /// Returns `error` after turning the window off if it says the file
    /// does not support the calls; throws it otherwise.
    private mutating func turnOff(_ error: WritebackError) throws(WritebackError) -> WritebackError {
        guard [EINVAL, ESPIPE, ENOSYS, EOPNOTSUPP].contains(error.code) else { throw error }
        size = 0
        return error
    }

    struct WritebackError: Error {
        var call: String
        var code: Int32
    }
}
