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
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0, let file = fdopen(descriptor, "w+b") else {
            let reason = String(cString: strerror(errno))
            if descriptor >= 0 { close(descriptor) }
            throw SiphonError(.state, "cannot create spill file \(path): \(reason); check free space in the state folder, and that nothing else writes in \(directory)")
        }
        self.file = file
        setvbuf(file, nil, _IOFBF, 1 << 20)
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
