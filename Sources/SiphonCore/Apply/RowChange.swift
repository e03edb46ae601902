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
        // The three members it needs, found by their names' bytes: no
        // `String` is made for the envelope's other members.
        var keySlice: ArraySlice<UInt8>?, after: ArraySlice<UInt8>?, list: ArraySlice<UInt8>?
        try JSONMembers.forEachMember(bytes[record.line]) { name, value in
            let literal = bytes[name]
            if keySlice == nil, literal.elementsEqual(Self.keyName) {
                keySlice = bytes[value]
            } else if after == nil, literal.elementsEqual(Self.afterName) {
                after = bytes[value]
            } else if list == nil, literal.elementsEqual(Self.unchangedName) {
                list = bytes[value]
            }
        }
        guard let keySlice, keySlice.first == UInt8(ascii: "{") else {
            throw SiphonError(.sink, "table \(table) has no primary key (event \(record.position) has a null key): a database sink applies changes by key; add a primary key to the source table or leave it out of source.tables")
        }
        var key: [String: String] = [:]
        try JSONMembers.forEachMember(keySlice) { (name, value) throws(JSONMembers.Malformed) in
            key[try JSONMembers.decodeString(bytes[name])] = String(decoding: bytes[value], as: UTF8.self)
        }
        let keyText = String(decoding: keySlice, as: UTF8.self)
        if record.op == .delete {
            return RowChange(kind: .delete, table: table, keyText: keyText, key: key, values: [:])
        }
        guard let after, after.first == UInt8(ascii: "{") else {
            throw SiphonError(.sink, "event \(record.position) of table \(table) has no 'after' row")
        }
        var unchanged: Set<String> = []
        if let list, list.first == UInt8(ascii: "[") {
            for range in try JSONMembers.elements(list) { unchanged.insert(try JSONMembers.decodeString(bytes[range])) }
        }
        var values: [String: String] = [:]
        values.reserveCapacity(key.count + 8)
        try JSONMembers.forEachMember(after) { (name, value) throws(JSONMembers.Malformed) in
            let column = try JSONMembers.decodeString(bytes[name])
            if unchanged.isEmpty || !unchanged.contains(column) {
                values[column] = String(decoding: bytes[value], as: UTF8.self)
            }
        }
        return RowChange(kind: .upsert, table: table, keyText: keyText, key: key, values: values)
    }

    private static let keyName = Array("\"key\"".utf8)
    private static let afterName = Array("\"after\"".utf8)
    private static let unchangedName = Array("\"unchanged\"".utf8)
}
