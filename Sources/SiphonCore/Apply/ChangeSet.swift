/// Row changes collapsed per table and key, in a database sink's target
/// transaction: each key's last state wins, so a key changed a thousand
/// times costs one row in the statements that apply it.
///
/// Collapsing keeps what applying every change in order would leave:
/// a later upsert lays its columns over the earlier state (columns it does
/// not carry, such as unchanged TOAST, keep the earlier values); a delete
/// followed by an upsert deletes first, so columns the upsert does not
/// carry do not survive from the deleted row.
public struct ChangeSet: Sendable {
    /// The state of one key.
    public struct Row: Sendable {
        /// nil: the key is deleted.
        public var values: RowValues?
        /// The row must be deleted before `values` are written.
        public var deleteFirst: Bool
        /// The key's text (`RowChange.keyText`): what `Table.index` is keyed by.
        public var keyText: String

        /// The key's columns and values.
        public func key() throws -> RowValues { try RowValues.parse(object: keyText) }
    }

    /// One table's keys in first-seen order.
    public struct Table: Sendable {
        public var name: TableName
        public var rows: [Row] = []
        var index: [String: Int] = [:]
    }

    public private(set) var tables: [Table] = []
    private var tableIndex: [TableName: Int] = [:]
    /// The table of the last change: changes mostly come table by table.
    private var lastTable: Int?
    /// Events added (before collapsing): what memory and batches are bounded by.
    public private(set) var eventCount = 0

    public init() {}

    public var isEmpty: Bool { eventCount == 0 }

    public mutating func add(_ change: RowChange) {
        let row = Row(values: change.kind == .delete ? nil : change.values, deleteFirst: false, keyText: change.keyText)
        merge(row, keyText: change.keyText, table: change.table)
        eventCount += 1
    }

    /// Lays `later` (changes that came after this set's) over this set.
    public mutating func append(_ later: ChangeSet) {
        if isEmpty {
            self = later
            return
        }
        for table in later.tables {
            for row in table.rows { merge(row, keyText: row.keyText, table: table.name) }
        }
        eventCount += later.eventCount
    }

    private mutating func merge(_ row: Row, keyText: String, table name: TableName) {
        let tablePosition: Int
        if let last = lastTable, tables[last].name == name {
            tablePosition = last
        } else if let known = tableIndex[name] {
            tablePosition = known
        } else {
            tablePosition = tables.count
            tableIndex[name] = tablePosition
            tables.append(Table(name: name))
        }
        lastTable = tablePosition
        guard let existing = tables[tablePosition].index[keyText] else {
            tables[tablePosition].index[keyText] = tables[tablePosition].rows.count
            tables[tablePosition].rows.append(row)
            return
        }
        let earlier = tables[tablePosition].rows[existing]
        var merged = row
        if let values = row.values, !row.deleteFirst {
            if let earlierValues = earlier.values {
                merged.values = earlierValues.overlaid(with: values)
                merged.deleteFirst = earlier.deleteFirst
            } else {
                // Deleted, then written again.
                merged.deleteFirst = true
            }
        }
        tables[tablePosition].rows[existing] = merged
    }
}
