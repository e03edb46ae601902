import Foundation
import SiphonCore

/// A table's column as captured: what a schema version is made of.
struct ColumnSchema: Equatable, Sendable {
    var name: String
    var typeOID: UInt32
    var typeModifier: Int32
    var typeName: String
    /// Part of the event's key: the primary key, or the replica identity
    /// index of a table without one (none: no key).
    var isKey: Bool
    /// The type as `format_type` writes it (`character varying(20)`,
    /// `numeric(10,2)`, `integer[]`), from the catalog; nil when unknown.
    var typeExpression: String? = nil
    /// Whether the column may be NULL (from the catalog; true when unknown).
    var optional: Bool = true
    /// The column's DEFAULT expression as PostgreSQL prints it, if any.
    var defaultExpression: String? = nil

    /// Two columns are the same schema when name, type and key flag agree;
    /// the type's display name, nullability and default are informative only.
    func sameDefinition(as other: ColumnSchema) -> Bool {
        name == other.name && typeOID == other.typeOID && typeModifier == other.typeModifier && isKey == other.isKey
    }
}

/// One version of a table's columns, and the position of the event that introduced it.
struct SchemaVersion: Sendable {
    var version: Int
    var position: Position
    var columns: [ColumnSchema]
}

/// Versioned column lists per table, kept in `schemas.json` in the state
/// folder, or with `lease:` in the source database (`SchemaHistoryStore`).
///
/// A version is recorded with the position of its schema-change event, so
/// a transaction decoded again after a restart can emit the same event at
/// the same position (see `ChangeDecoder.noteSchema`). Without a checkpoint
/// (a fresh start) the old history is ignored.
final class SchemaHistory: @unchecked Sendable {
    static let fileName = StateFolderSchemaHistory.fileName
    private let store: any SchemaHistoryStore
    private(set) var tables: [TableName: [SchemaVersion]] = [:]

    convenience init(directory: StateDirectory, resumingAfter resume: Position?) throws {
        try self.init(store: StateFolderSchemaHistory(directory: directory), resumingAfter: resume)
    }

    init(store: any SchemaHistoryStore, resumingAfter resume: Position?) throws {
        self.store = store
        guard let bytes = try store.read() else { return }
        guard let root = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let entries = root["tables"] as? [[String: Any]]
        else {
            throw SiphonError(.state, "\(store.location) is damaged; \(store.damagedAdvice)")
        }
        for entry in entries {
            guard let schema = entry["schema"] as? String, let name = entry["table"] as? String,
                  let versions = entry["versions"] as? [[String: Any]] else { continue }
            let table = TableName(schema: schema, name: name)
            var kept: [SchemaVersion] = []
            for version in versions {
                guard let number = version["version"] as? Int,
                      let positionText = version["position"] as? String, let position = Position(positionText),
                      let columns = version["columns"] as? [[String: Any]] else { continue }
                if resume == nil { continue }
                kept.append(SchemaVersion(version: number, position: position, columns: columns.compactMap { column in
                    guard let name = column["name"] as? String, let oid = column["typeOid"] as? Int else { return nil }
                    return ColumnSchema(name: name, typeOID: UInt32(oid), typeModifier: Int32(column["typmod"] as? Int ?? -1),
                                        typeName: column["type"] as? String ?? String(oid),
                                        isKey: column["key"] as? Bool ?? false,
                                        typeExpression: column["typeExpression"] as? String,
                                        optional: column["optional"] as? Bool ?? true,
                                        defaultExpression: column["default"] as? String)
                }))
            }
            if !kept.isEmpty { tables[table] = kept }
        }
    }

    func latest(_ table: TableName) -> SchemaVersion? { tables[table]?.last }

    /// Every version of the table, oldest first.
    func versions(_ table: TableName) -> [SchemaVersion] { tables[table] ?? [] }

    /// Forgets the versions recorded after `position` (all of them when it
    /// is nil) and writes the history. For a snapshot taken again: the
    /// interrupted attempt recorded versions whose schema events never
    /// reached the sink, and kept, they would stop the new attempt from
    /// emitting its own (its rows would carry a version never announced).
    func forget(after position: Position?) throws {
        var changed = false
        for (table, versions) in tables {
            let kept = versions.filter { version in position.map { version.position <= $0 } ?? false }
            guard kept.count != versions.count else { continue }
            tables[table] = kept.isEmpty ? nil : kept
            changed = true
        }
        if changed { try save() }
    }

