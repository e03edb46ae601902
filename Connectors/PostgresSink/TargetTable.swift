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
        /// The type values are read as before they are assigned to the
        /// column: a domain's base type, without the column's modifier
        /// (`character varying`, `bpchar`, `"bit"`), so that a value too
        /// long for the column fails on assignment instead of being cut
        /// short by a cast, and arrays of domains are never needed.
        var inputType: String = "text"
        /// An array type (of the domain's base type, for a domain).
        var isArray = false
        /// For an array, its elements' type with the column's modifier.
        var elementType: String?
    }

    let name: TableName
    let columns: [Column]
    /// In key order.
    let primaryKey: [String]
    private let positions: [String: Int]
    /// The apply statements' SQL for this table as loaded, by kind and
    /// columns: built once, not for every batch.
    let statements = StatementTexts()

    init(name: TableName, columns: [Column], primaryKey: [String]) {
        self.name = name
        self.columns = columns
        self.primaryKey = primaryKey
        positions = Dictionary(columns.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func column(_ name: String) -> Column? { positions[name].map { columns[$0] } }

    /// SQL texts by key, made on first use.
    final class StatementTexts: @unchecked Sendable {
        private var texts: [[String]: String] = [:]

        func text(_ key: [String], _ make: () -> String) -> String {
            if let known = texts[key] { return known }
            let made = make()
            texts[key] = made
            return made
        }
    }

    /// The table's columns and key, nil when it does not exist. Names are
    /// passed as parameters and quoted by the server (`format('%I.%I')`).
    static func load(_ name: TableName, on connection: TargetConnection) async throws -> TargetTable? {
        // `b` is the column's type, or a domain's base type.
        let columns = try await connection.query("""
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), b.typname, a.attnotnull, b.typdelim::text,
                   format_type(b.oid, -1), b.typcategory = 'A',
                   CASE WHEN b.typcategory = 'A' THEN
                       format_type(b.typelem, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END) END
            FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
            JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
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
            columns: columns.map {
                Column(name: $0[0] ?? "", type: $0[1] ?? "text", typeName: $0[2] ?? "text", notNull: $0[3] == "t",
                       delimiter: $0[4] ?? ",", inputType: $0[5] ?? "text", isArray: $0[6] == "t", elementType: $0[7])
            },
            primaryKey: key.compactMap { $0[0] })
    }
}
