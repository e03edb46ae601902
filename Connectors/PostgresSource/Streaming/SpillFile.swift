import Foundation
import Glibc
import SiphonCore

/// The messages of one streamed (still in progress) transaction, kept on
/// disk in the state folder until PostgreSQL says it committed or aborted.
/// Memory stays bounded whatever the transaction's size.
///
/// Format: each message as a 4-byte little-endian length and its bytes.
/// The rows of a transaction in progress are the application's data: the
/// file is the user's alone (0600, in a 0700 folder), and it is created
/// only where nothing is, so a link planted at its name is not followed.
///
/// Writes are unbuffered: `SpillFiles` gathers a block of messages and
/// writes it at once, and may close the descriptor between blocks
/// (`park`) and open it again to append (`reopen`).
final class SpillFile {
    let xid: UInt32
    let path: String
    /// Open for appending, or -1 while parked.
    private var descriptor: Int32
    /// Subtransactions that aborted: their changes are skipped on replay.
    private(set) var abortedSubtransactions: Set<UInt32> = []

    init(directory: String, xid: UInt32) throws {
        self.xid = xid
        path = directory + "/stream-\(xid).spill"
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw SiphonError(.state, "cannot create spill file \(path): \(String(cString: strerror(errno))); check free space in the state folder, and that nothing else writes in \(directory)")
        }
    }

    deinit { discard() }

    /// Empties the spill folder, or creates it, readable by the user alone.
    /// Streamed transactions are sent again from their start after a
    /// reconnect, so nothing in it is needed any more.
    static func prepareDirectory(_ path: String) throws {
        // Removes a link at the folder's name, not what it points to.
        try? FileManager.default.removeItem(atPath: path)
        guard mkdir(path, 0o700) == 0 || errno == EEXIST, chmod(path, 0o700) == 0 else {
            throw SiphonError(.state, "cannot create the spill folder \(path): \(String(cString: strerror(errno))); check the state folder's permissions")
        }
    }

    var isOpen: Bool { descriptor >= 0 }

    /// Appends `bytes` (the file must be open).
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw failure("write")
            }
            offset += written
        }
    }

    /// Closes the descriptor; the file stays, and `reopen` appends to it.
    func park() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
    }

    /// Opens the parked file again to append (never through a link: the
    /// file was created here, so a link at its name is someone else's).
    func reopen() throws {
        guard descriptor < 0 else { return }
        descriptor = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("reopen") }
    }

    func abortSubtransaction(_ subxid: UInt32) {
        abortedSubtransactions.insert(subxid)
    }

    /// Bytes before each message: its length (UInt32) and its change's LSN
    /// (UInt64), little-endian.
    static let recordHeader = 12

    /// Reads the messages back in order, calling `body` with each and the
    /// LSN it was sent at; the file is parked first. One buffer for the
    /// whole file, grown only for a message larger than it.
    func replay(_ body: (LSN, ArraySlice<UInt8>) async throws -> Void) async throws {
        park()
        let reader = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard reader >= 0 else { throw failure("read") }
        defer { close(reader) }
        let header = Self.recordHeader
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var start = 0
        var end = 0
        while true {
            if end - start >= header {
                let (length, lsn) = buffer.withUnsafeBytes { raw in
                    (Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start, as: UInt32.self))),
                     UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: start + 4, as: UInt64.self)))
                }
                if end - start - header >= length {
                    try await body(LSN(lsn), buffer[(start + header)..<(start + header + length)])
                    start += header + length
                    continue
                }
                if header + length > buffer.count {
                    buffer.append(contentsOf: repeatElement(0, count: header + length - buffer.count))
                }
            }
            if start > 0 {
                buffer.withUnsafeMutableBytes { raw in
                    _ = memmove(raw.baseAddress!, raw.baseAddress! + start, end - start)
                }
                end -= start
                start = 0
            }
            let count = buffer.withUnsafeMutableBytes { raw in read(reader, raw.baseAddress! + end, raw.count - end) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("read")
            }
            if count == 0 {
                guard start == end else { throw corrupt() }
                return
            }
            end += count
        }
    }

    /// Closes and deletes the file.
    func discard() {
        park()
        unlink(path)
    }

    private func failure(_ action: String) -> SiphonError {
        SiphonError(.state, "cannot \(action) spill file \(path): \(String(cString: strerror(errno))); check free space in the state folder")
    }

    private func corrupt() -> SiphonError {
        SiphonError(.state, "spill file \(path) is truncated; it is rebuilt on the next connection", transient: true)
    }
}
