/// The binary send format of a column's type, for the types whose values
/// Siphon can decode when pgoutput sends them in binary (`binary 'true'`).
///
/// Decided once per column from the type OID and type modifier (see
/// `TypeRegistry`), next to its `ValueKind`.
/// `ValueRenderer.appendJSON(binary:format:options:to:)` renders a value in
/// this format as exactly the JSON the text path writes for the same value.
/// A type without a `BinaryFormat` keeps a session in text mode.
enum BinaryFormat: Sendable, Equatable {
    /// int2: 2 bytes, big-endian two's complement.
    case int2
    /// int4: 4 bytes.
    case int4
    /// int8: 8 bytes.
    case int8
    /// oid: 4 bytes, unsigned.
    case oid
    /// float4: IEEE 754 binary32 bits.
    case float4
    /// float8: IEEE 754 binary64 bits.
    case float8
    /// numeric: ndigits, weight, sign, dscale (Int16 each), then ndigits base-10000 digits.
    case numeric
    /// money: Int64, the amount in hundredths (cash_send; two fraction
    /// digits, as lc_monetary=C and Debezium's `money.fraction.digits` have it).
    case money
    /// bool: one byte, non-zero for true.
    case bool
    /// text, varchar, bpchar, name, enum labels: the text bytes themselves.
    case text
    /// bytea: the raw bytes.
    case bytea
    /// json: the text.
    case json
    /// jsonb: a version byte (1), then the text.
    case jsonb
    /// uuid: 16 bytes.
    case uuid
    /// date: Int32 days since 2000-01-01; Int32.min / Int32.max are -infinity / infinity.
    case date
    /// time: Int64 microseconds since midnight.
    case time
    /// timetz: Int64 microseconds since midnight, Int32 zone offset in seconds west of UTC.
    case timeWithZone
    /// timestamp: Int64 microseconds since 2000-01-01 00:00; Int64.min / Int64.max are -infinity / infinity.
    case timestamp
    /// timestamptz: like timestamp, in UTC; written with `fractionDigits`
    /// digits after the seconds, as `ValueKind.timestampWithZone` says.
    case timestampWithZone(fractionDigits: Int)
    /// interval: Int64 microseconds, Int32 days, Int32 months.
    case interval
    /// An array of elements in the element format (array_send's layout).
    /// Only this case is boxed: copying any other format costs no retain.
    indirect case array(BinaryFormat)

    /// This format for a column with type modifier `typeModifier`, as
    /// `ValueKind.applying(typeModifier:)` does it.
    func applying(typeModifier: Int32) -> BinaryFormat {
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
