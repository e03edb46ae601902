/// Keeps the page cache the output file takes bounded: which ranges of the
/// file to write back early, and which to drop from the cache.
///
/// Left to itself, the kernel keeps every byte Siphon appends in memory,
/// dirty until its writeback timer (30 s) or dirty limit, or the next
/// fdatasync. An initial snapshot writes gigabytes in seconds: that evicts
/// the database's own cached pages on the same host, and piles up dirty
/// pages that the kernel then flushes in a burst, competing with the
/// database's own fsyncs.
///
/// So as the file grows, writeback of each `size / 4` bytes is started at
/// once (asynchronously), and once writeback has been started on more than
/// `3 * size / 4` bytes since the last drop, all but the newest `size / 2`
/// of them are waited for (long done by then, in practice) and dropped from
/// the cache (`POSIX_FADV_DONTNEED`). At most about `size` bytes of the
/// file's tail stay cached (plus up to 2 MB, see `folioAlignment`, and one
/// batch), for a reader that tails the file. Durability is unchanged: this
/// only starts writes early; `FileSink.flush` still fdatasyncs.
///
/// The next writes reuse the pages dropped this way. On this project's
/// benchmark VM, where memory the guest frees is handed back to the host
/// and faulting fresh memory in is slow, that made writing a 2.5 GB
/// snapshot take about 0.85 s of kernel time instead of 1.6 to 4.5 s
/// (Benchmarks/README).
///
/// This type only does the arithmetic; `FileSink` makes the calls.
struct PageCacheWindow {
    /// What to do after an append: start writeback of one range, and wait
    /// for the writeback of another and drop it from the cache.
    struct Plan: Equatable {
        var startWriteback: Range<Int>?
        var writeBackAndDrop: Range<Int>?
    }

    /// Bytes of the file's tail that may stay cached; 0 leaves the file to the kernel.
    private(set) var size: Int
    /// The file's length.
    private(set) var end: Int
    /// Writeback has been started for every byte before this offset.
    private var writebackStarted: Int
    /// Bytes before this offset have been written back and dropped from the cache.
    private var dropped: Int
    /// The kernel drops only whole folios, which grow to 2 MB (the largest
    /// page cache folio on x86-64 and arm64 with 4 KB pages) and never
    /// straddle a multiple of their size: a range cut elsewhere would keep
    /// the folios at its ends.
    static let folioAlignment = 2 << 20

    init(size: Int, fileLength: Int) {
        self.size = size
        end = fileLength
        writebackStarted = fileLength
        dropped = fileLength & ~(Self.folioAlignment - 1)
    }

    /// Records `count` bytes appended and says what to do about them.
    mutating func appended(_ count: Int) -> Plan {
        end += count
        var plan = Plan()
        guard size > 0 else { return plan }
        if end - writebackStarted >= size / 4 {
            plan.startWriteback = writebackStarted..<end
            writebackStarted = end
        }
        if writebackStarted - dropped > 3 * size / 4 {
            let upTo = (writebackStarted - size / 2) & ~(Self.folioAlignment - 1)
            if upTo > dropped {
                plan.writeBackAndDrop = dropped..<upTo
                dropped = upTo
            }
        }
        return plan
    }

    /// Leaves the file to the kernel from now on (it does not support the calls).
    mutating func turnOff() {
        size = 0
    }
}
