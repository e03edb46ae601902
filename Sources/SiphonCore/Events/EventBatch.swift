/// What happened to a row, or to a table.
public enum Operation: String, Sendable {
    case create = "c"
    case update = "u"
    case delete = "d"
    /// A row read by a snapshot.
    case read = "r"
    case truncate = "t"
    /// A table's columns changed: a schema-change event, which has no `op`
    /// in its JSON (docs/EVENTS.md); sinks route it apart.
    case schemaChange = "schema"
    /// A message written into the log by the application (pg_logical_emit_message).
    case message = "m"
}

/// A captured table, as `schema.table` (SQLite tables use schema `main`).
public struct TableName: Hashable, Sendable, CustomStringConvertible {
    public var schema: String
    public var name: String

    public init(schema: String, name: String) {
        self.schema = schema
        self.name = name
    }

    public var description: String { "\(schema).\(name)" }
}

/// One event of a batch: its position and where its JSON sits in `EventBatch.data`.
public struct EventRecord: Sendable {
    public var position: Position
    public var op: Operation
    public var table: TableName?
    /// The event's JSON object, without the trailing newline.
    public var line: Range<Int>
    /// The event's `key` object, when it has one (a Kafka message key, say).
    public var key: Range<Int>?
    /// A row event's `after` object, when it has one (not for a delete), and
    /// its `unchanged` array, when it has one: what a database sink reads,
    /// without scanning the rest of the event.
    public var after: Range<Int>?
    public var unchanged: Range<Int>?
    /// The last event of its source transaction: a sink that applies
    /// changes may commit after it (never between two events of one
    /// transaction). Snapshot rows and events outside transactions (schema
    /// changes read apart from one, non-transactional messages) stand alone
    /// and carry it too. A source sets it only on the actual last event, so
    /// a batch handed over in the middle of a transaction ends without it.
    public var endsTransaction = false

    /// This record with its ranges that start at `boundary` or later moved
    /// by `offset` bytes (its line's end always).
    func shifted(by offset: Int, from boundary: Int = Int.min) -> EventRecord {
        func move(_ range: Range<Int>?) -> Range<Int>? {
            guard let range, range.lowerBound >= boundary else { return range }
            return (range.lowerBound + offset)..<(range.upperBound + offset)
        }
        var moved = self
        moved.line = (line.lowerBound >= boundary ? line.lowerBound + offset : line.lowerBound)..<(line.upperBound + offset)
        moved.key = move(key)
        moved.after = move(after)
        moved.unchanged = move(unchanged)
        return moved
    }
}

/// Events in position order, rendered once as JSON Lines in one buffer.
///
/// Sources fill batches; sinks read `data` (every event followed by `\n`)
/// and `events`. A batch never holds an event twice and its positions
/// strictly increase.
public struct EventBatch: Sendable {
    public internal(set) var buffer: JSONBuffer
    public internal(set) var events: [EventRecord]
    /// Whether a checkpoint right after this batch could be resumed from.
    /// False for the rows of a PostgreSQL initial snapshot, which is taken
    /// again from the start when it is interrupted: while such batches keep
    /// coming, the pipeline does not fsync and checkpoint every
    /// `flushEvents` events or `flushInterval`, which would cost writeback in
    /// the middle of a bulk read and make nothing recoverable. It still does
    /// when the source goes quiet, before a resumable batch is acknowledged,
    /// and at the end.
    public var resumable = true
    /// When the source committed the last event's change (ms since 1970),
    /// when it knows: the start of `siphon_commit_to_sink_seconds`. Nil for
    /// snapshot rows, which were never committed as changes.
    public var commitUnixMillis: Int64?

    /// `capacity` bytes and `events` events are reserved: a batch filled
    /// to a known size never grows (each growth copies what it holds).
    public init(capacity: Int = 64 * 1024, events: Int = 0) {
        buffer = JSONBuffer(capacity: capacity)
        self.events = []
        self.events.reserveCapacity(events)
    }

    /// Every event's JSON followed by a newline, in order.
    public var data: [UInt8] { buffer.bytes }
    public var isEmpty: Bool { events.isEmpty }
    public var count: Int { events.count }
    public var byteCount: Int { buffer.count }
    public var lastPosition: Position? { events.last?.position }

    /// The JSON of event `index`, without its newline.
    public func line(_ index: Int) -> ArraySlice<UInt8> { buffer.bytes[events[index].line] }

    /// The events strictly after `position`, re-based into a new batch.
    /// Used on restart to drop what a sink already holds.
    public func suffix(after position: Position) -> EventBatch {
        guard let first = events.firstIndex(where: { $0.position > position }) else { return EventBatch(capacity: 0) }
        if first == 0 { return self }
        let offset = events[first].line.lowerBound
        var result = EventBatch(capacity: buffer.count - offset)
        result.resumable = resumable
        result.commitUnixMillis = commitUnixMillis
        result.buffer.appendRaw(buffer.bytes[offset...])
        result.events = events[first...].map { $0.shifted(by: -offset) }
        return result
    }

    /// Marks the last event as the end of its source transaction (see
    /// `EventRecord.endsTransaction`); nothing when the batch is empty.
    public mutating func markTransactionEnd() {
        guard !events.isEmpty else { return }
        events[events.count - 1].endsTransaction = true
    }

    /// Moves the last event into a batch of its own, rebased, and returns
    /// it (empty when this batch is). A source that hands a batch over in the
    /// middle of a transaction keeps the transaction's latest event back, so
    /// that the event it marks as the transaction's end at commit is still
    /// in its hands (`markTransactionEnd`).
    public mutating func removeLastEvent() -> EventBatch {
        guard let last = events.popLast() else { return EventBatch(capacity: 0) }
        let start = last.line.lowerBound
        var moved = EventBatch(capacity: max(buffer.count - start, 256))
        moved.resumable = resumable
        moved.commitUnixMillis = commitUnixMillis
        moved.buffer.appendRaw(buffer.bytes[start...])
        moved.events.append(last.shifted(by: -start))
        buffer.bytes.removeSubrange(start...)
        return moved
    }

    /// Replaces the bytes at `range`, which must lie inside the last event's
    /// JSON, with `replacement` (a source correcting a value it could only
    /// know later, such as the snapshot marker of a table's last row).
    public mutating func replaceInLastEvent(_ range: Range<Int>, with replacement: [UInt8]) {
        guard let last = events.popLast() else { return }
        precondition(last.line.contains(range.lowerBound) && range.upperBound <= last.line.upperBound)
        buffer.bytes.replaceSubrange(range, with: replacement)
        events.append(last.shifted(by: replacement.count - range.count, from: range.upperBound))
    }

    /// Appends the events of `other`, which must all come after this batch's.
    public mutating func append(_ other: EventBatch) {
        if !other.isEmpty { commitUnixMillis = other.commitUnixMillis }
        let offset = buffer.count
        buffer.appendRaw(other.buffer.bytes)
        events.append(contentsOf: other.events.map { $0.shifted(by: offset) })
    }

    /// Removes every event, keeping the allocated capacity.
    public mutating func removeAll() {
        buffer.removeAll(keepingCapacity: true)
        events.removeAll(keepingCapacity: true)
    }
}
