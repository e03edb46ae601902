#if canImport(SiphonCore)
import SiphonCore
#endif

/// Dates, times, timestamps and intervals written as Debezium 3.6 writes
/// them with `time.precision.mode=isostring` and
/// `interval.handling.mode=string`, from their binary representation: days
/// or microseconds since 2000-01-01, microseconds since midnight, and
/// interval months, days and microseconds.
///
/// Both paths end here: the binary one reads those numbers from the send
/// format, the text one parses them out of the server's text output first
/// (ValueRenderer+DateTime), so a value is written the same in both.
///
/// The rules, settled against Debezium 3.6.3 runs (the fixtures in
/// DebeziumFixtures.swift):
/// - dates, times and timestamps follow java.time's ISO formatters: years in
///   at least four digits, proleptic (0 is 1 BC, -43 is 44 BC), with `+`
///   above 9999; seconds always; the fraction as short as the value allows
///   and left out when zero, except for timestamptz, which has exactly the
///   column's precision in digits (Debezium's ZonedTimestamp), six without one.
/// - timetz is moved to UTC (`13:45:00.25+02` is `11:45:00.25Z`); 24:00:00 is 00:00:00.
/// - PostgreSQL's infinities become what Debezium makes of them: date
///   `infinity` is `-5877611-06-21Z`, timestamp `infinity` is
///   `+294247-01-10T04:00:25.2Z`; timestamptz keeps `infinity`.
/// - intervals have all six parts, each with the sign of its field, and the
///   seconds as Debezium computes them through a double (see `appendIntervalSeconds`).
/// Each value is built in a `ShortText` and appended in one call.
extension ValueRenderer {
    static let microsPerSecond: Int64 = 1_000_000
    static let microsPerMinute: Int64 = 60_000_000
    static let microsPerHour: Int64 = 3_600_000_000
    static let microsPerDay: Int64 = 86_400_000_000
    /// The Julian day of 2000-01-01, day 0 of date and timestamp values.
    static let postgresEpochJulianDay: Int64 = 2_451_545

    // MARK: Writers

    /// date: days since 2000-01-01; Int32.max and Int32.min are infinity
    /// and -infinity. Returns false outside Julian days 0 (4713 BC) to Int32.max.
    static func appendDate(days: Int32, to json: inout JSONBuffer) -> Bool {
        // PostgresValueConverter.POSITIVE/NEGATIVE_INFINITY_LOCAL_DATE.
        if days == .max { json.appendRaw("\"-5877611-06-21Z\""); return true }
        if days == .min { json.appendRaw("\"-5877611-06-22Z\""); return true }
        let julianDay = Int64(days) + postgresEpochJulianDay
        guard julianDay >= 0, julianDay <= Int64(Int32.max) else { return false }
        var text = ShortText()
        text.append(UInt8(ascii: "\""))
        appendISODate(civilDate(julianDay: UInt32(julianDay)), to: &text)
        text.append("Z\"")
        text.write(to: &json)
        return true
    }

    /// time: microseconds since midnight, 0 through 24:00:00 (written 00:00:00).
    static func appendTime(micros: Int64, to json: inout JSONBuffer) -> Bool {
        guard micros >= 0, micros <= microsPerDay else { return false }
        var text = ShortText()
        text.append(UInt8(ascii: "\""))
        appendISOClock(micros % microsPerDay, fractionDigits: 0, to: &text)
        text.append("Z\"")
        text.write(to: &json)
        return true
    }

    /// timetz: microseconds since midnight and the zone in seconds WEST of
    /// UTC (PostgreSQL's internal sign: `+02` is -7200), written in UTC.
    static func appendTimeWithZone(micros: Int64, zoneSecondsWest zone: Int32, to json: inout JSONBuffer) -> Bool {
        // timetz_recv's limits: a day, and offsets within ±15:59:59.
        guard micros >= 0, micros <= microsPerDay, zone.magnitude < 57_600 else { return false }
        var utc = (micros + Int64(zone) * microsPerSecond) % microsPerDay
        if utc < 0 { utc += microsPerDay }
        var text = ShortText()
        text.append(UInt8(ascii: "\""))
        appendISOClock(utc, fractionDigits: 0, to: &text)
        text.append("Z\"")
        text.write(to: &json)
        return true
    }

