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
        // Found by the names' bytes: no `String` is made for every row of a snapshot.
        var source: Range<Int>?
        try JSONMembers.forEachMember(bytes[batch.events[index].line]) { name, value in
            if source == nil, bytes[name].elementsEqual(Self.sourceName) { source = value }
        }
        guard let source, bytes[source].first == UInt8(ascii: "{") else { return false }
        var marker: Range<Int>?
        try JSONMembers.forEachMember(bytes[source]) { name, value in
            if marker == nil, bytes[name].elementsEqual(Self.snapshotName) { marker = value }
        }
        guard let marker, bytes[marker].first == UInt8(ascii: "\"") else { return false }
        let value = try JSONMembers.decodeString(bytes[marker])
        return value == "first" || value == "first_in_data_collection"
    }

    private static let sourceName = Array("\"source\"".utf8)
    private static let snapshotName = Array("\"snapshot\"".utf8)

    /// Reads event `index` of `batch`, which must be a `c`, `r`, `u` or `d`.
    /// Throws naming the table when the event has no key (a table without
    /// a primary key or replica identity cannot be applied by key).
    /// `columns` gives rows of one table that carry the same columns one
    /// shared list, so their names are decoded once.
    ///
    /// Only the event's `key`, `after` and `unchanged` are read, where the
    /// source recorded them (`EventRecord`): the rest of the envelope is
    /// never scanned.
    public static func parse(_ batch: EventBatch, _ index: Int, columns lists: ColumnLists = ColumnLists()) throws -> RowChange {
        let record = batch.events[index]
        guard let table = record.table else { throw SiphonError(.sink, "event \(record.position) has no table") }
        let bytes = batch.buffer.bytes
        guard let keyRange = record.key, bytes[keyRange].first == UInt8(ascii: "{") else {
            throw SiphonError(.sink, "table \(table) has no primary key (event \(record.position) has a null key): a database sink applies changes by key; add a primary key to the source table or leave it out of source.tables")
        }
        let keyText = String(decoding: bytes[keyRange], as: UTF8.self)
        if record.op == .delete {
            return RowChange(kind: .delete, table: table, keyText: keyText, values: nil)
        }
        guard let afterRange = record.after, bytes[afterRange].first == UInt8(ascii: "{") else {
            throw SiphonError(.sink, "event \(record.position) of table \(table) has no 'after' row")
        }
        var unchanged: Set<String> = []
        if let list = record.unchanged {
            for range in try JSONMembers.elements(bytes[list]) { unchanged.insert(try JSONMembers.decodeString(bytes[range])) }
        }
        let after = bytes[afterRange]
        return try bytes.withUnsafeBufferPointer { buffer in
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
                let literal = UnsafeBufferPointer(rebasing: buffer[name])
                if !unchanged.isEmpty, unchanged.contains(try JSONMembers.decodeString(ArraySlice(literal))) { return }
                if matches {
                    if let candidate, matched < candidate.literals.count, Self.same(candidate.literals[matched], literal) {
                        matched += 1
                    } else {
                        matches = false
                    }
                }
                storage.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[value]))
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
    }

    private static func same(_ literal: [UInt8], _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        literal.count == bytes.count && literal.withUnsafeBytes { memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }
    }
}
