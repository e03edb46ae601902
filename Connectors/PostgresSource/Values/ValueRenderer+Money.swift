#if canImport(SiphonCore)
import SiphonCore
#endif

/// money as Debezium writes it with `decimal.handling.mode=string`: a JSON
/// string of the plain amount, `"12.34"`, `"-5.50"`, never the locale's
/// form (`$12.34`, `-$5.50`).
///
/// The binary form is an Int64 count of the currency's smallest unit with
/// no word of how many digits follow the point (lc_monetary decides);
/// like Debezium's `money.fraction.digits` default, and like lc_monetary=C,
/// which the source's sessions set, it is taken as hundredths. The text
/// form is read for its digits whatever the locale.
extension ValueRenderer {
    /// cash_send: the amount in hundredths. `"1234567.89"`, `"-0.01"`.
    static func appendMoney(cents: Int64, to json: inout JSONBuffer) {
        var text = ShortText()
        text.append(UInt8(ascii: "\""))
        if cents < 0 { text.append(UInt8(ascii: "-")) }
        text.appendDigits(cents.magnitude / 100)
        text.append(UInt8(ascii: "."))
        text.appendDigits(cents.magnitude % 100, minimumWidth: 2)
        text.append(UInt8(ascii: "\""))
        text.write(to: &json)
    }

    /// cash_out's text in any lc_monetary: `$1,234.56`, `-$5.50`, `($5.50)`,
    /// `1.234,56 €`, `￥1,235`. The digits are kept as written, as Debezium
    /// does (PostgresMoney strips symbols and separators, then
    /// BigDecimal.toPlainString): a `.` or `,` followed by one or two
    /// digits and no further digit is the decimal point, every other byte
    /// that is not a digit (currency symbols, group separators, spaces) is
    /// dropped, and a `-` or `(` anywhere makes the amount negative. Returns
    /// false, having written nothing, for text without a digit or with more
    /// than 40.
    static func appendMoney(text: ArraySlice<UInt8>, to json: inout JSONBuffer) -> Bool {
        var lastDigit = text.endIndex
        var negative = false
        var isZero = true
        var digitCount = 0
        for index in text.indices {
            let byte = text[index]
            if isDigit(byte) {
                lastDigit = index
                digitCount += 1
                if byte != UInt8(ascii: "0") { isZero = false }
            } else if byte == UInt8(ascii: "-") || byte == UInt8(ascii: "(") {
                negative = true
            }
        }
        guard digitCount > 0, digitCount <= 40 else { return false }
        // The fraction: the run of digits that ends the amount, if a decimal point comes before it.
        var runStart = lastDigit
        while runStart > text.startIndex && isDigit(text[runStart - 1]) { runStart -= 1 }
        let runLength = lastDigit + 1 - runStart
        var point = text.endIndex
        if runLength <= 2, runStart > text.startIndex,
           text[runStart - 1] == UInt8(ascii: ".") || text[runStart - 1] == UInt8(ascii: ",") {
            point = runStart - 1
        }
        var output = ShortText()
        output.append(UInt8(ascii: "\""))
        // BigDecimal has no negative zero.
        if negative && !isZero { output.append(UInt8(ascii: "-")) }
        var leadingZero = true  // no digit of the integer part written yet
        for index in text.indices where index < point && isDigit(text[index]) {
            let byte = text[index]
            if leadingZero && byte == UInt8(ascii: "0") { continue }
            leadingZero = false
            output.append(byte)
        }
        if leadingZero { output.append(UInt8(ascii: "0")) }
        if point != text.endIndex {
            output.append(UInt8(ascii: "."))
            for index in runStart...lastDigit { output.append(text[index]) }
        }
        output.append(UInt8(ascii: "\""))
        output.write(to: &json)
        return true
    }
}
