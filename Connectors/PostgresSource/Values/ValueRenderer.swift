#if canImport(SiphonCore)
import SiphonCore
#endif

/// Renders one PostgreSQL value, given in its text output form, as JSON.
///
/// Expects the forms the source's session settings produce: DateStyle=ISO,
/// TimeZone=UTC, IntervalStyle=iso_8601, bytea_output=hex,
/// extra_float_digits=3. Whatever the input, the output is one complete,
/// valid JSON value: text that does not have the expected shape falls back
/// to a JSON string of the text (bytea: base64 of the text). Never traps.
enum ValueRenderer {
    /// Appends the JSON for one non-null value given in PostgreSQL text form.
    static func appendJSON(text: ArraySlice<UInt8>, kind: ValueKind, to json: inout JSONBuffer) {
        switch kind {
        case .integer:
            if isJSONNumber(text, integerOnly: true) { json.appendRaw(text) } else { json.appendString(utf8: text) }
        case .float:
            // float4/float8 print as JSON-compatible numbers; NaN, Infinity
            // and -Infinity are not numbers and fall back to strings.
            if isJSONNumber(text, integerOnly: false) { json.appendRaw(text) } else { json.appendString(utf8: text) }
        case .bool:
            appendBool(text, to: &json)
        case .json:
            appendEmbeddedJSON(text, to: &json)
        case .bytea:
            appendBytea(text, to: &json)
        case .timestamp:
            appendTimestamp(text, withZone: false, to: &json)
        case .timestampWithZone:
            appendTimestamp(text, withZone: true, to: &json)
        case .timeWithZone:
            appendTimeWithZone(text, to: &json)
        case .numeric, .date, .time, .interval, .text:
            json.appendString(utf8: text)
        case .array(let element):
            appendArray(text, element: element, to: &json)
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

    /// json and jsonb output is already valid JSON (the server validated it
    /// on input), so it is copied without a parse. Only an empty or blank
    /// text, which would break the document, is written as a string.
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
