import SiphonCore

/// Events for tests: a row event of table `s.t` with key `{"id":key}`.
public enum TestEvents {
    /// Appends a `c` event at `position` for `key`, written by `pipeline`
    /// (its `source.name`, which the file sink checks).
    public static func append(to batch: inout EventBatch, position: Position, key: Int, pipeline: String = "p",
                              endsTransaction: Bool = false) {
        batch.appendRowEvent(position: position, op: .create, table: TableName(schema: "s", name: "t"),
                             source: { json in
                                 json.appendRaw("{\"name\":")
                                 json.appendString(pipeline)
                                 json.appendRaw("}")
                             },
                             schemaVersion: 1, transaction: nil, timestampMillis: 0) { image, json in
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
