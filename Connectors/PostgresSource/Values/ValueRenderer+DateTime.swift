#if canImport(SiphonCore)
import SiphonCore
#endif

/// Dates, times, timestamps and intervals in the server's text output
/// (DateStyle=ISO, TimeZone=UTC, IntervalStyle=iso_8601): parsed into the
/// numbers of their binary form and written by ValueRenderer+Temporal, so
/// the text and binary paths give the same bytes. Each `append...(text:)`
/// returns false, having written nothing, when the text does not have the
/// expected shape; the caller then writes the text as a string.
extension ValueRenderer {
    /// `2024-02-29`, `0044-03-15 BC`, `infinity`.
    static func appendDate(text: ArraySlice<UInt8>, to json: inout JSONBuffer) -> Bool {
        let days: Int32
        if let infinite = infinity(text) {
            days = infinite ? .max : .min
        } else {
            var cursor = TextCursor(text)
            guard let date = cursor.readDate(), let julian = cursor.readEra(date), cursor.atEnd else { return false }
            let offset = julian - postgresEpochJulianDay
            guard offset > Int64(Int32.min), offset < Int64(Int32.max) else { return false }
            days = Int32(offset)
        }
        return appendDate(days: days, to: &json)
    }

    /// `13:45:00.5`, `24:00:00`.
    static func appendTime(text: ArraySlice<UInt8>, to json: inout JSONBuffer) -> Bool {
        var cursor = TextCursor(text)
        guard let micros = cursor.readClock(), cursor.atEnd else { return false }
        return appendTime(micros: micros, to: &json)
    }

    /// `13:45:00.25+02`, `12:00:00-05:45:30`.
    static func appendTimeWithZone(text: ArraySlice<UInt8>, to json: inout JSONBuffer) -> Bool {
        var cursor = TextCursor(text)
        guard let micros = cursor.readClock(), let east = cursor.readOffset(), cursor.atEnd else { return false }
        return appendTimeWithZone(micros: micros, zoneSecondsWest: -east, to: &json)
    }

    /// `2024-02-29 13:45:00.123456`, with a zone `...+00` (any offset is
    /// moved to UTC); BC values end in ` BC`; `infinity`, `-infinity`.
    /// `fractionDigits` nil: a timestamp, else a timestamptz written with that many digits.
    static func appendTimestamp(text: ArraySlice<UInt8>, fractionDigits: Int?, to json: inout JSONBuffer) -> Bool {
        let micros: Int64
        if let infinite = infinity(text) {
            micros = infinite ? .max : .min
        } else {
            var cursor = TextCursor(text)
            guard let date = cursor.readDate(), cursor.skip(UInt8(ascii: " ")), let time = cursor.readClock() else { return false }
            let east = fractionDigits == nil ? 0 : cursor.readOffset()
            guard let east, let julian = cursor.readEra(date), cursor.atEnd else { return false }
            // PostgreSQL's range (4713 BC to 294276 AD) fills most of Int64; a longer year must not trap.
            let (dayMicros, overflow) = (julian - postgresEpochJulianDay).multipliedReportingOverflow(by: microsPerDay)
            let (local, carry) = dayMicros.addingReportingOverflow(time)
            let (utc, borrow) = local.subtractingReportingOverflow(Int64(east) * microsPerSecond)
            guard !overflow, !carry, !borrow, utc != .max, utc != .min else { return false }
            micros = utc
        }
        guard let fractionDigits else { return appendTimestamp(micros: micros, to: &json) }
        return appendTimestampWithZone(micros: micros, fractionDigits: fractionDigits, to: &json)
    }

    /// interval_out with IntervalStyle=iso_8601: `P1Y2M3DT4H5M6.789S`,
    /// `P-1DT1S`, `PT-0.5S`, `PT0S`; PostgreSQL 17's `infinity`, `-infinity`.
    static func appendInterval(text: ArraySlice<UInt8>, to json: inout JSONBuffer) -> Bool {
        if let infinite = infinity(text) {
            return infinite ? appendInterval(months: .max, days: .max, micros: .max, to: &json)
                : appendInterval(months: .min, days: .min, micros: .min, to: &json)
        }
        var cursor = TextCursor(text)
        guard cursor.skip(UInt8(ascii: "P")), !cursor.atEnd else { return false }
        var months: Int64 = 0
        var days: Int64 = 0
        var micros: Int64 = 0
        var inTime = false
        while !cursor.atEnd {
            if cursor.skip(UInt8(ascii: "T")) {
                guard !inTime, !cursor.atEnd else { return false }
                inTime = true
                continue
            }
            let negative = cursor.skip(UInt8(ascii: "-"))
            guard var whole = cursor.readDigits(minimum: 1, maximum: 18) else { return false }
            var fraction: Int64 = 0
            if cursor.skip(UInt8(ascii: ".")) {
                guard let micros = cursor.readMicros() else { return false }
                fraction = micros
            }
            guard let unit = cursor.next() else { return false }
            if negative {
                whole = -whole
                fraction = -fraction
            }
            let scale: Int64
            switch (inTime, unit) {
            case (false, UInt8(ascii: "Y")): scale = 12
            case (false, UInt8(ascii: "M")), (false, UInt8(ascii: "D")): scale = 1
            case (true, UInt8(ascii: "H")): scale = microsPerHour
            case (true, UInt8(ascii: "M")): scale = microsPerMinute
            case (true, UInt8(ascii: "S")): scale = microsPerSecond
            default: return false
            }
            guard fraction == 0 || unit == UInt8(ascii: "S") else { return false }
            let (product, overflow) = whole.multipliedReportingOverflow(by: scale)
            let (part, carry) = product.addingReportingOverflow(fraction)
            guard !overflow, !carry else { return false }
            let sum: (partialValue: Int64, overflow: Bool)
            if inTime {
                sum = micros.addingReportingOverflow(part)
            } else if unit == UInt8(ascii: "D") {
                sum = days.addingReportingOverflow(part)
            } else {
                sum = months.addingReportingOverflow(part)
            }
            guard !sum.overflow else { return false }
            if inTime { micros = sum.partialValue } else if unit == UInt8(ascii: "D") { days = sum.partialValue } else { months = sum.partialValue }
        }
        guard let months32 = Int32(exactly: months), let days32 = Int32(exactly: days) else { return false }
        return appendInterval(months: months32, days: days32, micros: micros, to: &json)
    }

