import Foundation
import SiphonCore

/// A captured table's columns at one schema version.
struct TableSchema: Equatable, Sendable {
    struct Column: Equatable, Sendable {
        var name: String
        /// The declared type, as written in CREATE TABLE ("" when none).
        var type: String
        /// 1-based position in the primary key, 0 when not part of it.
        var keyIndex: Int
        /// Recorded since event format 2; nil in versions an older Siphon
        /// recorded, which did not keep them.
        var details: Details? = nil
    }

    /// What a schema-change event says about a column besides its name,
    /// type and key.
    struct Details: Equatable, Sendable {
        /// The column cannot hold NULL: declared NOT NULL, the rowid alias
        /// (INTEGER PRIMARY KEY), or a key column of a WITHOUT ROWID table.
        var notNull: Bool
        /// The DEFAULT clause's expression as written, nil when none.
        var defaultValue: String?
        /// The rowid alias: SQLite fills it in when an insert leaves it NULL.
        var autoIncrement: Bool
    }

    var table: String
    var version: Int
    var columns: [Column] {
        didSet { keyColumns = Self.keyColumns(of: columns) }
    }
    /// A rowid table without a declared primary key: the rowid is the key,
    /// and the changelog's value arrays end with it.
    var keyedByRowid: Bool

    /// Values per row image: the columns, plus the rowid when it is the key.
    var valueCount: Int { columns.count + (keyedByRowid ? 1 : 0) }

    /// SQLite's three names for the rowid. Each reaches the rowid only while
    /// no column has that name (in any case): `NEW.rowid` on a table with a
    /// column `rowid` reads the column.
    static let rowidAliases = ["rowid", "_rowid_", "oid"]

    /// The first of ``rowidAliases`` no column shadows, for reading the
    /// rowid in triggers and snapshots; nil when the columns take all three.
    var rowidAlias: String? {
        let names = Set(columns.map { $0.name.lowercased() })
        return Self.rowidAliases.first { !names.contains($0) }
    }

    /// Key columns in primary-key order; kept, not computed, since every
    /// event's key is read through it.
    private(set) var keyColumns: [Int]

    private static func keyColumns(of columns: [Column]) -> [Int] {
        columns.indices.filter { columns[$0].keyIndex > 0 }.sorted { columns[$0].keyIndex < columns[$1].keyIndex }
    }

    /// Whether two versions describe the same columns (names, types, key,
    /// and the details where both versions recorded them: a version an
    /// older Siphon recorded is not taken as changed for lacking them).
    func sameShape(as other: TableSchema) -> Bool {
        guard keyedByRowid == other.keyedByRowid, columns.count == other.columns.count else { return false }
        return zip(columns, other.columns).allSatisfy { mine, theirs in
            mine.name == theirs.name && mine.type == theirs.type && mine.keyIndex == theirs.keyIndex
                && (mine.details == nil || theirs.details == nil || mine.details == theirs.details)
        }
    }

    // MARK: JSON, as stored in `_siphon_schema.columns` and in schema events

    func writeColumns(_ json: inout JSONBuffer) {
        json.appendByte(UInt8(ascii: "["))
        for (index, column) in columns.enumerated() {
            if index > 0 { json.appendByte(UInt8(ascii: ",")) }
            json.appendRaw("{\"name\":")
            json.appendString(column.name)
            json.appendRaw(",\"type\":")
            json.appendString(column.type)
            json.appendRaw(",\"key\":")
            json.appendBool(column.keyIndex > 0)
            if column.keyIndex > 0 {
                json.appendRaw(",\"keyIndex\":")
                json.appendInt(column.keyIndex)
            }
            if let details = column.details {
                json.appendRaw(",\"notNull\":")
                json.appendBool(details.notNull)
                if let value = details.defaultValue {
                    json.appendRaw(",\"default\":")
                    json.appendString(value)
                }
                if details.autoIncrement { json.appendRaw(",\"autoIncrement\":true") }
            }
            json.appendByte(UInt8(ascii: "}"))
        }
        if keyedByRowid {
            if !columns.isEmpty { json.appendByte(UInt8(ascii: ",")) }
            json.appendRaw("{\"name\":\"rowid\",\"type\":\"INTEGER\",\"key\":true,\"keyIndex\":1,\"rowid\":true}")
        }
        json.appendByte(UInt8(ascii: "]"))
    }

    var columnsJSON: String {
        var json = JSONBuffer(capacity: 256)
        writeColumns(&json)
        return String(decoding: json.bytes, as: UTF8.self)
    }

    /// Reads the form `writeColumns` writes.
    init?(table: String, version: Int, columnsJSON: String) {
        guard let array = try? JSONSerialization.jsonObject(with: Data(columnsJSON.utf8)) as? [[String: Any]] else { return nil }
        var columns: [Column] = []
        var keyedByRowid = false
        for entry in array {
            guard let name = entry["name"] as? String else { return nil }
            if entry["rowid"] as? Bool == true {
                keyedByRowid = true
                continue
            }
            // Written since format 2: its presence says the details were recorded.
            let details = (entry["notNull"] as? Bool).map { notNull in
                Details(notNull: notNull, defaultValue: entry["default"] as? String,
                        autoIncrement: entry["autoIncrement"] as? Bool ?? false)
            }
            columns.append(Column(name: name, type: entry["type"] as? String ?? "",
                                  keyIndex: entry["keyIndex"] as? Int ?? 0, details: details))
        }
        self.init(table: table, version: version, columns: columns, keyedByRowid: keyedByRowid)
    }

