import Glibc
import SiphonCore

extension FileSinkConfiguration {
    /// Reads the `sink:` mapping of a `type: file` sink.
    public init?(reading reader: ConfigReader) {
        guard let path = reader.requiredString("path") else { return nil }
        if path.hasSuffix("/") {
            reader.report("path", "must name a file, not a folder (for example ./out/events.jsonl)")
            return nil
        }
        let megabytes = reader.int("page_cache_mb", default: 64, range: 0...1_048_576)
        var mode: mode_t = 0o600
        if let text = reader.string("mode") {
            guard let parsed = mode_t(text, radix: 8), parsed & ~0o666 == 0, parsed & 0o600 == 0o600 else {
                reader.report("mode", "must be octal permissions the owner can read and write, without execute bits, such as \"0600\" or \"0640\" (got '\(text)')")
                return nil
            }
            mode = parsed
        }
        self.init(path: path, pageCacheBytes: megabytes << 20, mode: mode)
    }
}