    /// timestamp: microseconds since 2000-01-01 00:00; Int64.max and
    /// Int64.min are infinity and -infinity.
    static func appendTimestamp(micros: Int64, to json: inout JSONBuffer) -> Bool {
        // Debezium reads PGStatement.DATE_POSITIVE/NEGATIVE_INFINITY as microseconds.
        if micros == .max { json.appendRaw("\"+294247-01-10T04:00:25.2Z\""); return true }
        if micros == .min { json.appendRaw("\"-290308-12-21T19:59:27.6Z\""); return true }
        return appendDateTime(micros: micros, fractionDigits: 0, to: &json)
    }

    /// timestamptz: microseconds since 2000-01-01 00:00 UTC, with
    /// `fractionDigits` digits (0: as few as needed); infinities as PostgreSQL writes them.
    static func appendTimestampWithZone(micros: Int64, fractionDigits: Int, to json: inout JSONBuffer) -> Bool {
        if micros == .max { json.appendRaw("\"infinity\""); return true }
        if micros == .min { json.appendRaw("\"-infinity\""); return true }
        return appendDateTime(micros: micros, fractionDigits: fractionDigits, to: &json)
    }

    private static func appendDateTime(micros: Int64, fractionDigits: Int, to json: inout JSONBuffer) -> Bool {
        // timestamp2tm: whole days and a time of day that is never negative.
        var days = micros / microsPerDay
        var time = micros - days * microsPerDay
        if time < 0 {
            time += microsPerDay
            days -= 1
        }
        let julianDay = days + postgresEpochJulianDay
        guard julianDay >= 0, julianDay <= Int64(Int32.max) else { return false }
        var text = ShortText()
        text.append(UInt8(ascii: "\""))
        appendISODate(civilDate(julianDay: UInt32(julianDay)), to: &text)
        text.append(UInt8(ascii: "T"))
        appendISOClock(time, fractionDigits: fractionDigits, to: &text)
        text.append("Z\"")
        text.write(to: &json)
        return true
    }

    /// interval: `P<years>Y<months>M<days>DT<hours>H<minutes>M<seconds>S`,
    /// every part written, zero included, each with its field's sign as
    /// PostgreSQL splits the value (interval2itm: months into years and
    /// months, microseconds into hours, minutes and seconds, truncating).
    /// PostgreSQL 17's infinite intervals, which Debezium cannot read, as
    /// `"infinity"` / `"-infinity"`.
    static func appendInterval(months: Int32, days: Int32, micros: Int64, to json: inout JSONBuffer) -> Bool {
        if micros == .max && days == .max && months == .max { json.appendRaw("\"infinity\""); return true }
        if micros == .min && days == .min && months == .min { json.appendRaw("\"-infinity\""); return true }
        var time = micros
        let hours = time / microsPerHour
        time -= hours * microsPerHour
        let minutes = time / microsPerMinute
        time -= minutes * microsPerMinute
        var text = ShortText()
        text.append("\"P")
        text.appendInteger(Int64(months / 12))
        text.append(UInt8(ascii: "Y"))
        text.appendInteger(Int64(months % 12))
        text.append(UInt8(ascii: "M"))
        text.appendInteger(Int64(days))
        text.append("DT")
        text.appendInteger(hours)
        text.append(UInt8(ascii: "H"))
        text.appendInteger(minutes)
        text.append(UInt8(ascii: "M"))
        appendIntervalSeconds(time, to: &text)
        text.append("S\"")
        text.write(to: &json)
        return true
    }

