/// Calendar arithmetic for the times events carry, without Foundation's
/// formatters (which allocate and consult locales on every call).
public enum Timestamps {
    /// The proleptic Gregorian (year, month, day) of a count of days since
    /// 1970-01-01 (Howard Hinnant's `civil_from_days`).
    public static func civil(fromDays days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// `2024-02-29T08:15:00.123Z`: an instant in milliseconds since 1970, in UTC.
    public static func appendISO8601(millis: Int64, to json: inout JSONBuffer) {
        let (seconds, milli) = millis.quotientAndRemainder(dividingBy: 1000)
        var wholeSeconds = seconds
        var fraction = milli
        if fraction < 0 {
            fraction += 1000
            wholeSeconds -= 1
        }
        var days = wholeSeconds / 86_400
        var secondOfDay = wholeSeconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let (year, month, day) = civil(fromDays: days)
        appendPadded(year, width: 4, to: &json)
        json.appendByte(UInt8(ascii: "-"))
        appendPadded(Int64(month), width: 2, to: &json)
        json.appendByte(UInt8(ascii: "-"))
        appendPadded(Int64(day), width: 2, to: &json)
        json.appendByte(UInt8(ascii: "T"))
        appendPadded(secondOfDay / 3600, width: 2, to: &json)
        json.appendByte(UInt8(ascii: ":"))
        appendPadded(secondOfDay / 60 % 60, width: 2, to: &json)
        json.appendByte(UInt8(ascii: ":"))
        appendPadded(secondOfDay % 60, width: 2, to: &json)
        json.appendByte(UInt8(ascii: "."))
        appendPadded(fraction, width: 3, to: &json)
        json.appendByte(UInt8(ascii: "Z"))
    }

    private static func appendPadded(_ value: Int64, width: Int, to json: inout JSONBuffer) {
        var digits = 1
        var limit: Int64 = 10
        while value >= limit && digits < 19 {
            digits += 1
            limit *= 10
        }
        for _ in digits..<max(width, digits) { json.appendByte(UInt8(ascii: "0")) }
        json.appendInt(value)
    }
}
