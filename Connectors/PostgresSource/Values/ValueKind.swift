/// How a column's value, received in PostgreSQL text form, is rendered as JSON.
///
/// Decided once per column from the type OID (see `TypeRegistry`), then used
/// for every value of that column by `ValueRenderer`.
enum ValueKind: Sendable, Equatable {
    /// int2, int4, int8, oid, xid, cid, xid8: a JSON number.
    case integer
    /// float4, float8: a JSON number; NaN and infinities as strings.
    case float
    /// numeric: a JSON string holding the exact text, so no precision is lost.
    case numeric
    /// bool: `true` / `false`.
    case bool
    /// json, jsonb: embedded as is.
    case json
    /// bytea: a base64 string.
    case bytea
    /// date: a string as PostgreSQL prints it.
    case date
    /// time without time zone: a string as PostgreSQL prints it.
    case time
    /// timetz: a string with the offset written as `Z` or `±HH:MM`.
    case timeWithZone
    /// timestamp: an ISO-8601 string (`T` between date and time).
    case timestamp
    /// timestamptz: an ISO-8601 string with the offset written as `Z` or `±HH:MM`.
    case timestampWithZone
    /// interval: a string as PostgreSQL prints it (ISO-8601 with IntervalStyle=iso_8601).
    case interval
    /// Everything else: the text as a JSON string.
    case text
    /// An array whose elements are rendered by the element kind.
    indirect case array(ValueKind)
}
