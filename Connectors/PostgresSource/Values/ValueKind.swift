/// How a column's value, received in PostgreSQL text form, is rendered as JSON.
///
/// Decided once per column from the type OID and type modifier (see
/// `TypeRegistry`), then used for every value of that column by
/// `ValueRenderer`. The forms are Debezium 3.6's with
/// `decimal.handling.mode=string`, `time.precision.mode=isostring` and
/// `interval.handling.mode=string`.
enum ValueKind: Sendable, Equatable {
    /// int2, int4, int8, oid, xid, cid, xid8: a JSON number.
    case integer
    /// float4, float8: a JSON number; NaN and infinities as strings.
    case float
    /// numeric: a JSON string holding the exact decimal (`"-0.50"`); NaN,
    /// Infinity and -Infinity as Debezium names them: `"NAN"`,
    /// `"POSITIVE_INFINITY"`, `"NEGATIVE_INFINITY"`.
    case numeric
    /// money: a JSON string of the amount, without currency symbol or
    /// grouping: `"-1234.50"`.
    case money
    /// bool: `true` / `false`.
    case bool
    /// json, jsonb: a JSON string holding the value's text, or the value
    /// embedded as is (`ValueOptions.jsonAsString`).
    case json
    /// bytea: a base64 string.
    case bytea
    /// date: `"2024-02-29Z"`; years in ISO-8601's proleptic numbering
    /// (`"-0043-03-15Z"` is 44 BC, `"+10000-01-01Z"`).
    case date
    /// time without time zone: `"13:45:00.5Z"`, the fraction as short as
    /// the value allows, none for whole seconds.
    case time
    /// timetz: converted to UTC, `"11:45:00.25Z"`.
    case timeWithZone
    /// timestamp: `"2024-02-29T13:45:00.5Z"`, the fraction as short as the
    /// value allows.
    case timestamp
    /// timestamptz: in UTC with exactly `fractionDigits` (1...6) digits
    /// after the seconds, `"2024-02-29T08:15:00.500000Z"`: the column's
    /// precision, 6 when it has none. 0 writes as few as the value needs
    /// (none: a timestamptz(0) holds whole seconds).
    case timestampWithZone(fractionDigits: Int)
    /// interval: all six ISO-8601 parts, each with its own sign:
    /// `"P1Y2M-3DT4H5M6.789S"`.
    case interval
    /// Everything else: the text as a JSON string.
    case text
    /// An array whose elements are rendered by the element kind.
    indirect case array(ValueKind)

    /// This kind for a column with type modifier `typeModifier`
    /// (pg_attribute.atttypmod; for an array, the element's): a
    /// timestamptz(p) column or array writes p fraction digits. -1 (no
    /// modifier) changes nothing.
    func applying(typeModifier: Int32) -> ValueKind {
        switch self {
        case .timestampWithZone where typeModifier >= 0 && typeModifier <= 6:
            return .timestampWithZone(fractionDigits: Int(typeModifier))
        case .array(let element):
            return .array(element.applying(typeModifier: typeModifier))
        default:
            return self
        }
    }
}
