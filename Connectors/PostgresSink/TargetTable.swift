import SiphonCore

/// A target table as the catalog describes it: what the apply statements
/// are built from, so they always match the table as it is.
struct TargetTable: Sendable {
    struct Column: Sendable {
        var name: String
        /// `format_type` of the column's type (`numeric(10,2)`, `text[]`).
        var type: String
        /// The type's name in pg_type (`int4`, `_text`, `jsonb`), of the base type for a domain.
        var typeName: String
        var notNull: Bool
        /// The type's array element delimiter (`,`, or `;` for `box`).
        var delimiter: String = ","
    }

    var name: TableName
    var columns: [Column]
    /// In key order.
    var primaryKey: [String]

    func column(_ name: String) -> Column? { columns.first { $0.name == name } }

    /// The table's columns and key, nil when it does not exist. Names are
    /// passed as parameters and quoted by the server (`format('%I.%I')`).
    static func load(_ name: TableName, on connection: TargetConnection) async throws -> TargetTable? {
        let columns = try await connection.query("""
            SELECT a.attname, format_type(a.atttypid, a.atttypmod),
                   CASE WHEN t.typtype = 'd' THEN (SELECT b.typname FROM pg_type b WHERE b.oid = t.typbasetype) ELSE t.typname END,
                   a.attnotnull, t.typdelim::text
            FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
            WHERE a.attrelid = to_regclass(format('%I.%I', $1::text, $2::text)) AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """, [name.schema, name.name], doing: "reading the columns of \(name)")
        guard !columns.isEmpty else { return nil }
        let key = try await connection.query("""
            SELECT a.attname FROM pg_index i
            CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = to_regclass(format('%I.%I', $1::text, $2::text)) AND i.indisprimary
            ORDER BY k.n
            """, [name.schema, name.name], doing: "reading the primary key of \(name)")
        return TargetTable(
            name: name,
            columns: columns.map { Column(name: $0[0] ?? "", type: $0[1] ?? "text", typeName: $0[2] ?? "text", notNull: $0[3] == "t",
                                   delimiter: $0[4] ?? ",") },
            primaryKey: key.compactMap { $0[0] })
    }
}
