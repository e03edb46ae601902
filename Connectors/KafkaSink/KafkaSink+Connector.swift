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
        var templates = [("topic", configuration.topic), ("schema_topic", configuration.schemaTopic),
                         ("message_topic", configuration.messageTopic)]
        if configuration.transactionMetadata { templates.append(("transaction_topic", configuration.transactionTopic)) }
        return templates.compactMap { key, template in
            if template.parts.contains(.prefix), configuration.prefix == nil { return nil }
            let topics = configuration.prefix.map { template.text.replacingAll("{prefix}", with: $0) } ?? template.text
            return ResourceClaim(key: key, resource: "kafka:\(cluster)/\(topics)", description: "Kafka topics \(topics) on \(cluster)")
        }
    }

    public static func makeSink(_ configuration: KafkaSinkConfiguration, context: ConnectorContext) -> any Sink {
        KafkaSink(configuration: configuration, pipeline: context.pipeline, logger: context.logger)
    }

    /// `siphon check`: opens the sink as `run` would (the brokers' metadata
    /// with the user's TLS and SASL properties, the last record of every
    /// partition of the pipeline's topics) and closes it; sends nothing and
    /// creates no topic.
    public static func preflight(_ configuration: KafkaSinkConfiguration, context: ConnectorContext) async -> [PreflightCheck] {
        let sink = KafkaSink(configuration: configuration, pipeline: context.pipeline, logger: context.logger)
        let brokers = configuration.brokers.joined(separator: ",")
        do {
            _ = try await sink.open()
            try? await sink.close()
        } catch let error as SiphonError {
            try? await sink.close()
            return [error.isTransient
                ? .fail("brokers", error.message, fix: "check sink.brokers (\(brokers)), the network, and the TLS/SASL settings under sink.properties")
                : .fail("topics", error.message, fix: "see the message: the pipeline's topics must hold only its own records")]
        } catch {
            try? await sink.close()
            return [.fail("brokers", "\(error)", fix: "check sink.brokers and sink.properties")]
        }
        let held = sink.highestPositionHeld
        return [.pass("brokers", "reached \(brokers), metadata and the pipeline's topics readable"),
                .pass("topics", held.map { "the pipeline's topics hold its events up to \($0)" }
                      ?? "no record of this pipeline yet (topics \(configuration.createTopics == nil ? "are created by the broker or must exist" : "missing are created with create_topics"))")]
    }
}
