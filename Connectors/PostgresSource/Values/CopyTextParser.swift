/// Parses rows of `COPY ... TO STDOUT` in text format (the default format:
/// tab delimiter, `\N` for NULL, backslash escapes).
enum CopyTextParser {
    /// Splits one line of COPY text format (without the trailing newline) into fields; nil = SQL NULL (\N).
    /// Unescapes \b \f \n \r \t \v \\ \NNN (octal) \xHH and \<other> -> <other>.
    ///
    /// `fields` is emptied first (keeping its capacity) so one array can be
    /// reused across rows. Fields without a backslash are slices of `line`
    /// (no copy); each field with one is unescaped into its own storage.
    /// A backslash-escaped tab is part of the value, not a delimiter; an
    /// empty line is one empty field. Never traps on malformed input: a lone
    /// trailing backslash is dropped, as the server does.
    static func parseRow(_ line: ArraySlice<UInt8>, into fields: inout [ArraySlice<UInt8>?]) {
        fields.removeAll(keepingCapacity: true)
        parseRow(line) { fields.append($0) }
    }

    /// `parseRow(_:into:)` handing each field to `field` in order instead.
    static func parseRow(_ line: ArraySlice<UInt8>, field: (ArraySlice<UInt8>?) -> Void) {
        var index = line.startIndex
        let end = line.endIndex
        var fieldStart = index
        var hasEscape = false
        while true {
            if index == end || line[index] == tab {
                let raw = line[fieldStart..<index]
                if !hasEscape {
                    field(raw)
                } else if raw.count == 2 && raw[raw.startIndex + 1] == UInt8(ascii: "N") {
                    field(nil)
                } else {
                    field(unescape(raw))
                }
                if index == end { return }
                index += 1
                fieldStart = index
                hasEscape = false
                continue
            }
            if line[index] == backslash {
                hasEscape = true
                index += 1
                if index == end { continue }  // lone trailing backslash: the field ends here
            }
            index += 1
        }
    }

    private static let tab: UInt8 = 0x09
    private static let backslash: UInt8 = 0x5C

    /// The field's value with COPY's backslash escapes resolved.
    private static func unescape(_ raw: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var index = raw.startIndex
        let end = raw.endIndex
        while index < end {
            let byte = raw[index]
            index += 1
            guard byte == backslash else {
                out.append(byte)
                continue
            }
            guard index < end else { break }
            let escaped = raw[index]
            index += 1
            switch escaped {
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                // Up to three octal digits; like the server, keep the low 8 bits.
                var value = UInt32(escaped - UInt8(ascii: "0"))
                var digits = 1
                while digits < 3, index < end, raw[index] >= UInt8(ascii: "0"), raw[index] <= UInt8(ascii: "7") {
                    value = value << 3 + UInt32(raw[index] - UInt8(ascii: "0"))
                    index += 1
                    digits += 1
                }
                out.append(UInt8(truncatingIfNeeded: value))
            case UInt8(ascii: "x"):
                // One or two hex digits; `\x` without a hex digit is a plain 'x'.
                guard index < end, let high = hexValue(raw[index]) else {
                    out.append(escaped)
                    continue
                }
                index += 1
                var value = high
                if index < end, let low = hexValue(raw[index]) {
                    value = value << 4 | low
                    index += 1
                }
                out.append(value)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "v"): out.append(0x0B)
            default: out.append(escaped)
            }
        }
        return out[...]
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
