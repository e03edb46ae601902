import SiphonCore

/// `sink: {type: postgres, ...}`.
extension PostgresSink: SinkConnector {
    public static let type = "postgres"

    public static func configuration(reading reader: ConfigReader) -> PostgresSinkConfiguration? {
        PostgresSinkConfiguration(reading: reader)
    }

    public static func makeSink(_ configuration: PostgresSinkConfiguration, context: ConnectorContext) -> any Sink {
        PostgresSink(configuration: configuration, pipeline: context.pipeline, logger: context.logger)
    }

    /// The position in `_siphon_offsets`, read without creating anything.
    public static func storedPosition(_ configuration: PostgresSinkConfiguration, context: ConnectorContext) async throws -> SinkPosition {
        .tracked(last: try await PostgresTarget.storedPosition(configuration, pipeline: context.pipeline))
    }
}
