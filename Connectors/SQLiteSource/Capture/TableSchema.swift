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
    }

    var table: String
    var version: Int
    var columns: [Column]
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

    /// Key columns in primary-key order.
    var keyColumns: [Int] {
        columns.indices.filter { columns[$0].keyIndex > 0 }.sorted { columns[$0].keyIndex < columns[$1].keyIndex }
    }

    /// Whether two versions describe the same columns (names, types, key).
    func sameShape(as other: TableSchema) -> Bool {
        columns == other.columns && keyedByRowid == other.keyedByRowid
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
            columns.append(Column(name: name, type: entry["type"] as? String ?? "",
                                  keyIndex: entry["keyIndex"] as? Int ?? 0))
        }
        self.init(table: table, version: version, columns: columns, keyedByRowid: keyedByRowid)
    }

    init(table: String, version: Int, columns: [Column], keyedByRowid: Bool) {
        self.table = table
        self.version = version
        self.columns = columns
        self.keyedByRowid = keyedByRowid
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
    var keyChanged = false
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
        keyChanged = oldKey != newKey
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
        json.appendBool(keyChanged)
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
