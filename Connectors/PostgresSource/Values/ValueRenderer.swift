#if canImport(SiphonCore)
import SiphonCore
#endif

/// Renders one PostgreSQL value, given in its text output form, as JSON.
///
/// The JSON is what Debezium 3.6 writes for the value with
/// `decimal.handling.mode=string`, `time.precision.mode=isostring` and
/// `interval.handling.mode=string` (event format 2; see `ValueKind` for each
/// type's form and `ValueOptions` for what can be chosen).
///
/// Expects the forms the source's session settings produce: DateStyle=ISO,
/// TimeZone=UTC, IntervalStyle=iso_8601, bytea_output=hex,
/// extra_float_digits=3, lc_monetary=C. Whatever the input, the output is
/// one complete, valid JSON value: text that does not have the expected
/// shape falls back to a JSON string of the text (bytea: base64 of the
/// text). Never traps.
enum ValueRenderer {
    /// Appends the JSON for one non-null value given in PostgreSQL text form.
    static func appendJSON(text: ArraySlice<UInt8>, kind: ValueKind, options: ValueOptions, to json: inout JSONBuffer) {
        switch kind {
        case .integer:
            if isJSONNumber(text, integerOnly: true) { json.appendRaw(text) } else { json.appendString(utf8: text) }
        case .float:
            // float4/float8 print as JSON-compatible numbers; NaN, Infinity
            // and -Infinity are not numbers and fall back to strings.
            if isJSONNumber(text, integerOnly: false) { json.appendRaw(text) } else { json.appendString(utf8: text) }
        case .numeric:
            appendNumeric(text: text, to: &json)
        case .money:
            if !appendMoney(text: text, to: &json) { json.appendString(utf8: text) }
        case .bool:
            appendBool(text, to: &json)
        case .json:
            if options.jsonAsString { json.appendString(utf8: text) } else { appendEmbeddedJSON(text, to: &json) }
        case .bytea:
            appendBytea(text, to: &json)
        case .date:
            if !appendDate(text: text, to: &json) { json.appendString(utf8: text) }
        case .time:
            if !appendTime(text: text, to: &json) { json.appendString(utf8: text) }
        case .timeWithZone:
            if !appendTimeWithZone(text: text, to: &json) { json.appendString(utf8: text) }
        case .timestamp:
            if !appendTimestamp(text: text, fractionDigits: nil, to: &json) { json.appendString(utf8: text) }
        case .timestampWithZone(let fractionDigits):
            if !appendTimestamp(text: text, fractionDigits: fractionDigits, to: &json) { json.appendString(utf8: text) }
        case .interval:
            if !appendInterval(text: text, to: &json) { json.appendString(utf8: text) }
        case .text:
            json.appendString(utf8: text)
        case .array(let element):
            appendArray(text, element: element, options: options, to: &json)
        }
    }

    /// Whether `text` is a number by JSON's grammar:
    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    static func isJSONNumber(_ text: ArraySlice<UInt8>, integerOnly: Bool) -> Bool {
        var index = text.startIndex
        let end = text.endIndex
        if index < end && text[index] == UInt8(ascii: "-") { index += 1 }
        guard index < end, isDigit(text[index]) else { return false }
        if text[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < end && isDigit(text[index]) { index += 1 }
        }
        if index == end { return true }
        if integerOnly { return false }
        if text[index] == UInt8(ascii: ".") {
            index += 1
            guard index < end, isDigit(text[index]) else { return false }
            while index < end && isDigit(text[index]) { index += 1 }
        }
        if index < end && (text[index] == UInt8(ascii: "e") || text[index] == UInt8(ascii: "E")) {
            index += 1
            if index < end && (text[index] == UInt8(ascii: "+") || text[index] == UInt8(ascii: "-")) { index += 1 }
            guard index < end, isDigit(text[index]) else { return false }
            while index < end && isDigit(text[index]) { index += 1 }
        }
        return index == end
    }

    @inline(__always) static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func appendBool(_ text: ArraySlice<UInt8>, to json: inout JSONBuffer) {
        if text.count == 1 && text.first == UInt8(ascii: "t") {
            json.appendBool(true)
        } else if text.count == 1 && text.first == UInt8(ascii: "f") {
            json.appendBool(false)
        } else {
            json.appendString(utf8: text)
        }
    }

    /// json and jsonb embedded as JSON (`ValueOptions.jsonAsString` false):
    /// the output is already valid JSON (the server validated it on input),
    /// so it is copied without a parse. Only an empty or blank text, which
    /// would break the document, is written as a string.
    static func appendEmbeddedJSON(_ text: ArraySlice<UInt8>, to json: inout JSONBuffer) {
        appendEmbeddedJSON(text.span, to: &json)
    }

    /// `appendEmbeddedJSON` for a value in binary form (json, and jsonb after its version byte).
    static func appendEmbeddedJSON(_ text: Span<UInt8>, to json: inout JSONBuffer) {
        var blank = true
        for index in text.indices {
            let byte = text[index]
            guard byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D else {
                blank = false
                break
            }
        }
        if blank { json.appendString(utf8: text) } else { json.appendRaw(text) }
    }
}
