extension TypeRegistry {
    /// PostgreSQL's built-in types (src/include/catalog/pg_type.dat), each
    /// base type with its array type. OIDs of built-in types are fixed across
    /// servers and versions, so this table can be static.
    static let builtIns: [UInt32: Entry] = {
        var table: [UInt32: Entry] = [:]
        table.reserveCapacity(baseTypes.count * 2 + otherTypes.count)
        for (oid, arrayOID, name, kind) in baseTypes {
            let binary = binaryFormats[oid]
            table[oid] = Entry(name: name, kind: kind, binary: binary)
            table[arrayOID] = Entry(name: "_" + name, kind: .array(kind), binary: binary.map { .array($0) })
        }
        for (oid, name, kind) in otherTypes {
            table[oid] = Entry(name: name, kind: kind)
        }
        return table
    }()

    /// The base types whose binary send format `ValueRenderer` decodes (their
    /// arrays follow). Every other type keeps a session in text mode.
    private static let binaryFormats: [UInt32: BinaryFormat] = [
        16: .bool, 17: .bytea, 19: .text, 20: .int8, 21: .int2, 23: .int4, 25: .text, 26: .oid,
        114: .json, 700: .float4, 701: .float8, 790: .money, 1042: .text, 1043: .text, 1082: .date,
        1083: .time, 1114: .timestamp, 1184: .timestampWithZone(fractionDigits: 6), 1186: .interval,
        1266: .timeWithZone, 1700: .numeric, 2950: .uuid, 3802: .jsonb,
    ]

    /// (oid, array oid, name, kind). Types without a JSON counterpart are `.text`.
    private static let baseTypes: [(UInt32, UInt32, String, ValueKind)] = [
        (16, 1000, "bool", .bool),
        (17, 1001, "bytea", .bytea),
        (18, 1002, "char", .text),
        (19, 1003, "name", .text),
        (20, 1016, "int8", .integer),
        (21, 1005, "int2", .integer),
        (22, 1006, "int2vector", .text),
        (23, 1007, "int4", .integer),
        (24, 1008, "regproc", .text),
        (25, 1009, "text", .text),
        (26, 1028, "oid", .integer),
        (27, 1010, "tid", .text),
        (28, 1011, "xid", .integer),
        (29, 1012, "cid", .integer),
        (30, 1013, "oidvector", .text),
        (71, 210, "pg_type", .text),
        (75, 270, "pg_attribute", .text),
        (81, 272, "pg_proc", .text),
        (83, 273, "pg_class", .text),
        (114, 199, "json", .json),
        (142, 143, "xml", .text),
        (5069, 271, "xid8", .integer),
        (600, 1017, "point", .text),
        (601, 1018, "lseg", .text),
        (602, 1019, "path", .text),
        // box arrays use ';' between elements, so box[] stays text.
        (604, 1027, "polygon", .text),
        (628, 629, "line", .text),
        (700, 1021, "float4", .float),
        (701, 1022, "float8", .float),
        (718, 719, "circle", .text),
        (790, 791, "money", .money),
        (829, 1040, "macaddr", .text),
        (869, 1041, "inet", .text),
        (650, 651, "cidr", .text),
        (774, 775, "macaddr8", .text),
        (1033, 1034, "aclitem", .text),
        (1042, 1014, "bpchar", .text),
        (1043, 1015, "varchar", .text),
        (1082, 1182, "date", .date),
        (1083, 1183, "time", .time),
        (1114, 1115, "timestamp", .timestamp),
        (1184, 1185, "timestamptz", .timestampWithZone(fractionDigits: 6)),
        (1186, 1187, "interval", .interval),
        (1266, 1270, "timetz", .timeWithZone),
        (1560, 1561, "bit", .text),
        (1562, 1563, "varbit", .text),
        (1700, 1231, "numeric", .numeric),
        (1790, 2201, "refcursor", .text),
        (2202, 2207, "regprocedure", .text),
        (2203, 2208, "regoper", .text),
        (2204, 2209, "regoperator", .text),
        (2205, 2210, "regclass", .text),
        (4191, 4192, "regcollation", .text),
        (2206, 2211, "regtype", .text),
        (4096, 4097, "regrole", .text),
        (4089, 4090, "regnamespace", .text),
        (2950, 2951, "uuid", .text),
        (3220, 3221, "pg_lsn", .text),
        (3614, 3643, "tsvector", .text),
        (3642, 3644, "gtsvector", .text),
        (3615, 3645, "tsquery", .text),
        (3734, 3735, "regconfig", .text),
        (3769, 3770, "regdictionary", .text),
        (3802, 3807, "jsonb", .json),
        (4072, 4073, "jsonpath", .text),
        (2970, 2949, "txid_snapshot", .text),
        (5038, 5039, "pg_snapshot", .text),
        (3904, 3905, "int4range", .text),
        (3906, 3907, "numrange", .text),
        (3908, 3909, "tsrange", .text),
        (3910, 3911, "tstzrange", .text),
        (3912, 3913, "daterange", .text),
        (3926, 3927, "int8range", .text),
        (4451, 6150, "int4multirange", .text),
        (4532, 6151, "nummultirange", .text),
        (4533, 6152, "tsmultirange", .text),
        (4534, 6153, "tstzmultirange", .text),
        (4535, 6155, "datemultirange", .text),
        (4536, 6157, "int8multirange", .text),
        (2275, 1263, "cstring", .text),
    ]

    /// Types without an array type, or whose array type breaks the pattern.
    private static let otherTypes: [(UInt32, String, ValueKind)] = [
        (603, "box", .text),
        (1020, "_box", .text),
        (2249, "record", .text),
        (2287, "_record", .text),
        (194, "pg_node_tree", .text),
        (3361, "pg_ndistinct", .text),
        (3402, "pg_dependencies", .text),
        (5017, "pg_mcv_list", .text),
        (705, "unknown", .text),
    ]
}
