#if canImport(SiphonCore)
import SiphonCore
#endif

/// Dates, times, timestamps and intervals in binary form, written as the
/// text path renders the server's output (DateStyle=ISO, TimeZone=UTC,
/// IntervalStyle=iso_8601): the same calendar arithmetic as PostgreSQL's
/// j2date, timestamp2tm, time2tm and interval2itm, the same field layout
/// as EncodeDateTime / EncodeTimeOnly / EncodeInterval, then the text
/// renderer's rules (`T` between date and time, `Z` for UTC, `±HH:MM`
/// offsets, infinity and BC values kept in PostgreSQL's text form). Each
/// value is built in a `ShortText` and appended in one call.
extension ValueRenderer {
    private static let microsPerSecond: Int64 = 1_000_000
    private static let microsPerMinute: Int64 = 60_000_000
    private static let microsPerHour: Int64 = 3_600_000_000
    private static let microsPerDay: Int64 = 86_400_000_000
    /// The Julian day of 2000-01-01, day 0 of date and timestamp values.
    private static let postgresEpochJulianDay: Int64 = 2_451_545

    /// date_send: Int32 days since 2000-01-01. `"2024-02-29"`, `"0044-03-15 BC"`, `"infinity"`.
    static func appendBinaryDate(_ bytes: Span<UInt8>, to json: inout JSONBuffer) -> Bool {
        guard bytes.count == 4 else { return false }
        let days = Int32(truncatingIfNeeded: bigEndian(bytes, as: UInt32.self))
        if days == .min { json.appendRaw("\"-infinity\""); return true }
        if days == .max { json.appendRaw("\"infinity\""); return true }
        let julianDay = Int64(days) + postgresEpochJulianDay
        guard julianDay >= 0, julianDay <= Int64(Int32.max) else { return false }
        let date = civilDate(julianDay: UInt32(julianDay))
        var text = ShortText()
        text.append(UInt8(ascii: "\""))
        appendDate(date, to: &text)
        if date.year <= 0 { text.append(" BC") }
        text.append(UInt8(ascii: "\""))
        text.write(to: &json)
        return true
    }

    /// time_send: Int64 microseconds since midnight. `"13:45:00.5"`.
    static func appendBinaryTime(_ bytes: Span<UInt8>, to json: inout JSONBuffer) -> Bool {
        guard bytes.count == 8 else { return false }
        let micros = Int64(bitPattern: bigEndian(bytes, as: UInt64.self))
        guard micros >= 0, micros <= microsPerDay else { return false }
        var text = ShortText()
        text.append(UInt8(ascii: "\""))
        appendClock(micros, to: &text)
        text.append(UInt8(ascii: "\""))
        text.write(to: &json)
        return true
    }

    /// timetz_send: Int64 microseconds, Int32 zone in seconds WEST of UTC
    /// (PostgreSQL's internal sign: `+05:30` is -19800). `"13:45:00+05:30"`, `"13:45:00Z"`.
    static func appendBinaryTimeWithZone(_ bytes: Span<UInt8>, to json: inout JSONBuffer) -> Bool {
        guard bytes.count == 12, let zone = bigEndian(bytes, at: 8, as: Int32.self) else { return false }
        let micros = Int64(bitPattern: bigEndian(bytes.extracting(first: 8), as: UInt64.self))
        // timetz_recv's limits: a day, and offsets within ±16 hours (two-digit hours).
        guard micros >= 0, micros <= microsPerDay, zone.magnitude <= 57_600 else { return false }
        var text = ShortText()
        text.append(UInt8(ascii: "\""))
        appendClock(micros, to: &text)
        if zone == 0 {
            // EncodeTimezone prints +00, which the text renderer writes as Z.
            text.append(UInt8(ascii: "Z"))
        } else {
            // EncodeTimezone: ±HH, ±HH:MM or ±HH:MM:SS; the text renderer turns ±HH into ±HH:00.
            let seconds = Int(zone.magnitude)
            text.append(zone < 0 ? UInt8(ascii: "+") : UInt8(ascii: "-"))
            text.appendDigits(UInt64(seconds / 3600), minimumWidth: 2)
            text.append(UInt8(ascii: ":"))
            text.appendDigits(UInt64(seconds / 60 % 60), minimumWidth: 2)
            if seconds % 60 != 0 {
                text.append(UInt8(ascii: ":"))
                text.appendDigits(UInt64(seconds % 60), minimumWidth: 2)
            }
        }
        text.append(UInt8(ascii: "\""))
        text.write(to: &json)
        return true
    }

