import ArgumentParser
import Foundation
import Logging

/// `--log-level`: swift-log's levels; anything else is refused (exit 2).
enum LogLevelOption: String, CaseIterable, ExpressibleByArgument {
    case trace, debug, info, notice, warning, error, critical

    var level: Logger.Level { Logger.Level(rawValue: rawValue)! }
}

/// `--log-format`: one line of text per record (the default), or one JSON object.
enum LogFormatOption: String, CaseIterable, ExpressibleByArgument {
    case text, json
}

/// The logging options of `siphon run`, also read from SIPHON_LOG_LEVEL and
/// SIPHON_LOG_FORMAT (a value there is checked like the option's).
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (or SIPHON_LOG_LEVEL).")
    var logLevel: LogLevelOption?
    @Option(help: "Log format: text, one line per record, or json, one object per line (or SIPHON_LOG_FORMAT).")
    var logFormat: LogFormatOption?

    func validate() throws {
        let environment = ProcessInfo.processInfo.environment
        if logLevel == nil, let text = environment["SIPHON_LOG_LEVEL"], LogLevelOption(rawValue: text.lowercased()) == nil {
            throw ValidationError("SIPHON_LOG_LEVEL: '\(text)' is not a log level; use one of \(LogLevelOption.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if logFormat == nil, let text = environment["SIPHON_LOG_FORMAT"], LogFormatOption(rawValue: text.lowercased()) == nil {
            throw ValidationError("SIPHON_LOG_FORMAT: '\(text)' is not a log format; use text or json")
        }
    }

    var resolvedLevel: Logger.Level {
        logLevel?.level ?? ProcessInfo.processInfo.environment["SIPHON_LOG_LEVEL"]
            .flatMap { LogLevelOption(rawValue: $0.lowercased()) }?.level ?? .info
    }

    var resolvedFormat: LogFormatOption {
        logFormat ?? ProcessInfo.processInfo.environment["SIPHON_LOG_FORMAT"]
            .flatMap { LogFormatOption(rawValue: $0.lowercased()) } ?? .text
    }
}

enum SiphonLogging {
    /// Logs go to stderr, one record per line.
    static func bootstrap(level: Logger.Level, format: LogFormatOption = .text) -> Logger {
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
        return Logger(label: "siphon")
    }
}
