/// Debezium's transaction metadata (`provide.transaction.metadata`), made
/// from the events themselves: a BEGIN record before the first event of
/// each source transaction and an END record after its last, both keyed
/// `{"id":"<transaction id>"}`, in the sink's transaction topic or subject
/// (Kafka's `sink.transaction_topic`, NATS's `sink.transaction_subject`):
///
///     {"status":"BEGIN","id":"771:24023128","ts_ms":1733390000000,"event_count":null,"data_collections":null}
///     {"status":"END","id":"771:24023128","ts_ms":1733390000000,"event_count":2,
///      "data_collections":[{"data_collection":"public.orders","event_count":2}]}
///
/// `ts_ms` is the transaction's commit time (the events' `source.ts_ms`).
/// An event belongs to a transaction when it carries a `transaction`
/// object (snapshot rows and schema changes do not); the first has
/// `total_order` 1, the last is the one the source marks
/// `endsTransaction`.
///
/// Exactly once: BEGIN carries its first event's position and END its last
/// event's, END ordered after BEGIN at the same position (as a tombstone
/// after its delete), so the resume skip treats them like any record. The
/// counts in END need every event of the transaction to pass through the
/// sink in the session that writes END, so with metadata on the sink
/// reports durable only positions that end a transaction: a restart begins
/// at a transaction's first event (events Kafka already holds are skipped,
/// and still counted).
public struct TransactionMetadata: Sendable {
    public init() {}

    /// The transaction whose events are passing through.
    private var current: Open?

    private struct Open {
        var id: ArraySlice<UInt8>
        var commitMs: ArraySlice<UInt8>
        var count = 0
        /// Per table, in the order the transaction first touched each.
        var tables: [(name: String, count: Int)] = []
    }

    /// What the sink writes around one event.
    public struct Records: Sendable {
        public init() {}
        /// The BEGIN record's key and value, to write before the event.
        public var begin: (key: [UInt8], value: [UInt8])?
        /// The END record's key and value, to write after it.
        public var end: (key: [UInt8], value: [UInt8])?
    }

    /// Takes note of `event` (once per event, in order) and says what goes
    /// around it. An event of a transaction whose first event this sink
    /// never saw (a checkpoint taken inside a transaction before metadata
    /// was turned on) gets neither BEGIN nor END, since its counts would be
    /// wrong.
    public mutating func observe(_ event: EventRecord, in bytes: [UInt8]) -> Records {
        var records = Records()
        guard let tag = Self.tag(of: event, in: bytes) else { return records }
        if tag.totalOrder == 1 {
            current = Open(id: tag.id, commitMs: tag.commitMs)
            records.begin = (Self.key(tag.id), Self.begin(tag.id, commitMs: tag.commitMs))
        }
        guard var open = current, open.id.elementsEqual(tag.id) else {
            current = nil
            return records
        }
        open.count += 1
        let table = event.table?.description ?? ""
        if let index = open.tables.firstIndex(where: { $0.name == table }) {
            open.tables[index].count += 1
        } else {
            open.tables.append((table, 1))
        }
        if event.endsTransaction {
            records.end = (Self.key(open.id), Self.end(open))
            current = nil
        } else {
            current = open
        }
        return records
    }

    /// The id, place and commit time of a transaction event: the last
    /// `"transaction":{"id":"…","total_order":N` before the event's key
    /// (nothing after the envelope's `transaction` but Siphon's own fields
    /// and the key holds user data; user strings inside it are escaped, so
    /// they cannot contain the marker), and the `"ts_ms":` of the `source`
    /// right before it.
    public static func tag(of event: EventRecord, in bytes: [UInt8])
        -> (id: ArraySlice<UInt8>, totalOrder: Int, commitMs: ArraySlice<UInt8>)? {
        let end = event.key?.lowerBound ?? event.line.upperBound
        guard let marker = lastIndex(of: transactionMarker, in: bytes[event.line.lowerBound..<end]) else { return nil }
        let idStart = marker + transactionMarker.count
        guard let idEnd = bytes[idStart..<end].firstIndex(of: UInt8(ascii: "\"")),
              bytes[idEnd...].starts(with: orderMarker) else { return nil }
        let digits = bytes[(idEnd + orderMarker.count)..<end].prefix { (48...57).contains($0) }
        guard let totalOrder = Int(String(decoding: digits, as: UTF8.self)),
              let ts = lastIndex(of: timestampMarker, in: bytes[event.line.lowerBound..<marker]) else { return nil }
        let commitMs = bytes[(ts + timestampMarker.count)..<marker].prefix { (48...57).contains($0) || $0 == UInt8(ascii: "-") }
        return (bytes[idStart..<idEnd], totalOrder, commitMs)
    }

    /// The transaction id of an event read back from a sink (its whole
    /// JSON text, key included: a key holds no object, so the marker cannot
    /// be in it); nil for an event outside a transaction.
    public static func transactionId(in event: ArraySlice<UInt8>) -> String? {
        guard let marker = lastIndex(of: transactionMarker, in: event) else { return nil }
        let idStart = marker + transactionMarker.count
        guard let idEnd = event[idStart...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return String(decoding: event[idStart..<idEnd], as: UTF8.self)
    }

    private static let transactionMarker = Array("\"transaction\":{\"id\":\"".utf8)
    private static let orderMarker = Array("\",\"total_order\":".utf8)
    private static let timestampMarker = Array("\"ts_ms\":".utf8)

    private static func lastIndex(of marker: [UInt8], in bytes: ArraySlice<UInt8>) -> Int? {
        var start = bytes.endIndex - marker.count
        while start >= bytes.startIndex {
            if bytes[start] == marker[0], bytes[start..<(start + marker.count)].elementsEqual(marker) { return start }
            start -= 1
        }
        return nil
    }

    /// `{"id":"…"}`: the id is copied from the event's JSON, already escaped.
    private static func key(_ id: ArraySlice<UInt8>) -> [UInt8] {
        Array("{\"id\":\"".utf8) + id + Array("\"}".utf8)
    }

    private static func begin(_ id: ArraySlice<UInt8>, commitMs: ArraySlice<UInt8>) -> [UInt8] {
        Array("{\"status\":\"BEGIN\",\"id\":\"".utf8) + id + Array("\",\"ts_ms\":".utf8)
            + (commitMs.isEmpty ? Array("null".utf8) : Array(commitMs))
            + Array(",\"event_count\":null,\"data_collections\":null}".utf8)
    }

    private static func end(_ open: Open) -> [UInt8] {
        var json = JSONBuffer(capacity: 128 + open.tables.count * 64)
        json.appendRaw(Array("{\"status\":\"END\",\"id\":\"".utf8))
        json.appendRaw(Array(open.id))
        json.appendRaw(Array("\",\"ts_ms\":".utf8))
        json.appendRaw(open.commitMs.isEmpty ? Array("null".utf8) : Array(open.commitMs))
        json.appendRaw(Array(",\"event_count\":\(open.count),\"data_collections\":[".utf8))
        for (index, table) in open.tables.enumerated() {
            if index > 0 { json.appendRaw([UInt8(ascii: ",")]) }
            json.appendRaw(Array("{\"data_collection\":".utf8))
            json.appendString(table.name)
            json.appendRaw(Array(",\"event_count\":\(table.count)}".utf8))
        }
        json.appendRaw(Array("]}".utf8))
        return json.bytes
    }
}