    /// Records a new version and writes the history durably.
    func record(_ table: TableName, columns: [ColumnSchema], position: Position) throws -> SchemaVersion {
        let version = SchemaVersion(version: (latest(table)?.version ?? 0) + 1, position: position, columns: columns)
        tables[table, default: []].append(version)
        try save()
        return version
    }

    private func save() throws {
        var json = JSONBuffer(capacity: 4096)
        json.appendRaw("{\"tables\":[")
        for (tableIndex, (table, versions)) in tables.sorted(by: { $0.key.description < $1.key.description }).enumerated() {
            if tableIndex > 0 { json.appendByte(UInt8(ascii: ",")) }
            json.appendRaw("{\"schema\":")
            json.appendString(table.schema)
            json.appendRaw(",\"table\":")
            json.appendString(table.name)
            json.appendRaw(",\"versions\":[")
            for (index, version) in versions.enumerated() {
                if index > 0 { json.appendByte(UInt8(ascii: ",")) }
                json.appendRaw("{\"version\":")
                json.appendInt(version.version)
                json.appendRaw(",\"position\":\"")
                version.position.withHexDigits { json.appendRaw($0) }
                json.appendRaw("\",\"columns\":")
                Self.appendColumns(version.columns, to: &json)
                json.appendByte(UInt8(ascii: "}"))
            }
            json.appendRaw("]}")
        }
        json.appendRaw("]}\n")
        try store.write(json.bytes)
    }

    /// The column list as kept in the history file.
    static func appendColumns(_ columns: [ColumnSchema], to json: inout JSONBuffer) {
        json.appendByte(UInt8(ascii: "["))
        for (index, column) in columns.enumerated() {
            if index > 0 { json.appendByte(UInt8(ascii: ",")) }
            json.appendRaw("{\"name\":")
            json.appendString(column.name)
            json.appendRaw(",\"type\":")
            json.appendString(column.typeName)
            json.appendRaw(",\"typeOid\":")
            json.appendInt(column.typeOID)
            json.appendRaw(",\"typmod\":")
            json.appendInt(column.typeModifier)
            json.appendRaw(",\"key\":")
            json.appendBool(column.isKey)
            json.appendRaw(",\"optional\":")
            json.appendBool(column.optional)
            if let expression = column.typeExpression {
                json.appendRaw(",\"typeExpression\":")
                json.appendString(expression)
            }
            if let value = column.defaultExpression {
                json.appendRaw(",\"default\":")
                json.appendString(value)
            }
            json.appendByte(UInt8(ascii: "}"))
        }
        json.appendByte(UInt8(ascii: "]"))
    }

    /// `{"added":[...],"dropped":[...],"retyped":[{"name","from","to"}]}` between two column lists.
    static func appendChanges(from old: [ColumnSchema], to new: [ColumnSchema], json: inout JSONBuffer) {
        let oldByName = Dictionary(old.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let newNames = Set(new.map(\.name))
        let added = new.filter { oldByName[$0.name] == nil }.map(\.name)
        let dropped = old.filter { !newNames.contains($0.name) }.map(\.name)
        let retyped = new.compactMap { column -> (String, String, String)? in
            guard let before = oldByName[column.name],
                  before.typeOID != column.typeOID || before.typeModifier != column.typeModifier else { return nil }
            return (column.name, before.typeExpression ?? before.typeName, column.typeExpression ?? column.typeName)
        }
        let rekeyed = new.filter { column in oldByName[column.name].map { $0.isKey != column.isKey } ?? false }.map(\.name)
        json.appendRaw("{\"added\":")
        appendNames(added, to: &json)
        json.appendRaw(",\"dropped\":")
        appendNames(dropped, to: &json)
        json.appendRaw(",\"retyped\":[")
        for (index, change) in retyped.enumerated() {
            if index > 0 { json.appendByte(UInt8(ascii: ",")) }
            json.appendRaw("{\"name\":")
            json.appendString(change.0)
            json.appendRaw(",\"from\":")
            json.appendString(change.1)
            json.appendRaw(",\"to\":")
            json.appendString(change.2)
            json.appendByte(UInt8(ascii: "}"))
        }
        json.appendRaw("],\"key_changed\":")
        appendNames(rekeyed, to: &json)
        json.appendByte(UInt8(ascii: "}"))
    }

    private static func appendNames(_ names: [String], to json: inout JSONBuffer) {
        json.appendByte(UInt8(ascii: "["))
        for (index, name) in names.enumerated() {
            if index > 0 { json.appendByte(UInt8(ascii: ",")) }
            json.appendString(name)
        }
        json.appendByte(UInt8(ascii: "]"))
    }
}