    /// true for `infinity`, false for `-infinity`, nil for anything else.
    private static func infinity(_ text: ArraySlice<UInt8>) -> Bool? {
        guard let first = text.first, first == UInt8(ascii: "i") || first == UInt8(ascii: "-") else { return nil }
        if text.elementsEqual("infinity".utf8) { return true }
        if text.elementsEqual("-infinity".utf8) { return false }
        return nil
    }
}

/// Reads the server's text output of a date or time, field by field.
private struct TextCursor {
    let text: ArraySlice<UInt8>
    var index: Int

    init(_ text: ArraySlice<UInt8>) {
        self.text = text
        index = text.startIndex
    }

    var atEnd: Bool { index == text.endIndex }

    mutating func next() -> UInt8? {
        guard index < text.endIndex else { return nil }
        defer { index += 1 }
        return text[index]
    }

    /// Consumes `byte` if it comes next.
    mutating func skip(_ byte: UInt8) -> Bool {
        guard index < text.endIndex, text[index] == byte else { return false }
        index += 1
        return true
    }

    /// A run of `minimum` to `maximum` decimal digits (at most 18).
    mutating func readDigits(minimum: Int, maximum: Int) -> Int64? {
        var value: Int64 = 0
        var count = 0
        while index < text.endIndex, count < maximum, ValueRenderer.isDigit(text[index]) {
            value = value * 10 + Int64(text[index] - UInt8(ascii: "0"))
            index += 1
            count += 1
        }
        guard count >= minimum, index == text.endIndex || !ValueRenderer.isDigit(text[index]) else { return nil }
        return value
    }

    /// The digits after a decimal point, 1 to 6 of them, as microseconds.
    mutating func readMicros() -> Int64? {
        let start = index
        guard var value = readDigits(minimum: 1, maximum: 6) else { return nil }
        for _ in (index - start)..<6 { value *= 10 }
        return value
    }

    /// `YYYY-MM-DD`, the year in four or more digits (PostgreSQL's go up to 5874897).
    mutating func readDate() -> (year: Int64, month: Int64, day: Int64)? {
        guard let year = readDigits(minimum: 4, maximum: 9), skip(UInt8(ascii: "-")),
              let month = readDigits(minimum: 2, maximum: 2), skip(UInt8(ascii: "-")),
              let day = readDigits(minimum: 2, maximum: 2),
              (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        return (year, month, day)
    }

    /// The Julian day of `date`, reading the ` BC` that follows a date
    /// before year 1 (at the very end of a timestamp's text).
    mutating func readEra(_ date: (year: Int64, month: Int64, day: Int64)) -> Int64? {
        var year = date.year
        if index < text.endIndex {
            guard text[index...].elementsEqual(" BC".utf8), year >= 1 else { return nil }
            index = text.endIndex
            year = 1 - year
        }
        guard year >= -4713 else { return nil }
        return ValueRenderer.julianDay(year: year, month: date.month, day: date.day)
    }

    /// `HH:MM:SS[.ffffff]` as microseconds since midnight, up to 24:00:00.
    mutating func readClock() -> Int64? {
        guard let hours = readDigits(minimum: 2, maximum: 2), skip(UInt8(ascii: ":")),
              let minutes = readDigits(minimum: 2, maximum: 2), skip(UInt8(ascii: ":")),
              let seconds = readDigits(minimum: 2, maximum: 2),
              hours <= 24, minutes <= 59, seconds <= 60
        else { return nil }
        var fraction: Int64 = 0
        if skip(UInt8(ascii: ".")) {
            guard let micros = readMicros() else { return nil }
            fraction = micros
        }
        let total = hours * ValueRenderer.microsPerHour + minutes * ValueRenderer.microsPerMinute
            + seconds * ValueRenderer.microsPerSecond + fraction
        return total <= ValueRenderer.microsPerDay ? total : nil
    }

    /// `±HH`, `±HH:MM` or `±HH:MM:SS` as seconds east of UTC.
    mutating func readOffset() -> Int32? {
        let negative: Bool
        if skip(UInt8(ascii: "+")) {
            negative = false
        } else if skip(UInt8(ascii: "-")) {
            negative = true
        } else {
            return nil
        }
        guard let hours = readDigits(minimum: 2, maximum: 2), hours < 16 else { return nil }
        var seconds = hours * 3600
        if skip(UInt8(ascii: ":")) {
            guard let minutes = readDigits(minimum: 2, maximum: 2), minutes < 60 else { return nil }
            seconds += minutes * 60
            if skip(UInt8(ascii: ":")) {
                guard let rest = readDigits(minimum: 2, maximum: 2), rest < 60 else { return nil }
                seconds += rest
            }
        }
        return Int32(negative ? -seconds : seconds)
    }
}
