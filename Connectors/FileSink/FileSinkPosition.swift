import Foundation
import SiphonCore

/// Finds where a JSON Lines file of events ends, after a crash.
enum JSONLinesTail {
    struct Recovered {
        var lastPosition: Position?
        var truncatedBytes: Int
    }

    /// Truncates a partly written last line (no trailing newline) and reads
    /// the `id` of the last complete line. Lines are events written by
    /// Siphon, so each begins with `{"id":"<32 hex digits>"`.
    static func recover(fd: Int32, path: String) throws -> Recovered {
        let size = Int(lseek(fd, 0, SEEK_END))
        guard size > 0 else { return Recovered(lastPosition: nil, truncatedBytes: 0) }
        // Read backwards in chunks until two newlines (or the start) bound the last line.
        var chunk = 64 * 1024
        while true {
            let start = max(0, size - chunk)
            var bytes = [UInt8](repeating: 0, count: size - start)
            let read = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, off_t(start)) }
            guard read == bytes.count else {
                throw SiphonError(.sink, "cannot read the end of \(path): \(String(cString: strerror(errno)))")
            }
            let lastNewline = bytes.lastIndex(of: UInt8(ascii: "\n"))
            guard let lastNewline else {
                if start == 0 { return try truncate(fd: fd, path: path, to: 0, from: size, position: nil) }
                chunk *= 4
                continue
            }
            let previousNewline = bytes[..<lastNewline].lastIndex(of: UInt8(ascii: "\n"))
            if previousNewline == nil && start > 0 {
                chunk *= 4
                continue
            }
            let line = bytes[(previousNewline.map { $0 + 1 } ?? 0)..<lastNewline]
            guard let position = position(ofLine: line) else {
                throw SiphonError(.sink, "the last line of \(path) is not a Siphon event; point sink.path at a file only Siphon writes")
            }
            return try truncate(fd: fd, path: path, to: start + lastNewline + 1, from: size, position: position)
        }
    }

    static func position(ofLine line: ArraySlice<UInt8>) -> Position? {
        let prefix = Array("{\"id\":\"".utf8)
        guard line.count >= prefix.count + 32, line.starts(with: prefix) else { return nil }
        let digits = line.dropFirst(prefix.count).prefix(32)
        return Position(String(decoding: digits, as: UTF8.self))
    }

    private static func truncate(fd: Int32, path: String, to length: Int, from size: Int, position: Position?) throws -> Recovered {
        if length < size {
            guard ftruncate(fd, off_t(length)) == 0, fsync(fd) == 0 else {
                throw SiphonError(.sink, "cannot cut the partial last line of \(path): \(String(cString: strerror(errno)))")
            }
        }
        return Recovered(lastPosition: position, truncatedBytes: size - length)
    }
}
