import Foundation

/// A schema-change event as a database sink applies it: the table's
/// columns and key now, and what changed since the previous version
/// (docs/EVENTS.md, "Schema-change events").
public struct SchemaChange: Sendable {
    public var table: TableChange
    /// `source.connector`: `postgresql` or `sqlite`, whose type names differ.
    public var connector: String
    public var added: [String]
    public var dropped: [String]
    public var retyped: [(name: String, from: String, to: String)]

    /// Reads the schema-change event `index` of `batch`.
    public static func parse(_ batch: EventBatch, _ index: Int) throws -> SchemaChange {
        let record = batch.events[index]
        let data = Data(batch.buffer.bytes[record.line])
        func malformed(_ what: String) -> SiphonError {
            SiphonError(.sink, "schema-change event \(record.position) of \(record.table?.description ?? "a table"): \(what)")
        }
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw malformed("not a JSON object") }
        let source = object["source"] as? [String: Any]
        guard let entry = (object["tableChanges"] as? [[String: Any]])?.first, let table = entry["table"] as? [String: Any] else {
            throw malformed("no tableChanges")
        }
        guard let name = record.table ?? (source.flatMap { source in
            (source["table"] as? String).map { TableName(schema: (source["schema"] as? String) ?? "public", name: $0) }
        }) else { throw malformed("no table name") }
        let kind = TableChange.Kind(rawValue: (entry["type"] as? String) ?? "ALTER") ?? .alter
        let columns: [TableChange.Column] = ((table["columns"] as? [[String: Any]]) ?? []).map { column in
            TableChange.Column(
                name: column["name"] as? String ?? "",
                jdbcType: column["jdbcType"] as? Int, nativeType: column["nativeType"] as? Int,
                typeName: column["typeName"] as? String ?? "",
                typeExpression: column["typeExpression"] as? String ?? column["typeName"] as? String ?? "",
                length: column["length"] as? Int, scale: column["scale"] as? Int,
                optional: column["optional"] as? Bool ?? true,
                autoIncremented: column["autoIncremented"] as? Bool ?? false,
                defaultValueExpression: column["defaultValueExpression"] as? String)
        }
        if columns.contains(where: { $0.name.isEmpty }) { throw malformed("a column without a name") }
        let changes = object["changes"] as? [String: Any] ?? [:]
        let retyped = ((changes["retyped"] as? [[String: Any]]) ?? []).compactMap { item -> (String, String, String)? in
            guard let name = item["name"] as? String else { return nil }
            return (name, item["from"] as? String ?? "", item["to"] as? String ?? "")
        }
        return SchemaChange(
            table: TableChange(kind: kind, table: name, primaryKeyColumnNames: (table["primaryKeyColumnNames"] as? [String]) ?? [],
                               columns: columns),
            connector: (source?["connector"] as? String) ?? "postgresql",
            added: (changes["added"] as? [String]) ?? [], dropped: (changes["dropped"] as? [String]) ?? [],
            retyped: retyped)
    }
}
