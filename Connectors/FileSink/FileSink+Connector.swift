import Foundation
import SiphonCore

/// `sink: {type: file, ...}`.
extension FileSink: SinkConnector {
    public static let type = "file"

    public static func configuration(reading reader: ConfigReader) -> FileSinkConfiguration? {
        FileSinkConfiguration(reading: reader)
    }

    /// The file, if it exists, is a file (or a device such as /dev/null) Siphon
    /// can write; otherwise its folder can be created and written.
    public static func staticProblems(in configuration: FileSinkConfiguration) -> [ConnectorProblem] {
        let path = configuration.path
        var info = stat()
        if stat(path, &info) == 0 {
            let kind = info.st_mode & S_IFMT
            if kind == S_IFDIR { return [ConnectorProblem(key: "path", "\(path) is a folder; name a file in it")] }
            if access(path, W_OK) != 0 {
                return [ConnectorProblem(key: "path", "\(path) is not writable; fix its permissions or choose another path")]
            }
            return []
        }
        let folder = (path as NSString).deletingLastPathComponent
        return FileSystemCheck.writableFolderProblem(folder.isEmpty ? "." : folder, what: "the sink's folder")
            .map { [ConnectorProblem(key: "path", $0)] } ?? []
    }

    /// A regular file belongs to one pipeline; a device such as /dev/null is shared.
    public static func claims(of configuration: FileSinkConfiguration) -> [ResourceClaim] {
        var info = stat()
        if stat(configuration.path, &info) == 0, info.st_mode & S_IFMT != S_IFREG { return [] }
        return [ResourceClaim(key: "path", resource: "file:" + PathIdentity.resolve(configuration.path),
                              description: "sink file \(configuration.path)")]
    }

    public static func makeSink(_ configuration: FileSinkConfiguration, context: ConnectorContext) -> any Sink {
        FileSink(configuration: configuration, pipeline: context.pipeline, logger: context.logger)
    }

    /// The last complete line's position, read without cutting or locking anything.
    public static func storedPosition(_ configuration: FileSinkConfiguration, context: ConnectorContext) async throws -> SinkPosition {
        let fd = Glibc.open(configuration.path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return .tracked(last: nil) }
            throw SiphonError(.sink, "cannot open \(configuration.path): \(String(cString: strerror(errno)))")
        }
        defer { Glibc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return .untracked }
        let recovered = try FileSinkPosition.recover(fd: fd, path: configuration.path, pipeline: context.pipeline, cut: false)
        return .tracked(last: recovered.lastPosition)
    }
}
