/// One row event, as a database sink applies it: the key and the new
/// values, each value the exact JSON text of the event.
public struct RowChange: Sendable {
    public enum Kind: Sendable { case upsert, delete }

    public var kind: Kind
    public var table: TableName
    /// The `key` object's text: the same key always has the same text.
    public var keyText: String
    /// The key columns' values (JSON text).
    public var key: [String: String]
    /// The columns the event carries (JSON text), for an upsert: `after`
    /// without the columns PostgreSQL did not send (`unchanged`), which
    /// the target keeps as they are.
    public var values: [String: String]

    public init(kind: Kind, table: TableName, keyText: String, key: [String: String], values: [String: String]) {
        self.kind = kind
        self.table = table
        self.keyText = keyText
        self.key = key
        self.values = values
    }

    /// Whether snapshot row `index` of `batch` is the first of its table in
    /// its snapshot (`source.snapshot` is `first` or
    /// `first_in_data_collection`). Sources take an interrupted snapshot
    /// again from its first row, so a database sink empties the table there
    /// and the target ends up equal to the snapshot, rows deleted since an
    /// earlier, interrupted one included. (A table with a single row has
    /// only `last_in_data_collection`: it is not emptied.)
    public static func startsTableSnapshot(_ batch: EventBatch, _ index: Int) throws -> Bool {
        let bytes = batch.buffer.bytes
        let members = try JSONMembers.parse(bytes[batch.events[index].line])
        guard let source = members.first(where: { $0.name == "source" }), bytes[source.value].first == UInt8(ascii: "{"),
              let marker = try JSONMembers.parse(bytes[source.value]).first(where: { $0.name == "snapshot" }) else { return false }
        let text = bytes[marker.value]
        guard text.first == UInt8(ascii: "\"") else { return false }
        let value = try JSONMembers.decodeString(text)
        return value == "first" || value == "first_in_data_collection"
    }

    /// Reads event `index` of `batch`, which must be a `c`, `r`, `u` or `d`.
    /// Throws naming the table when the event has no key (a table without
    /// a primary key or replica identity cannot be applied by key).
    public static func parse(_ batch: EventBatch, _ index: Int) throws -> RowChange {
        let record = batch.events[index]
        guard let table = record.table else { throw SiphonError(.sink, "event \(record.position) has no table") }
        let bytes = batch.buffer.bytes
        let line = bytes[record.line]
        let members = try JSONMembers.parse(line)
        func member(_ name: String) -> ArraySlice<UInt8>? {
            members.first { $0.name == name }.map { bytes[$0.value] }
        }
        guard let keySlice = member("key"), keySlice.first == UInt8(ascii: "{") else {
            throw SiphonError(.sink, "table \(table) has no primary key (event \(record.position) has a null key): a database sink applies changes by key; add a primary key to the source table or leave it out of source.tables")
        }
        var key: [String: String] = [:]
        for (name, range) in try JSONMembers.parse(keySlice) { key[name] = String(decoding: bytes[range], as: UTF8.self) }
        let keyText = String(decoding: keySlice, as: UTF8.self)
        if record.op == .delete {
            return RowChange(kind: .delete, table: table, keyText: keyText, key: key, values: [:])
        }
        guard let after = member("after"), after.first == UInt8(ascii: "{") else {
            throw SiphonError(.sink, "event \(record.position) of table \(table) has no 'after' row")
        }
        var unchanged: Set<String> = []
        if let list = member("unchanged"), list.first == UInt8(ascii: "[") {
            for range in try JSONMembers.elements(list) { unchanged.insert(try JSONMembers.decodeString(bytes[range])) }
        }
        var values: [String: String] = [:]
        for (name, range) in try JSONMembers.parse(after) where !unchanged.contains(name) {
            values[name] = String(decoding: bytes[range], as: UTF8.self)
        }
        return RowChange(kind: .upsert, table: table, keyText: keyText, key: key, values: values)
    }
}
