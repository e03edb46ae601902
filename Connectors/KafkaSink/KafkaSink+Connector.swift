import CRdKafka
import SiphonCore

/// `sink: {type: kafka, ...}`.
extension KafkaSink: SinkConnector {
    public static let type = "kafka"

    public static func configuration(reading reader: ConfigReader) -> KafkaSinkConfiguration? {
        KafkaSinkConfiguration(reading: reader)
    }

    /// Nothing here reaches the brokers: the keys were checked when read
    /// (templates, compression, librdkafka's verdict on each property).
    public static func staticProblems(in configuration: KafkaSinkConfiguration) -> [ConnectorProblem] {
        configuration.brokers.compactMap { broker in
            broker.contains(" ") ? ConnectorProblem(key: "brokers", "'\(broker)' is not host:port") : nil
        }
    }

    /// Two pipelines writing the same topics would each skip the other's
    /// events on resume: the templates (with their brokers) belong to one pipeline.
    public static func claims(of configuration: KafkaSinkConfiguration) -> [ResourceClaim] {
        let cluster = configuration.brokers.sorted().joined(separator: ",")
        let prefix = configuration.prefix.map { "prefix \($0)" } ?? "the pipeline's name as prefix"
        return [ResourceClaim(key: "topic", resource: "kafka:\(cluster)/\(configuration.prefix ?? "\u{0}")/\(configuration.topic.text)",
                              description: "Kafka topics \(configuration.topic.text) (\(prefix)) on \(cluster)")]
    }

    public static func makeSink(_ configuration: KafkaSinkConfiguration, context: ConnectorContext) -> any Sink {
        KafkaSink(configuration: configuration, pipeline: context.pipeline, logger: context.logger)
    }
}
