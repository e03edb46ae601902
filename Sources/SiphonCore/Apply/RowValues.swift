/// Column names in the order a row carries them. Rows of one table that
/// carry the same columns share one instance (`ColumnLists`), so a sink
/// groups them by identity and renders their names once per statement.
public final class ColumnList: Sendable {
    public let names: [String]
    /// Each name's JSON string literal as events write it (quotes
    /// included): how `RowChange.parse` recognizes a row's columns without
    /// decoding them.
    let literals: [[UInt8]]

    init(names: [String], literals: [[UInt8]]) {
        self.names = names
        self.literals = literals
    }

    convenience init(names: [String]) {
        self.init(names: names, literals: names.map { name in
            var literal = JSONBuffer(capacity: name.utf8.count + 2)
            literal.appendString(name)
            return literal.bytes
        })
    }

    public var count: Int { names.count }

    /// Whether both hold the same names in the same order.
    public func sameNames(as other: ColumnList) -> Bool { self === other || names == other.names }
}

/// A row's values as the exact JSON text of the event (numbers, json
/// strings and nested arrays never re-rendered), in the order of
/// `columns`: one buffer for all of them, not a `String` each.
public struct RowValues: Sendable {
    public let columns: ColumnList
    /// The values' JSON texts, one after another.
    private let storage: [UInt8]
    /// Where value `i` ends in `storage` (it starts where `i - 1` ends).
    private let ends: [Int]

    init(columns: ColumnList, storage: [UInt8], ends: [Int]) {
        self.columns = columns
        self.storage = storage
        self.ends = ends
    }

    /// Values by column name, each the JSON text of a value; columns sorted by name.
    public init(_ values: [String: String]) {
        let names = values.keys.sorted()
        var storage: [UInt8] = []
        var ends: [Int] = []
        for name in names {
            storage.append(contentsOf: values[name]!.utf8)
            ends.append(storage.count)
        }
        self.init(columns: ColumnList(names: names), storage: storage, ends: ends)
    }

        /// The members of the JSON object `text` (a key's, say), in its order.
    public static func parse(object text: String) throws(JSONMembers.Malformed) -> RowValues {
        let bytes = ArraySlice(Array(text.utf8))
        var names: [String] = [], literals: [[UInt8]] = [], storage: [UInt8] = [], ends: [Int] = []
        try JSONMembers.forEachMember(bytes) { (name, value) throws(JSONMembers.Malformed) in
            names.append(try JSONMembers.decodeString(bytes[name]))
            literals.append(Array(bytes[name]))
            storage.append(contentsOf: bytes[value])
            ends.append(storage.count)
        }
        return RowValues(columns: ColumnList(names: names, literals: literals), storage: storage, ends: ends)
    }

    public var count: Int { ends.count }

    /// The JSON text of the value of column `index` of `columns`.
    public func text(at index: Int) -> ArraySlice<UInt8> {
        storage[(index == 0 ? 0 : ends[index - 1])..<ends[index]]
    }

    /// The JSON text of column `name`'s value, nil when the row does not carry it.
    public func text(_ name: String) -> ArraySlice<UInt8>? {
        columns.names.firstIndex(of: name).map { text(at: $0) }
    }

    /// Column name to the value's JSON text.
    public var dictionary: [String: String] {
        var result: [String: String] = [:]
        for (index, name) in columns.names.enumerated() {
            result[name] = String(decoding: text(at: index), as: UTF8.self)
        }
        return result
    }

    /// `later` laid over this row: its values win, and the columns only
    /// this row carries are kept (in this row's order, then `later`'s new ones).
    func overlaid(with later: RowValues) -> RowValues {
        if later.columns.sameNames(as: columns) { return later }
        var names = columns.names
        var storage: [UInt8] = []
        var ends: [Int] = []
        storage.reserveCapacity(self.storage.count + later.storage.count)
        for (index, name) in names.enumerated() {
            storage.append(contentsOf: later.text(name) ?? text(at: index))
            ends.append(storage.count)
        }
        for (index, name) in later.columns.names.enumerated() where !columns.names.contains(name) {
            names.append(name)
            storage.append(contentsOf: later.text(at: index))
            ends.append(storage.count)
        }
        return RowValues(columns: ColumnList(names: names), storage: storage, ends: ends)
    }
}

/// The column lists a sink has seen, by table: a row carrying the same
/// columns as the table's last one gets that list, found by comparing the
/// names' bytes, so an event's names are decoded only when its table's
/// columns change.
public final class ColumnLists: @unchecked Sendable {
    private var last: [TableName: ColumnList] = [:]

    public init() {}

    /// The table's last list: what its next row most likely carries.
    func latest(for table: TableName) -> ColumnList? { last[table] }

    /// A new list for `table` (its columns changed, or a row left some out),
    /// which becomes the table's latest.
    func make(for table: TableName, names: [String], literals: [[UInt8]]) -> ColumnList {
        let list = ColumnList(names: names, literals: literals)
        last[table] = list
        return list
    }
}