    /// timestamp_send / timestamptz_send: Int64 microseconds since
    /// 2000-01-01 00:00 (UTC for timestamptz); Int64.min and Int64.max are
    /// -infinity and infinity. `"2024-02-29T13:45:00.123456"`, with a zone
    /// `"2024-02-29T13:45:00Z"`; BC values in text form, `"0044-03-15 12:00:00+00 BC"`.
    static func appendBinaryTimestamp(_ bytes: Span<UInt8>, withZone: Bool, to json: inout JSONBuffer) -> Bool {
        guard bytes.count == 8 else { return false }
        let micros = Int64(bitPattern: bigEndian(bytes, as: UInt64.self))
        if micros == .min { json.appendRaw("\"-infinity\""); return true }
        if micros == .max { json.appendRaw("\"infinity\""); return true }
        // timestamp2tm: split into whole days and the time of day, never negative.
        var days = micros / microsPerDay
        var time = micros - days * microsPerDay
        if time < 0 {
            time += microsPerDay
            days -= 1
        }
        let julianDay = days + postgresEpochJulianDay
        guard julianDay >= 0, julianDay <= Int64(Int32.max) else { return false }
        let date = civilDate(julianDay: UInt32(julianDay))
        var text = ShortText()
        text.append(UInt8(ascii: "\""))
        appendDate(date, to: &text)
        text.append(date.year > 0 ? UInt8(ascii: "T") : UInt8(ascii: " "))
        appendClock(time, to: &text)
        if date.year > 0 {
            if withZone { text.append(UInt8(ascii: "Z")) }
        } else {
            if withZone { text.append("+00") }
            text.append(" BC")
        }
        text.append(UInt8(ascii: "\""))
        text.write(to: &json)
        return true
    }

    /// interval_send: Int64 microseconds, Int32 days, Int32 months, written
    /// as interval_out with IntervalStyle=iso_8601 (EncodeInterval):
    /// `"P1Y2M3DT4H5M6.5S"`, `"PT0S"`, `"P-1DT-0.5S"`; PostgreSQL 17's
    /// infinite intervals as `"infinity"` / `"-infinity"`.
    static func appendBinaryInterval(_ bytes: Span<UInt8>, to json: inout JSONBuffer) -> Bool {
        guard bytes.count == 16,
              let days = bigEndian(bytes, at: 8, as: Int32.self),
              let months = bigEndian(bytes, at: 12, as: Int32.self)
        else { return false }
        var time = Int64(bitPattern: bigEndian(bytes.extracting(first: 8), as: UInt64.self))
        if time == .max && days == .max && months == .max { json.appendRaw("\"infinity\""); return true }
        if time == .min && days == .min && months == .min { json.appendRaw("\"-infinity\""); return true }
        // interval2itm; Swift's division truncates toward zero like C's.
        let years = Int64(months / 12)
        let monthsLeft = Int64(months % 12)
        let hours = time / microsPerHour
        time -= hours * microsPerHour
        let minutes = time / microsPerMinute
        time -= minutes * microsPerMinute
        let seconds = time / microsPerSecond
        let fraction = time - seconds * microsPerSecond

        var text = ShortText()
        text.append(UInt8(ascii: "\""))
        if years == 0 && monthsLeft == 0 && days == 0 && hours == 0 && minutes == 0 && seconds == 0 && fraction == 0 {
            text.append("PT0S")
        } else {
            text.append(UInt8(ascii: "P"))
            appendISOPart(years, UInt8(ascii: "Y"), to: &text)
            appendISOPart(monthsLeft, UInt8(ascii: "M"), to: &text)
            appendISOPart(Int64(days), UInt8(ascii: "D"), to: &text)
            if hours != 0 || minutes != 0 || seconds != 0 || fraction != 0 { text.append(UInt8(ascii: "T")) }
            appendISOPart(hours, UInt8(ascii: "H"), to: &text)
            appendISOPart(minutes, UInt8(ascii: "M"), to: &text)
            if seconds != 0 || fraction != 0 {
                if seconds < 0 || fraction < 0 { text.append(UInt8(ascii: "-")) }
                text.appendDigits(seconds.magnitude, minimumWidth: 1)
                appendFraction(Int(fraction.magnitude), to: &text)
                text.append(UInt8(ascii: "S"))
            }
        }
        text.append(UInt8(ascii: "\""))
        text.write(to: &json)
        return true
    }

