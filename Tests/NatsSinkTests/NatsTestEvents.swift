import SiphonCore
import SiphonTesting

/// Events of every kind for the NATS sink's tests.
enum NatsTestEvents {
    static let orders = TableName(schema: "public", name: "orders")
    static let logs = TableName(schema: "public", name: "logs")

    /// r, c, u, d, t on a keyed table; a keyless insert; a schema change; a
    /// logical message. Positions (high, 0...).
    static func everyKind(pipeline: String, high: UInt64 = 1, note: String = "x") -> EventBatch {
        var batch = EventBatch()
        var low: UInt64 = 0
        func next() -> Position {
            defer { low += 1 }
            return Position(high: high, low: low)
        }
        let envelope = EventEnvelope(options: EventOptions(), connector: "postgresql", pipeline: pipeline)
        let source: JSONWriter = { json in
            json.appendRaw("{\"name\":")
            json.appendString(pipeline)
            json.appendRaw(",\"db\":\"app\",\"connector\":\"postgresql\"}")
        }
        func row(_ op: SiphonCore.Operation, _ table: TableName, key: Int?, version: Int = 1) {
            batch.appendRowEvent(position: next(), op: op, table: table, envelope: envelope, source: source, transaction: nil,
                                 timestampMicros: 0, schemaVersion: version,
                                 facts: { CloudEventFacts(sourceMillis: 0, snapshot: .none, database: "app") }) { image, json in
                switch image {
                case .before where op == .update || op == .delete, .after where op != .delete && op != .truncate:
                    json.appendRaw("{\"id\":\(key ?? 0),\"note\":".utf8)
                    json.appendString(note)
                    json.appendRaw("}")
                case .key where key != nil:
                    json.appendRaw("{\"id\":\(key!)}".utf8)
                default:
                    return false
                }
                return true
            }
        }
        row(.read, orders, key: 1)
        row(.create, orders, key: 2)
        row(.update, orders, key: 1)
        row(.delete, orders, key: 2)
        row(.create, logs, key: nil)
        batch.appendSchemaEvent(position: next(), table: orders, envelope: envelope, source: source, timestampMicros: 0,
                                database: "app", ddl: nil, version: 2, previousVersion: 1,
                                tableChange: { $0.appendRaw("{\"id\":\"public.orders\"}") }, changes: { $0.appendRaw("{}") },
                                facts: { CloudEventFacts(sourceMillis: 0, snapshot: .none, database: "app") })
        row(.update, orders, key: 1, version: 2)
        batch.appendMessageEvent(position: next(), envelope: envelope, source: source, transaction: nil, timestampMicros: 0,
                                 prefix: "audit", content: Array("hello".utf8),
                                 facts: { CloudEventFacts(sourceMillis: 0, snapshot: .none, database: "app") })
        row(.truncate, orders, key: nil, version: 2)
        batch.markTransactionEnd()
        return batch
    }

    /// `count` `c` events of `s.t` at (high, 0..<count), keys cycling over ten.
    static func rows(pipeline: String, high: UInt64, count: Int, note: String? = nil) -> EventBatch {
        var batch = EventBatch()
        for low in 0..<count {
            TestEvents.append(to: &batch, position: Position(high: high, low: UInt64(low)), key: low % 10,
                                  pipeline: pipeline, endsTransaction: low == count - 1, note: note)
        }
        return batch
    }
}
