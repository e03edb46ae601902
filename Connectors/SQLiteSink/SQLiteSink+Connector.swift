import Foundation
import SiphonCore

/// `sink: {type: sqlite, ...}`.
extension SQLiteSink: SinkConnector {
    public static let type = "sqlite"

    public static func configuration(reading reader: ConfigReader) -> SQLiteSinkConfiguration? {
        SQLiteSinkConfiguration(reading: reader)
    }

    /// The file, if it exists, is writable; otherwise its folder can be written.
    public static func staticProblems(in configuration: SQLiteSinkConfiguration) -> [ConnectorProblem] {
        let path = configuration.path
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
            if isFolder.boolValue { return [ConnectorProblem(key: "path", "\(path) is a folder; name a database file in it")] }
            if access(path, W_OK) != 0 {
                return [ConnectorProblem(key: "path", "\(path) is not writable; fix its permissions or choose another path")]
            }
            return []
        }
        let folder = (path as NSString).deletingLastPathComponent
        let directory = folder.isEmpty ? "." : folder
        if access(directory, W_OK) != 0 {
            return [ConnectorProblem(key: "path", "the folder \(directory) does not exist or is not writable: create it, or choose another path")]
        }
        return []
    }

    /// One pipeline writes a target file.
    public static func claims(of configuration: SQLiteSinkConfiguration) -> [ResourceClaim] {
        [ResourceClaim(key: "path", resource: "sqlite:" + PathIdentity.resolve(configuration.path),
                       description: "SQLite target \(configuration.path)")]
    }

    public static func makeSink(_ configuration: SQLiteSinkConfiguration, context: ConnectorContext) -> any Sink {
        SQLiteSink(configuration: configuration, pipeline: context.pipeline, logger: context.logger)
    }

    /// The position in the file's `_siphon_offsets`, read without creating anything.
    public static func storedPosition(_ configuration: SQLiteSinkConfiguration, context: ConnectorContext) async throws -> SinkPosition {
        .tracked(last: try SQLiteTarget.storedPosition(path: configuration.path, pipeline: context.pipeline))
    }
}