    // MARK: Shared pieces

    struct CivilDate {
        /// Astronomical numbering: 0 is 1 BC, -43 is 44 BC.
        var year: Int
        var month: Int
        var day: Int
    }

    /// PostgreSQL's j2date (proleptic Gregorian calendar), in the same
    /// unsigned 32-bit arithmetic, for Julian days from 0 to Int32.max.
    static func civilDate(julianDay: UInt32) -> CivilDate {
        var julian = julianDay &+ 32044
        var quad = julian / 146_097
        let extra = (julian &- quad &* 146_097) &* 4 &+ 3
        julian = julian &+ 60 &+ quad &* 3 &+ extra / 146_097
        quad = julian / 1461
        julian = julian &- quad &* 1461
        var year = julian &* 4 / 1461
        julian = (year != 0 ? (julian &+ 305) % 365 : (julian &+ 306) % 366) &+ 123
        year = year &+ quad &* 4
        quad = julian &* 2141 / 65536
        let day = Int(julian) - Int(7834 &* quad / 256)
        let month = Int((quad &+ 10) % 12) + 1
        return CivilDate(year: Int(year) - 4800, month: month, day: day)
    }

    /// `YYYY-MM-DD` (EncodeDateOnly, ISO): BC years counted from 1, at least four digits.
    private static func appendDate(_ date: CivilDate, to text: inout ShortText) {
        let year = date.year > 0 ? date.year : -(date.year - 1)
        text.appendDigits(UInt64(year), minimumWidth: 4)
        text.append(UInt8(ascii: "-"))
        text.appendDigits(UInt64(date.month), minimumWidth: 2)
        text.append(UInt8(ascii: "-"))
        text.appendDigits(UInt64(date.day), minimumWidth: 2)
    }

    /// `HH:MM:SS[.ffffff]` for a non-negative time of day, trailing zeros
    /// of the fraction dropped (EncodeTimeOnly / AppendSeconds).
    private static func appendClock(_ micros: Int64, to text: inout ShortText) {
        var time = micros
        let hours = time / microsPerHour
        time -= hours * microsPerHour
        let minutes = time / microsPerMinute
        time -= minutes * microsPerMinute
        let seconds = time / microsPerSecond
        text.appendDigits(UInt64(hours), minimumWidth: 2)
        text.append(UInt8(ascii: ":"))
        text.appendDigits(UInt64(minutes), minimumWidth: 2)
        text.append(UInt8(ascii: ":"))
        text.appendDigits(UInt64(seconds), minimumWidth: 2)
        appendFraction(Int(time - seconds * microsPerSecond), to: &text)
    }

    /// `.ffffff` without trailing zeros, nothing for 0 (AppendSeconds, precision 6).
    private static func appendFraction(_ micros: Int, to text: inout ShortText) {
        guard micros != 0 else { return }
        var digits = 6
        var value = micros
        while value % 10 == 0 {
            value /= 10
            digits -= 1
        }
        text.append(UInt8(ascii: "."))
        text.appendDigits(UInt64(value), minimumWidth: digits)
    }

    /// AddISO8601IntPart: `<value><unit>`, nothing for 0.
    private static func appendISOPart(_ value: Int64, _ unit: UInt8, to text: inout ShortText) {
        guard value != 0 else { return }
        text.appendInteger(value)
        text.append(unit)
    }
}
