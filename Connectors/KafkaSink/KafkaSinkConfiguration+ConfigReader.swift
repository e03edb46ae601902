import CRdKafka
import SiphonCore

extension KafkaSinkConfiguration {
    /// Properties the sink sets itself: exactly once depends on them, or
    /// they have their own key.
    static let ownedProperties: [String: String] = [
        "enable.idempotence": "the sink always sets it to true (exactly once depends on it)",
        "acks": "the sink always sets it to all (exactly once depends on it)",
        "partitioner": "the sink always partitions with murmur2 (resuming exactly once depends on it)",
        "bootstrap.servers": "use sink.brokers",
        "metadata.broker.list": "use sink.brokers",
        "compression.type": "use sink.compression",
        "compression.codec": "use sink.compression",
        "transactional.id": "the sink does not use Kafka transactions",
    ]

    /// Reads the `sink:` mapping of a `type: kafka` sink. Values under
    /// `properties` are never quoted in a problem: they may be secrets.
    public init?(reading reader: ConfigReader) {
        // Typed reads report their own problems (and the loader fails on
        // any); `valid` tracks the ones reported here.
        var valid = true
        let brokers = reader.stringList("brokers", default: [])
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        if brokers.isEmpty {
            valid = false
            reader.report("brokers", "required: the bootstrap brokers, as a list or one comma-separated string (for example kafka-1:9092,kafka-2:9092)")
        }
        func template(_ key: String, _ fallback: TopicTemplate) -> TopicTemplate {
            guard let text = reader.string(key) else { return fallback }
            do { return try TopicTemplate(text) } catch {
                valid = false
                reader.report(key, "\(error)")
                return fallback
            }
        }
        let topic = template("topic", .defaultRows)
        let schemaTopic = template("schema_topic", .defaultSchema)
        let messageTopic = template("message_topic", .defaultMessages)
        let transactionMetadata = reader.bool("transaction_metadata", default: false)
        let transactionTopic = template("transaction_topic", .defaultTransactions)
        if transactionTopic.parts.contains(.schema) || transactionTopic.parts.contains(.table) {
            valid = false
            reader.report("transaction_topic", "a transaction belongs to no one table: use {prefix}, {db} or {connector}, not {schema} or {table}")
        }
        let prefix = reader.string("prefix")
        if let prefix, prefix.isEmpty {
            valid = false
            reader.report("prefix", "must not be empty")
        }
        let compression = Compression(rawValue: reader.choice("compression", allowed: Compression.allCases.map(\.rawValue),
                                                              default: "none")) ?? .none
        let tombstones = reader.bool("tombstones", default: true)
        var createTopics: TopicCreation?
        if let creation = reader.child("create_topics") {
            createTopics = Self.topicCreation(creation)
            if createTopics == nil { valid = false }
        }
        var properties: [(key: String, value: String)] = []
        if let mapping = reader.child("properties") {
            for key in mapping.keys {
                guard let value = mapping.scalarText(key) else { continue }
                if let why = Self.ownedProperties[key] {
                    valid = false
                    mapping.report(key, "cannot be set here: \(why)")
                } else if let problem = Self.librdkafkaRejects(key: key, value: value) {
                    valid = false
                    mapping.report(key, problem)
                } else {
                    properties.append((key, value))
                }
            }
        }
        reader.finish()
        guard valid else { return nil }
        self.init(brokers: brokers, topic: topic, schemaTopic: schemaTopic, messageTopic: messageTopic,
                  transactionMetadata: transactionMetadata, transactionTopic: transactionTopic, prefix: prefix,
                  compression: compression, tombstones: tombstones, createTopics: createTopics, properties: properties)
    }

    /// `create_topics: {partitions: N, replication_factor: M}`, both
    /// required; nil when one is missing (a bad value is reported by the
    /// typed read, and the loader fails on it).
    private static func topicCreation(_ reader: ConfigReader) -> TopicCreation? {
        let missing = ["partitions", "replication_factor"].filter { !reader.has($0) }
        for key in missing {
            reader.report(key, "required: a positive integer, for every topic the sink creates")
        }
        let partitions = reader.int("partitions", default: 1, range: 1...Int(Int32.max))
        let replicationFactor = reader.int("replication_factor", default: 1, range: 1...Int(Int16.max))
        guard missing.isEmpty else { return nil }
        return TopicCreation(partitions: Int32(partitions), replicationFactor: Int16(replicationFactor))
    }

    /// What librdkafka says about `key` set to `value`, with the value
    /// masked; nil when it takes it.
    static func librdkafkaRejects(key: String, value: String) -> String? {
        guard let conf = rd_kafka_conf_new() else { return "librdkafka could not make a configuration" }
        defer { rd_kafka_conf_destroy(conf) }
        var errstr = [CChar](repeating: 0, count: 512)
        let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
        guard result != RD_KAFKA_CONF_OK else { return nil }
        let said = Secrets.redact(errstr.text, secrets: [value])
        if result == RD_KAFKA_CONF_UNKNOWN { return "librdkafka has no such property (\(said))" }
        return "librdkafka rejects this value (\(said)); the value is not shown"
    }
}
