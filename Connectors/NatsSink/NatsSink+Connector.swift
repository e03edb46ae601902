import Glibc
import SiphonCore

/// `sink: {type: nats, ...}`.
extension NatsSink: SinkConnector {
    public static let type = "nats"

    public static func configuration(reading reader: ConfigReader) -> NatsSinkConfiguration? {
        NatsSinkConfiguration(reading: reader)
    }

    /// Nothing here reaches the server: the files the keys name exist and
    /// can be read, and the stream's subjects (when the sink creates it)
    /// cover the templates' subjects.
    public static func staticProblems(in configuration: NatsSinkConfiguration) -> [ConnectorProblem] {
        var problems: [ConnectorProblem] = []
        var files: [(String, String)] = []
        switch configuration.credentials {
        case let .credsFile(path): files.append(("creds", path))
        case let .nkey(_, seed): files.append(("nkey.seed", seed))
        default: break
        }
        if let tls = configuration.tls {
            for (key, path) in [("tls.ca", tls.ca), ("tls.cert", tls.cert), ("tls.key", tls.key)] {
                if let path { files.append((key, path)) }
            }
        }
        for (key, path) in files where access(path, R_OK) != 0 {
            problems.append(ConnectorProblem(key: key, "cannot read \(path): check the path and its permissions"))
        }
        // With sink.prefix unset the prefix is the pipeline's name, unknown here: check with a stand-in.
        let prefix = configuration.prefix ?? "pipeline"
        let streamSubjects = configuration.stream.subjects(prefix: prefix)
        for (key, template) in [("subject", configuration.subject), ("schema_subject", configuration.schemaSubject),
                                ("message_subject", configuration.messageSubject)] {
            let filter = template.filter(prefix: prefix)
            if !SubjectFilter.anyCovers(streamSubjects, filter) {
                problems.append(ConnectorProblem(key: key, "publishes to \(template.text), which the stream's subjects (\(configuration.stream.subjects.joined(separator: ", "))) do not cover; change sink.stream.subjects or this template"))
            }
        }
        return problems
    }

    /// Two pipelines publishing to the same subjects of a stream would each
    /// skip the other's events on resume. A template with `{prefix}` and no
    /// `sink.prefix` names the pipeline's own subjects, so claims nothing.
    public static func claims(of configuration: NatsSinkConfiguration) -> [ResourceClaim] {
        let servers = configuration.servers.map(NatsErrors.withoutUserInfo).sorted().joined(separator: ",")
        let templates = [("subject", configuration.subject), ("schema_subject", configuration.schemaSubject),
                         ("message_subject", configuration.messageSubject)]
        return templates.compactMap { key, template in
            if template.parts.contains(.prefix), configuration.prefix == nil { return nil }
            let filter = template.filter(prefix: configuration.prefix ?? "")
            return ResourceClaim(key: key, resource: "nats:\(servers)/\(configuration.stream.name)/\(filter)",
                                 description: "NATS subjects \(filter) of stream \(configuration.stream.name) on \(servers)")
        }
    }

    /// The stream's last message of the pipeline; connects, changes nothing.
    public static func storedPosition(_ configuration: NatsSinkConfiguration, context: ConnectorContext) async throws -> SinkPosition {
        try await NatsSink(configuration: configuration, pipeline: context.pipeline, logger: context.logger).storedPosition()
    }

    public static func makeSink(_ configuration: NatsSinkConfiguration, context: ConnectorContext) -> any Sink {
        NatsSink(configuration: configuration, pipeline: context.pipeline, logger: context.logger)
    }
}