    init(table: String, version: Int, columns: [Column], keyedByRowid: Bool) {
        self.table = table
        self.version = version
        self.columns = columns
        self.keyedByRowid = keyedByRowid
        keyColumns = Self.keyColumns(of: columns)
    }
}

/// What changed between two versions of a table.
///
/// SQLite's ALTER TABLE appends added columns, removes dropped ones in place
/// and renames in place, so a column whose name changed at the same
/// position with the same type, while the column count stayed, is reported
/// as renamed; everything else is added or dropped by name.
struct SchemaDiff: Equatable {
    var added: [String] = []
    var dropped: [String] = []
    var renamed: [(from: String, to: String)] = []
    var retyped: [(name: String, from: String, to: String)] = []
    /// The key columns that joined or left the key (all of the new key's
    /// when only their order changed): `changes.key_changed`, as the
    /// PostgreSQL source writes it.
    var keyChanged: [String] = []
    /// The table appeared (first capture, or created again after a drop).
    var tableCreated = false
    /// The table was dropped, or no longer matches `tables`.
    var tableDropped = false

    init() {}

    static func == (lhs: SchemaDiff, rhs: SchemaDiff) -> Bool {
        lhs.added == rhs.added && lhs.dropped == rhs.dropped && lhs.keyChanged == rhs.keyChanged
            && lhs.tableCreated == rhs.tableCreated && lhs.tableDropped == rhs.tableDropped
            && lhs.renamed.map { [$0.from, $0.to] } == rhs.renamed.map { [$0.from, $0.to] }
            && lhs.retyped.map { [$0.name, $0.from, $0.to] } == rhs.retyped.map { [$0.name, $0.from, $0.to] }
    }

    init(from old: TableSchema, to new: TableSchema) {
        var oldNames = old.columns.map(\.name)
        var newNames = new.columns.map(\.name)
        if old.columns.count == new.columns.count {
            for index in old.columns.indices {
                let before = old.columns[index], after = new.columns[index]
                if before.name != after.name, before.type == after.type,
                   !newNames.contains(before.name), !oldNames.contains(after.name) {
                    renamed.append((before.name, after.name))
                }
            }
            let renamedFrom = Set(renamed.map(\.from)), renamedTo = Set(renamed.map(\.to))
            oldNames.removeAll { renamedFrom.contains($0) }
            newNames.removeAll { renamedTo.contains($0) }
        }
        added = newNames.filter { !oldNames.contains($0) }
        dropped = oldNames.filter { !newNames.contains($0) }
        for column in new.columns {
            if let previous = old.columns.first(where: { $0.name == column.name }), previous.type != column.type {
                retyped.append((column.name, previous.type, column.type))
            }
        }
        let oldKey = old.keyedByRowid ? ["rowid"] : old.keyColumns.map { old.columns[$0].name }
        var newKey = new.keyedByRowid ? ["rowid"] : new.keyColumns.map { new.columns[$0].name }
        let renames = Dictionary(renamed.map { ($0.to, $0.from) }, uniquingKeysWith: { first, _ in first })
        newKey = newKey.map { renames[$0] ?? $0 }
        if oldKey != newKey {
            let moved = oldKey.filter { !newKey.contains($0) } + newKey.filter { !oldKey.contains($0) }
            keyChanged = moved.isEmpty ? newKey : moved
        }
    }

    func write(_ json: inout JSONBuffer) {
        json.appendRaw("{\"added\":")
        Self.writeNames(added, &json)
        json.appendRaw(",\"dropped\":")
        Self.writeNames(dropped, &json)
        json.appendRaw(",\"renamed\":[")
        for (index, rename) in renamed.enumerated() {
            if index > 0 { json.appendByte(UInt8(ascii: ",")) }
            json.appendRaw("{\"from\":")
            json.appendString(rename.from)
            json.appendRaw(",\"to\":")
            json.appendString(rename.to)
            json.appendByte(UInt8(ascii: "}"))
        }
        json.appendRaw("],\"retyped\":[")
        for (index, change) in retyped.enumerated() {
            if index > 0 { json.appendByte(UInt8(ascii: ",")) }
            json.appendRaw("{\"name\":")
            json.appendString(change.name)
            json.appendRaw(",\"from\":")
            json.appendString(change.from)
            json.appendRaw(",\"to\":")
            json.appendString(change.to)
            json.appendByte(UInt8(ascii: "}"))
        }
        json.appendRaw("],\"key_changed\":")
        Self.writeNames(keyChanged, &json)
        if tableCreated { json.appendRaw(",\"table_created\":true") }
        if tableDropped { json.appendRaw(",\"table_dropped\":true") }
        json.appendByte(UInt8(ascii: "}"))
    }

    static func writeNames(_ names: [String], _ json: inout JSONBuffer) {
        json.appendByte(UInt8(ascii: "["))
        for (index, name) in names.enumerated() {
            if index > 0 { json.appendByte(UInt8(ascii: ",")) }
            json.appendString(name)
        }
        json.appendByte(UInt8(ascii: "]"))
    }
}
