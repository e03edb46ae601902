#if canImport(SiphonCore)
import SiphonCore
#endif

/// Dates, times, timestamps and intervals in their binary send format:
/// the numbers are read here and written by ValueRenderer+Temporal, which
/// the text path uses as well.
extension ValueRenderer {
    /// date_send: Int32 days since 2000-01-01.
    static func appendBinaryDate(_ bytes: Span<UInt8>, to json: inout JSONBuffer) -> Bool {
        guard bytes.count == 4 else { return false }
        return appendDate(days: Int32(truncatingIfNeeded: bigEndian(bytes, as: UInt32.self)), to: &json)
    }

    /// time_send: Int64 microseconds since midnight.
    static func appendBinaryTime(_ bytes: Span<UInt8>, to json: inout JSONBuffer) -> Bool {
        guard bytes.count == 8 else { return false }
        return appendTime(micros: Int64(bitPattern: bigEndian(bytes, as: UInt64.self)), to: &json)
    }

    /// timetz_send: Int64 microseconds since midnight, Int32 zone in seconds west of UTC.
    static func appendBinaryTimeWithZone(_ bytes: Span<UInt8>, to json: inout JSONBuffer) -> Bool {
        guard bytes.count == 12, let zone = bigEndian(bytes, at: 8, as: Int32.self) else { return false }
        let micros = Int64(bitPattern: bigEndian(bytes.extracting(first: 8), as: UInt64.self))
        return appendTimeWithZone(micros: micros, zoneSecondsWest: zone, to: &json)
    }

    /// timestamp_send / timestamptz_send: Int64 microseconds since
    /// 2000-01-01 00:00 (UTC for timestamptz). `fractionDigits` nil: a
    /// timestamp, else a timestamptz written with that many digits.
    static func appendBinaryTimestamp(_ bytes: Span<UInt8>, fractionDigits: Int?, to json: inout JSONBuffer) -> Bool {
        guard bytes.count == 8 else { return false }
        let micros = Int64(bitPattern: bigEndian(bytes, as: UInt64.self))
        guard let fractionDigits else { return appendTimestamp(micros: micros, to: &json) }
        return appendTimestampWithZone(micros: micros, fractionDigits: fractionDigits, to: &json)
    }

    /// interval_send: Int64 microseconds, Int32 days, Int32 months.
    static func appendBinaryInterval(_ bytes: Span<UInt8>, to json: inout JSONBuffer) -> Bool {
        guard bytes.count == 16,
              let days = bigEndian(bytes, at: 8, as: Int32.self),
              let months = bigEndian(bytes, at: 12, as: Int32.self)
        else { return false }
        let micros = Int64(bitPattern: bigEndian(bytes.extracting(first: 8), as: UInt64.self))
        return appendInterval(months: months, days: days, micros: micros, to: &json)
    }
}
