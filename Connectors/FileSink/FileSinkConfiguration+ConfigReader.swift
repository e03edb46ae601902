import SiphonCore

extension FileSink.Configuration {
    /// Reads the `sink:` mapping of a `type: file` sink.
    public init?(reading reader: ConfigReader) {
        guard let path = reader.requiredString("path") else { return nil }
        if path.hasSuffix("/") {
            reader.report("path", "must name a file, not a folder (for example ./out/events.jsonl)")
            return nil
        }
        let megabytes = reader.int("page_cache_mb", default: 64, range: 0...1_048_576)
        self.init(path: path, pageCacheBytes: megabytes << 20)
    }
}
