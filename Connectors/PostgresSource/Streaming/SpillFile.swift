import Glibc
import SiphonCore

/// The messages of one streamed (still in progress) transaction, kept on
/// disk in the state folder until PostgreSQL says it committed or aborted.
/// Memory stays bounded whatever the transaction's size.
///
/// Format: each message as a 4-byte little-endian length and its bytes.
final class SpillFile {
    let xid: UInt32
    let path: String
    private var file: UnsafeMutablePointer<FILE>?
    /// Subtransactions that aborted: their changes are skipped on replay.
    private(set) var abortedSubtransactions: Set<UInt32> = []
    private(set) var messageCount = 0

    init(directory: String, xid: UInt32) throws {
        self.xid = xid
        path = directory + "/stream-\(xid).spill"
        guard let file = fopen(path, "w+b") else {
            throw SiphonError(.state, "cannot create spill file \(path): \(String(cString: strerror(errno))); check free space in the state folder")
        }
        self.file = file
        setvbuf(file, nil, _IOFBF, 1 << 20)
    }

    deinit { discard() }

    func append(_ message: ArraySlice<UInt8>) throws {
        guard let file else { return }
        var length = UInt32(message.count).littleEndian
        let ok = withUnsafeBytes(of: &length) { fwrite($0.baseAddress, 1, 4, file) == 4 }
            && message.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) == $0.count }
        guard ok else {
            throw SiphonError(.state, "cannot write spill file \(path): \(String(cString: strerror(errno))); check free space in the state folder")
        }
        messageCount += 1
    }

    func abortSubtransaction(_ subxid: UInt32) {
        abortedSubtransactions.insert(subxid)
    }

    /// Reads the messages back in order, calling `body` with each.
    func replay(_ body: (ArraySlice<UInt8>) async throws -> Void) async throws {
        guard let file else { return }
        fflush(file)
        rewind(file)
        var buffer = [UInt8]()
        while true {
            var length: UInt32 = 0
            let got = withUnsafeMutableBytes(of: &length) { fread($0.baseAddress, 1, 4, file) }
            if got == 0 { break }
            guard got == 4 else { throw corrupt() }
            let count = Int(UInt32(littleEndian: length))
            buffer = [UInt8](repeating: 0, count: count)
            let read = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, count, file) }
            guard read == count else { throw corrupt() }
            try await body(buffer[...])
        }
    }

    /// Closes and deletes the file.
    func discard() {
        if let file { fclose(file) }
        file = nil
        unlink(path)
    }

    private func corrupt() -> SiphonError {
        SiphonError(.state, "spill file \(path) is truncated; it is rebuilt on the next connection", transient: true)
    }
}