    /// The seconds of an interval (less than a minute, in microseconds) as
    /// Debezium writes them: PGInterval holds whole seconds and
    /// microseconds, `getSeconds()` returns `whole + micros / 1e6` as a
    /// double, and `Interval.toIsoString` takes `BigDecimal.valueOf` of it,
    /// truncated to 9 fraction digits, without trailing zeros. The sum is
    /// not always the double nearest to the exact value: for about 1 in 60
    /// values with both whole seconds and a fraction, it is the double just
    /// below (in magnitude), and Debezium writes the value minus one
    /// nanosecond (1.003691 s is `1.003690999`). The same doubles are
    /// computed here, which IEEE 754 makes identical to Java's, and the
    /// rule was checked against Debezium's own classes for every
    /// microsecond value from -59.999999 to 59.999999.
    static func appendIntervalSeconds(_ micros: Int64, to text: inout ShortText) {
        guard micros != 0 else {
            text.append(UInt8(ascii: "0"))
            return
        }
        var nanos = micros.magnitude * 1000
        let viaParts = Double(micros / microsPerSecond) + Double(micros % microsPerSecond) / 1e6
        if viaParts.magnitude < (Double(micros) / 1e6).magnitude { nanos -= 1 }
        if micros < 0 { text.append(UInt8(ascii: "-")) }
        text.appendDigits(nanos / 1_000_000_000)
        appendFraction(nanos % 1_000_000_000, of: 9, minimumDigits: 0, to: &text)
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

    /// PostgreSQL's date2j: the Julian day of an astronomical year, month and day.
    static func julianDay(year: Int64, month: Int64, day: Int64) -> Int64 {
        var year = year
        var month = month
        if month > 2 {
            month += 1
            year += 4800
        } else {
            month += 13
            year += 4799
        }
        let century = year / 100
        var julian = year * 365 - 32167
        julian += year / 4 - century + century / 4
        julian += 7834 * month / 256 + day
        return julian
    }

    /// `YYYY-MM-DD` as java.time's ISO_LOCAL_DATE writes it: the year in at
    /// least four digits, `-` before a negative one, `+` before one above 9999.
    private static func appendISODate(_ date: CivilDate, to text: inout ShortText) {
        if date.year > 9999 {
            text.append(UInt8(ascii: "+"))
        } else if date.year < 0 {
            text.append(UInt8(ascii: "-"))
        }
        text.appendDigits(UInt64(date.year.magnitude), minimumWidth: 4)
        text.append(UInt8(ascii: "-"))
        text.appendDigits(UInt64(date.month), minimumWidth: 2)
        text.append(UInt8(ascii: "-"))
        text.appendDigits(UInt64(date.day), minimumWidth: 2)
    }

    /// `HH:MM:SS` and the fraction of a time of day (0 up to a day): with
    /// `fractionDigits` 0 as short as the value allows and none for whole
    /// seconds (ISO_LOCAL_TIME), else exactly that many digits, truncated
    /// (Debezium's ZonedTimestamp formatter).
    private static func appendISOClock(_ micros: Int64, fractionDigits: Int, to text: inout ShortText) {
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
        let fraction = UInt64(time - seconds * microsPerSecond)
        if fractionDigits <= 0 {
            appendFraction(fraction, of: 6, minimumDigits: 0, to: &text)
        } else {
            var truncated = fraction
            for _ in min(fractionDigits, 6)..<6 { truncated /= 10 }
            appendFraction(truncated, of: min(fractionDigits, 6), minimumDigits: min(fractionDigits, 6), to: &text)
        }
    }

    /// `.ddd`: `value` is a fraction with `digits` decimal digits; trailing
    /// zeros are dropped down to `minimumDigits`, and nothing is written
    /// when no digit is left.
    private static func appendFraction(_ value: UInt64, of digits: Int, minimumDigits: Int, to text: inout ShortText) {
        var value = value
        var width = digits
        while width > minimumDigits && value % 10 == 0 {
            value /= 10
            width -= 1
            if value == 0 { width = minimumDigits; break }
        }
        guard width > 0 else { return }
        text.append(UInt8(ascii: "."))
        text.appendDigits(value, minimumWidth: width)
    }
}
