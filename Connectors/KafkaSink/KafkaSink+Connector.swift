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
    /// events on resume: each topic template, on its brokers, belongs to
    /// one pipeline. A template with `{prefix}` and no `sink.prefix` names
    /// the pipeline's own topics (the prefix is its name), so claims nothing.
    public static func claims(of configuration: KafkaSinkConfiguration) -> [ResourceClaim] {
        let cluster = configuration.brokers.sorted().joined(separator: ",")
        let templates = [("topic", configuration.topic), ("schema_topic", configuration.schemaTopic),
                         ("message_topic", configuration.messageTopic)]
        return templates.compactMap { key, template in
            if template.parts.contains(.prefix), configuration.prefix == nil { return nil }
            let topics = configuration.prefix.map { template.text.replacingAll("{prefix}", with: $0) } ?? template.text
            return ResourceClaim(key: key, resource: "kafka:\(cluster)/\(topics)", description: "Kafka topics \(topics) on \(cluster)")
        }
    }

    public static func makeSink(_ configuration: KafkaSinkConfiguration, context: ConnectorContext) -> any Sink {
        KafkaSink(configuration: configuration, pipeline: context.pipeline, logger: context.logger)
    }
}
