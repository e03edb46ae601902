import Logging

enum SiphonLogging {
    /// Logs go to stderr, one line per record; the level comes from
    /// `--log-level` or SIPHON_LOG_LEVEL.
    static func bootstrap(level: String) -> Logger {
        let parsed = Logger.Level(rawValue: level.lowercased()) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = parsed
            return handler
        }
        return Logger(label: "siphon")
    }
}
