#if canImport(SiphonCore)
import SiphonCore
#endif

extension ValueRenderer {
    /// Renders an array literal (`{1,2,NULL}`, `{{1,2},{3,4}}`,
    /// `[0:1]={a,b}`, `{"a,b","c\"d"}`) as a JSON array, each element rendered
    /// by `element`. An unquoted `NULL` (any case) is null; a quoted "NULL" is
    /// the string. The dimension prefix is dropped. A malformed literal is
    /// written as a JSON string of the whole text instead.
    ///
    /// Only the ',' delimiter is understood: types whose arrays use another
    /// (box uses ';') must be given `.text`.
    static func appendArray(_ text: ArraySlice<UInt8>, element: ValueKind, options: ValueOptions, to json: inout JSONBuffer) {
        let mark = json.bytes.count
        if !appendArrayLiteral(text, element: element, options: options, to: &json) {
            // Written straight into the buffer for speed; on failure undo the partial output.
            json.bytes.removeSubrange(mark...)
            json.appendString(utf8: text)
        }
    }

    /// Writes the JSON array; returns false, leaving partial output, if the
    /// literal is malformed.
    private static func appendArrayLiteral(_ text: ArraySlice<UInt8>, element: ValueKind, options: ValueOptions,
                                           to json: inout JSONBuffer) -> Bool {
        var index = text.startIndex
        let end = text.endIndex
        skipWhitespace(text, &index)
        if index < end && text[index] == UInt8(ascii: "[") {
            while index < end && text[index] != UInt8(ascii: "=") {
                guard isDimensionByte(text[index]) else { return false }
                index += 1
            }
            guard index < end else { return false }
            index += 1
            skipWhitespace(text, &index)
        }
        guard index < end, text[index] == UInt8(ascii: "{") else { return false }

        var depth = 0
        var afterItem = false   // an element or a sub-array was just completed
        var levelEmpty = true   // nothing yet at the current level
        var scratch: [UInt8] = []
        while true {
            skipWhitespace(text, &index)
            guard index < end else { return false }
            let byte = text[index]
            if afterItem {
                if byte == UInt8(ascii: ",") {
                    json.appendByte(UInt8(ascii: ","))
                    afterItem = false
                    levelEmpty = false
                } else if byte == UInt8(ascii: "}") {
                    json.appendByte(UInt8(ascii: "]"))
                    depth -= 1
                } else {
                    return false
                }
                index += 1
                if depth == 0 { break }
                continue
            }
            if byte == UInt8(ascii: "{") {
                json.appendByte(UInt8(ascii: "["))
                depth += 1
                levelEmpty = true
                index += 1
                continue
            }
            if byte == UInt8(ascii: "}") && levelEmpty {
                json.appendByte(UInt8(ascii: "]"))
                depth -= 1
                index += 1
                afterItem = true
                if depth == 0 { break }
                continue
            }
            guard appendElement(text, at: &index, element: element, options: options, scratch: &scratch, to: &json) else {
                return false
            }
            afterItem = true
        }
        skipWhitespace(text, &index)
        return index == end
    }

    /// Reads one quoted or unquoted element at `index` and writes its JSON.
    private static func appendElement(_ text: ArraySlice<UInt8>, at index: inout Int, element: ValueKind, options: ValueOptions,
                                      scratch: inout [UInt8], to json: inout JSONBuffer) -> Bool {
        let end = text.endIndex
        if text[index] == UInt8(ascii: "\"") {
            index += 1
            let start = index
            while index < end && text[index] != UInt8(ascii: "\"") && text[index] != UInt8(ascii: "\\") { index += 1 }
            guard index < end else { return false }
            if text[index] == UInt8(ascii: "\"") {
                appendJSON(text: text[start..<index], kind: element, options: options, to: &json)
                index += 1
                return true
            }
            // Backslash escapes: unescape into the scratch buffer.
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: text[start..<index])
            while index < end {
                let byte = text[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    appendJSON(text: scratch[...], kind: element, options: options, to: &json)
                    return true
                }
                if byte == UInt8(ascii: "\\") {
                    index += 1
                    guard index < end else { return false }
                }
                scratch.append(text[index])
                index += 1
            }
            return false
        }

        let start = index
        var significantEnd = index  // trailing whitespace is not part of the element
        var hasEscape = false
        while index < end {
            let byte = text[index]
            if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") { break }
            if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "\"") { return false }
            if byte == UInt8(ascii: "\\") {
                hasEscape = true
                index += 2
                guard index <= end else { return false }
                significantEnd = index
                continue
            }
            index += 1
            if !isArrayWhitespace(byte) { significantEnd = index }
        }
        guard index < end, significantEnd > start else { return false }
        let raw = text[start..<significantEnd]
        if !hasEscape {
            if isNullLiteral(raw) { json.appendNull() } else { appendJSON(text: raw, kind: element, options: options, to: &json) }
            return true
        }
        scratch.removeAll(keepingCapacity: true)
        var position = raw.startIndex
        while position < raw.endIndex {
            if raw[position] == UInt8(ascii: "\\") { position += 1 }
            scratch.append(raw[position])
            position += 1
        }
        appendJSON(text: scratch[...], kind: element, options: options, to: &json)
        return true
    }

    private static func isNullLiteral(_ raw: ArraySlice<UInt8>) -> Bool {
        raw.count == 4 && raw.elementsEqual("NULL".utf8) { $0 & 0xDF == $1 }
    }

    private static func isDimensionByte(_ byte: UInt8) -> Bool {
        isDigit(byte) || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]")
            || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "-")
    }

    /// The whitespace array_in skips around elements.
    @inline(__always) private static func isArrayWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    private static func skipWhitespace(_ text: ArraySlice<UInt8>, _ index: inout Int) {
        while index < text.endIndex && isArrayWhitespace(text[index]) { index += 1 }
    }
}
