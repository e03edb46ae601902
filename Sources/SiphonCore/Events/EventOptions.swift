/// How a pipeline's events are written: the `events:` keys of a pipeline
/// file (docs/EVENTS.md).
public struct EventOptions: Sendable, Equatable {
    /// `events.format`: Debezium's JSON (the default), or the same event as
    /// the `data` of a CloudEvents 1.0 structured event.
    public enum Envelope: String, Sendable, CaseIterable {
        case debezium, cloudevents
    }

    /// `events.json`: json and jsonb values as a string holding the JSON
    /// text (Debezium's), or embedded as JSON values.
    public enum JSONValues: String, Sendable, CaseIterable {
        case string, embed
    }

    /// `events.unchanged_toast`: a value PostgreSQL did not send (an
    /// unchanged TOASTed column under REPLICA IDENTITY DEFAULT) is written as
    /// Debezium's placeholder, or left out of `after`. Either way the
    /// event's `unchanged` lists it.
    public enum UnchangedToast: String, Sendable, CaseIterable {
        case placeholder, omit
    }

    public var envelope: Envelope = .debezium
    public var json: JSONValues = .string
    public var unchangedToast: UnchangedToast = .placeholder

    public init(envelope: Envelope = .debezium, json: JSONValues = .string, unchangedToast: UnchangedToast = .placeholder) {
        self.envelope = envelope
        self.json = json
        self.unchangedToast = unchangedToast
    }

    /// What Debezium writes for a value it did not receive.
    public static let unavailableValuePlaceholder = "__debezium_unavailable_value"
}

/// Debezium's `source.snapshot`: whether an event comes from a snapshot,
/// and where in it.
public enum SnapshotMarker: String, Sendable {
    /// A streamed change.
    case none = "false"
    /// A snapshot row that is neither the first nor the last of its table.
    case row = "true"
    /// The first row of the whole snapshot.
    case first
    /// The first row of a table (not the snapshot's first).
    case firstInTable = "first_in_data_collection"
    /// The last row of a table (not the snapshot's last).
    case lastInTable = "last_in_data_collection"
    /// The last row of the whole snapshot.
    case last
}

/// Debezium's `transaction` block: the transaction's id and the event's
/// place in it, overall and among the events of its table (1-based).
public struct EventTransaction: Sendable, Equatable {
    /// `"<txid>:<lsn>"` for PostgreSQL (Debezium's form).
    public var id: String
    public var totalOrder: Int
    public var dataCollectionOrder: Int

    public init(id: String, totalOrder: Int, dataCollectionOrder: Int) {
        self.id = id
        self.totalOrder = totalOrder
        self.dataCollectionOrder = dataCollectionOrder
    }
}

/// What the CloudEvents envelope's extension attributes say about one
/// event; asked for only when a pipeline writes CloudEvents.
public struct CloudEventFacts {
    /// `source.ts_ms`: when the change was made; the event's `time`.
    public var sourceMillis: Int64
    public var snapshot: SnapshotMarker
    public var database: String
    public var schema: String?
    public var table: String?
    public var transactionID: String?
    public var lsn: String?

    public init(sourceMillis: Int64, snapshot: SnapshotMarker, database: String, schema: String? = nil,
                table: String? = nil, transactionID: String? = nil, lsn: String? = nil) {
        self.sourceMillis = sourceMillis
        self.snapshot = snapshot
        self.database = database
        self.schema = schema
        self.table = table
        self.transactionID = transactionID
        self.lsn = lsn
    }
}

/// How one source's events are wrapped, fixed for a pipeline: the options
/// and the pre-rendered parts of the CloudEvents attributes.
public struct EventEnvelope: Sendable {
    public let options: EventOptions
    /// Debezium's connector name: `postgresql`, `sqlite`.
    public let connector: String
    /// `,"source":"/debezium/<connector>/<name>","specversion":"1.0",...`:
    /// the attributes every CloudEvent of the pipeline shares.
    let cloudConstant: [UInt8]
    /// `"io.debezium.connector.<connector>.`
    let cloudTypePrefix: [UInt8]

    public init(options: EventOptions, connector: String, pipeline: String) {
        self.options = options
        self.connector = connector
        var constant = JSONBuffer(capacity: 256)
        constant.appendRaw(",\"source\":")
        constant.appendString("/debezium/\(connector)/\(pipeline)")
        constant.appendRaw(",\"specversion\":\"1.0\",\"datacontenttype\":\"application/json\",\"iodebeziumconnector\":")
        constant.appendString(connector)
        constant.appendRaw(",\"iodebeziumname\":")
        constant.appendString(pipeline)
        constant.appendRaw(",\"iodebeziumversion\":")
        constant.appendString(SiphonVersion.sourceVersion)
        cloudConstant = constant.bytes
        cloudTypePrefix = Array("\"io.debezium.connector.\(connector).".utf8)
    }
}
