import FileSink
import Foundation
import Logging
import PostgresSource
import SQLiteSource
import SiphonCore

/// The one place that maps a pipeline file's `type:` keys to connectors.
enum PipelineFactory {
    static let sourceTypes = ["postgres", "sqlite"]
    static let sinkTypes = ["file"]

    static func load(paths: [String], problems: ConfigProblems) -> [PipelineFile] {
        PipelineLoader.load(paths: paths, environment: ProcessInfo.processInfo.environment, problems: problems)
    }

    /// Reads every file and its connector keys without touching anything;
    /// returns the files read.
    static func validate(paths: [String], problems: ConfigProblems) -> [PipelineFile] {
        let files = load(paths: paths, problems: problems)
        for file in files {
            _ = readSource(file)
            _ = readSink(file)
            file.source.finish()
            file.sink.finish()
        }
        return files
    }

    /// Reads every file and builds its pipeline; problems (all of them, from
    /// every file) go to `problems` and no pipeline is returned then.
    static func build(paths: [String], problems: ConfigProblems, logger: Logger) -> [Pipeline] {
        var pipelines: [Pipeline] = []
        for file in load(paths: paths, problems: problems) {
            var pipelineLogger = logger
            pipelineLogger[metadataKey: "pipeline"] = .string(file.name)
            let sourceConfiguration = readSource(file)
            let sinkConfiguration = readSink(file)
            file.source.finish()
            file.sink.finish()
            guard problems.isEmpty, let sourceConfiguration, let sinkConfiguration else { continue }
            let state: StateDirectory
            do {
                state = try StateDirectory(path: file.statePath)
                try state.lockForProcess()
            } catch {
                problems.add(ConfigProblem(file: file.file, keyPath: "state.path", message: String(describing: error)))
                continue
            }
            let source: any Source
            switch sourceConfiguration {
            case .postgres(let configuration):
                source = PostgresSource(configuration: configuration, pipeline: file.name, state: state, logger: pipelineLogger)
            case .sqlite(let configuration):
                source = SQLiteSource(configuration: configuration, pipeline: file.name, state: state, logger: pipelineLogger)
            }
            let sink: any Sink
            switch sinkConfiguration {
            case .file(let configuration):
                sink = FileSink(configuration: configuration, logger: pipelineLogger)
            }
            pipelines.append(Pipeline(name: file.name, source: source, sink: sink,
                                      checkpoints: CheckpointStore(directory: state, pipeline: file.name),
                                      logger: logger))
        }
        return problems.isEmpty ? pipelines : []
    }

    enum SourceConfiguration {
        case postgres(PostgresSourceConfiguration)
        case sqlite(SQLiteSourceConfiguration)
    }

    enum SinkConfiguration {
        case file(FileSink.Configuration)
    }

    static func readSource(_ file: PipelineFile) -> SourceConfiguration? {
        switch file.sourceType {
        case "postgres", "postgresql":
            return PostgresSourceConfiguration(reading: file.source).map { .postgres($0) }
        case "sqlite":
            return SQLiteSourceConfiguration(reading: file.source).map { .sqlite($0) }
        case "":
            return nil
        default:
            file.source.report("type", "unknown source type '\(file.sourceType)'; available: \(sourceTypes.joined(separator: ", "))")
            return nil
        }
    }

    private static func readSink(_ file: PipelineFile) -> SinkConfiguration? {
        switch file.sinkType {
        case "file":
            return FileSink.Configuration(reading: file.sink).map { .file($0) }
        case "":
            return nil
        default:
            file.sink.report("type", "unknown sink type '\(file.sinkType)'; available: \(sinkTypes.joined(separator: ", "))")
            return nil
        }
    }

    /// A position in the words of the pipeline's source.
    static func describe(_ position: Position, sourceType: String) -> String {
        switch sourceType {
        case "postgres", "postgresql": return PostgresPosition.describe(position)
        case "sqlite": return SQLitePosition.describe(position)
        default: return "high \(position.high), low \(position.low)"
        }
    }
}
