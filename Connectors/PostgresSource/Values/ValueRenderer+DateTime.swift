#if canImport(SiphonCore)
import SiphonCore
#endif

extension ValueRenderer {
    /// `2024-01-02 03:04:05.123456` -> `"2024-01-02T03:04:05.123456"`; with a
    /// zone, the offset is normalized: `+00` -> `Z`, `+05` -> `+05:00`,
    /// `+05:30` and `-03:30:15` unchanged. `infinity`, `-infinity` and BC
    /// values are written as the text, since ISO-8601 readers cannot use them.
    static func appendTimestamp(_ text: ArraySlice<UInt8>, withZone: Bool, to json: inout JSONBuffer) {
        guard let space = text.firstIndex(of: UInt8(ascii: " ")), !endsWithBC(text) else {
            json.appendString(utf8: text)
            return
        }
        json.appendByte(UInt8(ascii: "\""))
        json.appendEscaped(utf8: text[..<space])
        json.appendByte(UInt8(ascii: "T"))
        let time = text[(space + 1)...]
        if withZone {
            appendTimeAndOffset(time, to: &json)
        } else {
            json.appendEscaped(utf8: time)
        }
        json.appendByte(UInt8(ascii: "\""))
    }

    /// `03:04:05+02` -> `"03:04:05+02:00"`, `03:04:05+00` -> `"03:04:05Z"`.
    static func appendTimeWithZone(_ text: ArraySlice<UInt8>, to json: inout JSONBuffer) {
        json.appendByte(UInt8(ascii: "\""))
        appendTimeAndOffset(text, to: &json)
        json.appendByte(UInt8(ascii: "\""))
    }

    /// Writes the escaped body `HH:MM:SS[.frac]` followed by the normalized offset.
    private static func appendTimeAndOffset(_ text: ArraySlice<UInt8>, to json: inout JSONBuffer) {
        guard let sign = text.firstIndex(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") }) else {
            json.appendEscaped(utf8: text)
            return
        }
        json.appendEscaped(utf8: text[..<sign])
        let offset = text[sign...]
        guard isOffset(offset) else {
            json.appendEscaped(utf8: offset)
            return
        }
        if offset.dropFirst().allSatisfy({ $0 == UInt8(ascii: "0") || $0 == UInt8(ascii: ":") }) {
            json.appendByte(UInt8(ascii: "Z"))
        } else {
            json.appendEscaped(utf8: offset)
            if offset.count == 3 { json.appendRaw(":00") }
        }
    }

    /// Whether `text` is `±HH`, `±HH:MM` or `±HH:MM:SS`.
    private static func isOffset(_ text: ArraySlice<UInt8>) -> Bool {
        guard text.count == 3 || text.count == 6 || text.count == 9 else { return false }
        for (position, byte) in text.dropFirst().enumerated() {
            let ok = position % 3 == 2 ? byte == UInt8(ascii: ":") : isDigit(byte)
            if !ok { return false }
        }
        return true
    }

    private static func endsWithBC(_ text: ArraySlice<UInt8>) -> Bool {
        text.count >= 3 && text.suffix(3).elementsEqual(" BC".utf8)
    }
}
