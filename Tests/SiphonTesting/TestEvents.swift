import SiphonCore

/// Events for tests: a row event of table `s.t` with key `{"id":key}`.
public enum TestEvents {
    /// Appends a `c` event at `position` for `key`, written by `pipeline`
    /// (its `source.name`, which the file sink checks).
    public static func append(to batch: inout EventBatch, position: Position, key: Int, pipeline: String = "p",
                              endsTransaction: Bool = false) {
        let envelope = EventEnvelope(options: EventOptions(), connector: "test", pipeline: pipeline)
        batch.appendRowEvent(position: position, op: .create, table: TableName(schema: "s", name: "t"),
                             envelope: envelope,
                             source: { json in
                                 json.appendRaw("{\"name\":")
                                 json.appendString(pipeline)
                                 json.appendRaw("}")
                             },
                             transaction: nil, timestampMicros: 0, schemaVersion: 1,
                             facts: { CloudEventFacts(sourceMillis: 0, snapshot: .none, database: "test") }) { image, json in
            switch image {
            case .before: return false
            case .after: json.appendRaw("{\"id\":\(key)}".utf8)
            case .key: json.appendRaw("{\"id\":\(key)}".utf8)
            }
            return true
        }
        if endsTransaction { batch.markTransactionEnd() }
    }

    /// A batch of one event.
    public static func one(at position: Position, key: Int = 0, pipeline: String = "p", resumable: Bool = true) -> EventBatch {
        var batch = EventBatch()
        batch.resumable = resumable
        append(to: &batch, position: position, key: key, pipeline: pipeline, endsTransaction: true)
        return batch
    }
}
