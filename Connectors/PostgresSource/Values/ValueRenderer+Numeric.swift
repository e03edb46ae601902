#if canImport(SiphonCore)
import SiphonCore
#endif

/// numeric, in text and binary form: a JSON string of the exact decimal as
/// numeric_out prints it, which is what Debezium writes with
/// `decimal.handling.mode=string` (BigDecimal.toPlainString of that text),
/// and NaN and the infinities by the names Debezium gives them.
extension ValueRenderer {
    // MARK: numeric

    /// Debezium 3.6.3 writes numeric 'NaN' as "NAN" and PostgreSQL 14's
    /// 'Infinity' and '-Infinity' by its SpecialValueDecimal names.
    private static let numericNaNJSON: StaticString = "\"NAN\""
    private static let numericPositiveInfinityJSON: StaticString = "\"POSITIVE_INFINITY\""
    private static let numericNegativeInfinityJSON: StaticString = "\"NEGATIVE_INFINITY\""

    /// numeric_out's text: the digits as a string, `NaN`, `Infinity` and
    /// `-Infinity` by Debezium's names. The text is copied without a check,
    /// as before: the server only prints decimals.
    static func appendNumeric(text: ArraySlice<UInt8>, to json: inout JSONBuffer) {
        if let first = text.first, !isDigit(first) {
            if text.elementsEqual("NaN".utf8) { json.appendRaw(numericNaNJSON); return }
            if text.elementsEqual("Infinity".utf8) { json.appendRaw(numericPositiveInfinityJSON); return }
            if text.elementsEqual("-Infinity".utf8) { json.appendRaw(numericNegativeInfinityJSON); return }
        }
        json.appendString(utf8: text)
    }

    private static let numericPositive: UInt16 = 0x0000
    private static let numericNegative: UInt16 = 0x4000
    private static let numericNaN: UInt16 = 0xC000
    private static let numericPositiveInfinity: UInt16 = 0xD000
    private static let numericNegativeInfinity: UInt16 = 0xF000

    /// numeric_send's layout: Int16 ndigits, Int16 weight (of the first
    /// digit, in base-10000 places), UInt16 sign, Int16 dscale (decimal
    /// digits after the point), then ndigits base-10000 digits. Written as
    /// numeric_out prints it (get_str_from_var), as a JSON string like the
    /// text path: `"-123.4500"`, `"0.001"`, `"NAN"`, `"POSITIVE_INFINITY"` (PostgreSQL 14+).
    static func appendBinaryNumeric(_ bytes: Span<UInt8>, to json: inout JSONBuffer) -> Bool {
        guard let digitCount = bigEndian(bytes, at: 0, as: Int16.self),
              let weight = bigEndian(bytes, at: 2, as: Int16.self),
              let sign = bigEndian(bytes, at: 4, as: UInt16.self),
              let displayScale = bigEndian(bytes, at: 6, as: Int16.self),
              digitCount >= 0, displayScale >= 0, bytes.count == 8 + Int(digitCount) * 2
        else { return false }
        switch sign {
        case numericNaN: json.appendRaw(numericNaNJSON); return true
        case numericPositiveInfinity: json.appendRaw(numericPositiveInfinityJSON); return true
        case numericNegativeInfinity: json.appendRaw(numericNegativeInfinityJSON); return true
        case numericPositive, numericNegative: break
        default: return false
        }
        for position in 0..<Int(digitCount) {
            guard let digit = bigEndian(bytes, at: 8 + position * 2, as: Int16.self), digit >= 0, digit < 10000 else {
                return false
            }
        }
        /// The base-10000 digit at `position`, 0 outside the stored ones (as get_str_from_var reads them).
        @inline(__always) func digit(_ position: Int) -> Int {
            guard position >= 0 && position < Int(digitCount) else { return 0 }
            return Int(bigEndian(bytes, at: 8 + position * 2, as: Int16.self) ?? 0)
        }

        json.appendByte(UInt8(ascii: "\""))
        if sign == numericNegative { json.appendByte(UInt8(ascii: "-")) }
        var position: Int
        if weight < 0 {
            position = Int(weight) + 1
            json.appendByte(UInt8(ascii: "0"))
        } else {
            // The first base-10000 digit without its leading zeros, the others with all four.
            appendDigits(UInt64(digit(0)), minimumWidth: 1, to: &json)
            position = 1
            while position <= Int(weight) {
                appendDigits(UInt64(digit(position)), minimumWidth: 4, to: &json)
                position += 1
            }
        }
        if displayScale > 0 {
            json.appendByte(UInt8(ascii: "."))
            var written = 0
            while written < Int(displayScale) {
                var group = digit(position)
                var divisor = 1000
                for _ in 0..<4 where written < Int(displayScale) {
                    json.appendByte(UInt8(ascii: "0") + UInt8(group / divisor))
                    group %= divisor
                    divisor /= 10
                    written += 1
                }
                position += 1
            }
        }
        json.appendByte(UInt8(ascii: "\""))
        return true
    }
}
