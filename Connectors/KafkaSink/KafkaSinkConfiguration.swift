import SiphonCore

/// The `sink:` keys of a `type: kafka` sink.
public struct KafkaSinkConfiguration: Sendable, Equatable {
    public enum Compression: String, Sendable, CaseIterable {
        case none, lz4, zstd, snappy, gzip
    }

    /// `host:port` of the bootstrap brokers (`sink.brokers`).
    public var brokers: [String]
    /// Where row events go (`sink.topic`).
    public var topic: TopicTemplate
    /// Where schema-change events go (`sink.schema_topic`).
    public var schemaTopic: TopicTemplate
    /// Where logical-message events (`op: "m"`) go (`sink.message_topic`).
    public var messageTopic: TopicTemplate
    /// Whether the sink writes Debezium's transaction metadata, a BEGIN and
    /// an END record per source transaction (`sink.transaction_metadata`,
    /// off by default as in Debezium; see `TransactionMetadata`).
    public var transactionMetadata: Bool
    /// Where they go (`sink.transaction_topic`).
    public var transactionTopic: TopicTemplate
    /// `{prefix}` in the templates (`sink.prefix`); nil: the pipeline's name.
    public var prefix: String?
    public var compression: Compression
    /// A null-value record with the same key after each delete of a keyed
    /// row, so that compacted topics drop the key (`sink.tombstones`).
    public var tombstones: Bool
    /// How the sink creates a topic it is about to write that does not
    /// exist (`sink.create_topics`); nil: it leaves that to the broker
    /// (`auto.create.topics.enable`, or topics created beforehand).
    public var createTopics: TopicCreation?
    /// Passed to librdkafka as they are (`sink.properties`): TLS, SASL,
    /// tuning. Values may be secrets: never log or quote them.
    public var properties: [(key: String, value: String)]

    /// `sink.create_topics`: the partition count and replication factor of
    /// the topics the sink creates.
    public struct TopicCreation: Sendable, Equatable {
        public var partitions: Int32
        public var replicationFactor: Int16

        public init(partitions: Int32, replicationFactor: Int16) {
            self.partitions = partitions
            self.replicationFactor = replicationFactor
        }
    }

    public init(brokers: [String], topic: TopicTemplate = .defaultRows, schemaTopic: TopicTemplate = .defaultSchema,
                messageTopic: TopicTemplate = .defaultMessages, transactionMetadata: Bool = false,
                transactionTopic: TopicTemplate = .defaultTransactions, prefix: String? = nil, compression: Compression = .none,
                tombstones: Bool = true, createTopics: TopicCreation? = nil, properties: [(key: String, value: String)] = []) {
        self.brokers = brokers
        self.topic = topic
        self.schemaTopic = schemaTopic
        self.messageTopic = messageTopic
        self.transactionMetadata = transactionMetadata
        self.transactionTopic = transactionTopic
        self.prefix = prefix
        self.compression = compression
        self.tombstones = tombstones
        self.createTopics = createTopics
        self.properties = properties
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.brokers == rhs.brokers && lhs.topic == rhs.topic && lhs.schemaTopic == rhs.schemaTopic
            && lhs.messageTopic == rhs.messageTopic && lhs.transactionMetadata == rhs.transactionMetadata
            && lhs.transactionTopic == rhs.transactionTopic && lhs.prefix == rhs.prefix && lhs.compression == rhs.compression
            && lhs.tombstones == rhs.tombstones && lhs.createTopics == rhs.createTopics
            && lhs.properties.map(\.key) == rhs.properties.map(\.key) && lhs.properties.map(\.value) == rhs.properties.map(\.value)
    }

    /// The values of `properties`, to mask in any text librdkafka gives back.
    var secrets: [String] { properties.map(\.value).filter { $0.count >= 3 } }
}
