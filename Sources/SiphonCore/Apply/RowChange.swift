import Foundation

/// One row event, as a database sink applies it: the key and the new
/// values, each value the exact JSON text of the event.
public struct RowChange: Sendable {
    public enum Kind: Sendable { case upsert, delete }

    public var kind: Kind
    public var table: TableName
    /// The `key` object's text: the same key always has the same text.
    public var keyText: String
    /// The columns the event carries, for an upsert: `after` without the
    /// columns PostgreSQL did not send (`unchanged`), which the target
    /// keeps as they are. Nil for a delete.
    public var values: RowValues?

    public init(kind: Kind, table: TableName, keyText: String, values: RowValues?) {
        self.kind = kind
        self.table = table
        self.keyText = keyText
        self.values = kind == .delete ? nil : values
    }

    /// A change given as dictionaries of JSON texts (columns sorted by name).
    public init(kind: Kind, table: TableName, keyText: String, values: [String: String]) {
        self.init(kind: kind, table: table, keyText: keyText, values: RowValues(values))
    }

    /// The key's columns and values, read from `keyText`.
    public func key() throws -> RowValues { try RowValues.parse(object: keyText) }

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
    /// `columns` gives rows of one table that carry the same columns one
    /// shared list, so their names are decoded once.
    public static func parse(_ batch: EventBatch, _ index: Int, columns lists: ColumnLists = ColumnLists()) throws -> RowChange {
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
        let keyText = String(decoding: keySlice, as: UTF8.self)
        if record.op == .delete {
            return RowChange(kind: .delete, table: table, keyText: keyText, values: nil)
        }
        guard let after, after.first == UInt8(ascii: "{") else {
            throw SiphonError(.sink, "event \(record.position) of table \(table) has no 'after' row")
        }
        var unchanged: Set<String> = []
        if let list, list.first == UInt8(ascii: "[") {
            for range in try JSONMembers.elements(list) { unchanged.insert(try JSONMembers.decodeString(bytes[range])) }
        }
        // The values' texts into one buffer, while the names are compared
        // with the table's latest column list.
        let candidate = lists.latest(for: table)
        var matched = 0
        var matches = candidate != nil
        var storage: [UInt8] = []
        storage.reserveCapacity(after.count)
        var ends: [Int] = []
        ends.reserveCapacity(candidate?.count ?? 8)
        try JSONMembers.forEachMember(after) { (name, value) throws(JSONMembers.Malformed) in
            if !unchanged.isEmpty, unchanged.contains(try JSONMembers.decodeString(bytes[name])) { return }
            if matches {
                if let candidate, matched < candidate.literals.count, Self.same(candidate.literals[matched], bytes[name]) {
                    matched += 1
                } else {
                    matches = false
                }
            }
            storage.append(contentsOf: bytes[value])
            ends.append(storage.count)
        }
        let columns: ColumnList
        if matches, let candidate, matched == candidate.count {
            columns = candidate
        } else {
            var names: [String] = [], literals: [[UInt8]] = []
            try JSONMembers.forEachMember(after) { (name, _) throws(JSONMembers.Malformed) in
                let decoded = try JSONMembers.decodeString(bytes[name])
                if !unchanged.isEmpty, unchanged.contains(decoded) { return }
                names.append(decoded)
                literals.append(Array(bytes[name]))
            }
            columns = lists.make(for: table, names: names, literals: literals)
        }
        return RowChange(kind: .upsert, table: table, keyText: keyText,
                         values: RowValues(columns: columns, storage: storage, ends: ends))
    }

    private static func same(_ literal: [UInt8], _ bytes: ArraySlice<UInt8>) -> Bool {
        literal.count == bytes.count && literal.withUnsafeBytes { a in
            bytes.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
        }
    }

    private static let keyName = Array("\"key\"".utf8)
    private static let afterName = Array("\"after\"".utf8)
    private static let unchangedName = Array("\"unchanged\"".utf8)
}
