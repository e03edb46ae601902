import Foundation
import SiphonCore

/// The file sink's own position: the `id` of the file's last complete line.
///
/// Lines are events Siphon wrote, so each begins with `{"id":"<32 hex
/// digits>"` and names its pipeline in `source.name` (`iodebeziumname` in
/// a CloudEvent). A line cut short by
/// a crash (no trailing newline) is not an event: `recover` cuts it off.
enum FileSinkPosition {
    struct Recovered {
        var lastPosition: Position?
        var truncatedBytes: Int
    }

    /// Reads the last complete line's position, checking that `pipeline`
    /// wrote it; with `cut`, truncates a partly written last line (and
    /// fsyncs the cut) first, otherwise only looks past it.
    static func recover(fd: Int32, path: String, pipeline: String, cut: Bool) throws -> Recovered {
        let size = Int(lseek(fd, 0, SEEK_END))
        guard size > 0 else { return Recovered(lastPosition: nil, truncatedBytes: 0) }
        // Read backwards in chunks until two newlines (or the start) bound the last line.
        var chunk = 64 * 1024
        while true {
            let start = max(0, size - chunk)
            var bytes = [UInt8](repeating: 0, count: size - start)
            let read = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, off_t(start)) }
            guard read == bytes.count else {
                throw SiphonError(.sink, "cannot read the end of \(path): \(String(cString: strerror(errno)))", transient: true)
            }
            let lastNewline = bytes.lastIndex(of: UInt8(ascii: "\n"))
            guard let lastNewline else {
                if start == 0 { return try truncate(fd: fd, path: path, to: 0, from: size, position: nil, cut: cut) }
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
            let owner = pipelineName(ofLine: line)
            guard owner == pipeline else {
                throw SiphonError(.sink, "the last event in \(path) was written by \(owner.map { "pipeline '\($0)'" } ?? "another pipeline"), not by '\(pipeline)': two pipelines must never share a sink file, or each would skip the other's events. Give this pipeline its own sink.path")
            }
            return try truncate(fd: fd, path: path, to: start + lastNewline + 1, from: size, position: position, cut: cut)
        }
    }

    static func position(ofLine line: ArraySlice<UInt8>) -> Position? {
        let prefix = Array("{\"id\":\"".utf8)
        guard line.count >= prefix.count + 32, line.starts(with: prefix) else { return nil }
        let digits = line.dropFirst(prefix.count).prefix(32)
        return Position(String(decoding: digits, as: UTF8.self))
    }

    /// The pipeline that wrote the event: `source.name`, or in a CloudEvent
    /// its `iodebeziumname` attribute.
    static func pipelineName(ofLine line: ArraySlice<UInt8>) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { return nil }
        if let source = object["source"] as? [String: Any] { return source["name"] as? String }
        return object["iodebeziumname"] as? String
    }

    private static func truncate(fd: Int32, path: String, to length: Int, from size: Int, position: Position?,
                                 cut: Bool) throws -> Recovered {
        if cut, length < size {
            guard ftruncate(fd, off_t(length)) == 0, fsync(fd) == 0 else {
                throw SiphonError(.sink, "cannot cut the partial last line of \(path): \(String(cString: strerror(errno)))", transient: true)
            }
        }
        return Recovered(lastPosition: position, truncatedBytes: size - length)
    }
}
