import SiphonCore

/// Events for tests: a `c` row event, by default of table `s.t` with key
/// `{"id":key}` and `after` the same object.
public enum TestEvents {
    /// Appends a `c` event at `position` for `key` (nil: a table without a
    /// key, `after` has id 0), written by `pipeline` (its `source.name`,
    /// which the file sink checks); with `note`, `after` also has
    /// `"note":note`.
    public static func append(to batch: inout EventBatch, position: Position, key: Int?, pipeline: String = "p",
                              endsTransaction: Bool = false, table: TableName = TableName(schema: "s", name: "t"),
                              note: String? = nil, transaction: EventTransaction? = nil) {
        let envelope = EventEnvelope(options: EventOptions(), connector: "test", pipeline: pipeline)
        batch.appendRowEvent(position: position, op: .create, table: table,
                             envelope: envelope,
                             source: { json in
                                 json.appendRaw("{\"name\":")
                                 json.appendString(pipeline)
                                 if transaction != nil { json.appendRaw(",\"ts_ms\":1700000000123") }
                                 json.appendRaw("}")
                             },
                             transaction: transaction, timestampMicros: 0, schemaVersion: 1,
                             facts: { CloudEventFacts(sourceMillis: 0, snapshot: .none, database: "test") }) { image, json in
            switch image {
            case .before: return false
            case .after:
                json.appendRaw("{\"id\":\(key ?? 0)".utf8)
                if let note {
                    json.appendRaw(",\"note\":")
                    json.appendString(note)
                }
                json.appendRaw("}")
            case .key:
                guard let key else { return false }
                json.appendRaw("{\"id\":\(key)}".utf8)
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
