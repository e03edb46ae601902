import SiphonCore

/// The spill files of the transactions PostgreSQL streams before they
/// commit, with bounded descriptors and memory however many there are.
///
/// PostgreSQL streams every transaction in progress that outgrows
/// `logical_decoding_work_mem`, so there can be one per session of the
/// application, each sent in blocks (stream start, changes, stream stop)
/// that interleave. Each keeps its file until it commits or aborts, but
/// only `maxOpen` keep a descriptor: when another block starts, the least
/// recently used is closed and the block's file opened again to append.
/// The messages of the block being received gather in one buffer, written
/// when it fills and when the block ends, so a block costs one write per
/// megabyte and the memory does not grow with the number of transactions.
struct SpillFiles {
    /// Spill files holding a descriptor at once, at most.
    static let maxOpen = 32
    /// Bytes of a block gathered before they are written.
    static let bufferSize = 1 << 20

    let directory: String
    private var files: [UInt32: SpillFile] = [:]
    /// Transactions whose file is open, least recently used first.
    private var openOrder: [UInt32] = []
    /// The file of the block being received.
    private var current: SpillFile?
    private var buffer: [UInt8] = []

    init(directory: String) {
        self.directory = directory
    }

    /// No streamed transaction is waiting for its commit or abort.
    var isEmpty: Bool { files.isEmpty }

    /// Descriptors held (for tests: never more than `maxOpen`).
    var openCount: Int { openOrder.count }

    /// Empties the folder (or creates it): after a reconnect PostgreSQL
    /// sends every streamed transaction again from its start.
    mutating func reset() throws {
        discardAll()
        try SpillFile.prepareDirectory(directory)
    }

    /// A block of messages of transaction `xid` begins.
    mutating func startBlock(xid: UInt32) throws {
        try endBlock()
        let file: SpillFile
        if let existing = files[xid] {
            file = existing
            openOrder.removeAll { $0 == xid }
            if !file.isOpen {
                parkLeastRecentlyUsed()
                try file.reopen()
            }
        } else {
            parkLeastRecentlyUsed()
            file = try SpillFile(directory: directory, xid: xid)
            files[xid] = file
        }
        openOrder.append(xid)
        current = file
    }

    /// Adds a message, and the LSN of the change it carries, to the block
    /// being received (dropped outside a block).
    mutating func append(_ message: ArraySlice<UInt8>, lsn: LSN) throws {
        guard let current else { return }
        let header = SpillFile.recordHeader
        if buffer.count + header + message.count > Self.bufferSize { try flush(to: current) }
        var length = UInt32(message.count).littleEndian
        var position = lsn.rawValue.littleEndian
        if header + message.count > Self.bufferSize {
            // Larger than the buffer: written as it is, not copied into it.
            try withUnsafeBytes(of: &length) { try current.write($0) }
            try withUnsafeBytes(of: &position) { try current.write($0) }
            try message.withUnsafeBytes { try current.write($0) }
            return
        }
        if buffer.capacity == 0 { buffer.reserveCapacity(Self.bufferSize) }
        withUnsafeBytes(of: &length) { buffer.append(contentsOf: $0) }
        withUnsafeBytes(of: &position) { buffer.append(contentsOf: $0) }
        buffer.append(contentsOf: message)
    }

    /// The block ends: what it brought is written to its file.
    mutating func endBlock() throws {
        guard let current else { return }
        self.current = nil
        try flush(to: current)
    }

    /// Transaction `xid` (or, when `subtransaction` differs, only that
    /// subtransaction of it) aborted.
    mutating func abort(xid: UInt32, subtransaction: UInt32) throws {
        guard xid == subtransaction else {
            files[xid]?.abortSubtransaction(subtransaction)
            return
        }
        if current?.xid == xid { try endBlock() }
        openOrder.removeAll { $0 == xid }
        files.removeValue(forKey: xid)?.discard()
    }

    /// Hands over a committed transaction's file for replay (nil when none
    /// of it was streamed); the caller discards it after.
    mutating func take(xid: UInt32) throws -> SpillFile? {
        if current?.xid == xid { try endBlock() }
        openOrder.removeAll { $0 == xid }
        let file = files.removeValue(forKey: xid)
        file?.park()
        return file
    }

    /// Deletes every file (the session ends; see `reset`).
    mutating func discardAll() {
        current = nil
        buffer.removeAll(keepingCapacity: true)
        files.values.forEach { $0.discard() }
        files.removeAll()
        openOrder.removeAll()
    }

    private mutating func flush(to file: SpillFile) throws {
        guard !buffer.isEmpty else { return }
        defer { buffer.removeAll(keepingCapacity: true) }
        try buffer.withUnsafeBytes { try file.write($0) }
    }

    private mutating func parkLeastRecentlyUsed() {
        guard openOrder.count >= Self.maxOpen else { return }
        files[openOrder.removeFirst()]?.park()
    }
}
