import SiphonCore

/// The `source` block of SQLite events, in Debezium's member order:
///
/// `{"version":"siphon-0.2.0","connector":"sqlite","name":"<pipeline>",
/// "ts_ms":...,"snapshot":"false","db":"app.db","ts_us":...,"ts_ns":...,
/// "schema":"main","table":"<table>","seq":<changelog sequence>}`
///
/// The parts that never change within a pipeline are rendered once.
struct SourceBlock {
    /// `{"version":...,"connector":"sqlite","name":"<pipeline>","ts_ms":`
    private let head: [UInt8]
    /// `","db":"<file>","ts_us":`, after the snapshot marker's text.
    private let database: [UInt8]

    init(pipeline: String, database file: String) {
        var json = JSONBuffer(capacity: 128)
        json.appendRaw("{\"version\":")
        json.appendString(SiphonVersion.sourceVersion)
        json.appendRaw(",\"connector\":\"sqlite\",\"name\":")
        json.appendString(pipeline)
        json.appendRaw(",\"ts_ms\":")
        head = json.bytes
        json.removeAll()
        json.appendRaw("\",\"db\":")
        json.appendString(file)
        json.appendRaw(",\"ts_us\":")
        database = json.bytes
    }

    /// Writes the block for a change recorded, or a snapshot row read, at
    /// `micros` (µs since 1970). `table` is the table name as a JSON string.
    /// Returns where the snapshot marker's text sits in `json`.
    @discardableResult
    func write(_ json: inout JSONBuffer, table: [UInt8], seq: Int64, micros: Int64, snapshot: SnapshotMarker) -> Range<Int> {
        json.appendRaw(head)
        json.appendInt(micros / 1000)
        json.appendRaw(",\"snapshot\":\"")
        let marker = json.count
        switch snapshot {
        case .none: json.appendRaw("false")
        case .row: json.appendRaw("true")
        case .first: json.appendRaw("first")
        case .firstInTable: json.appendRaw("first_in_data_collection")
        case .lastInTable: json.appendRaw("last_in_data_collection")
        case .last: json.appendRaw("last")
        }
        let markerEnd = json.count
        json.appendRaw(database)
        json.appendInt(micros)
        json.appendRaw(",\"ts_ns\":")
        json.appendInt(micros * 1000)
        json.appendRaw(",\"schema\":\"main\",\"table\":")
        json.appendRaw(table)
        json.appendRaw(",\"seq\":")
        json.appendInt(seq)
        json.appendByte(UInt8(ascii: "}"))
        return marker..<markerEnd
    }
}
