import SiphonCore

/// A row image as the triggers store it: a compact JSON array written by
/// SQLite's `json_array`, one element per column (plus the rowid for tables
/// keyed by it).
///
/// Elements are copied into events as they are (SQLite already escaped the
/// text and wrote integers exactly) except for two cases JSON cannot hold:
/// a BLOB, stored as `{"b":"<hex>"}`, becomes a base64 string, and a REAL
/// infinity, which SQLite writes as `9.0e+999`, becomes "Infinity" (SQLite
/// stores NaN as NULL).
struct RowImage {
    /// The byte range of each element inside `bytes`.
    private(set) var elements: [Range<Int>] = []
    let bytes: UnsafeBufferPointer<UInt8>

    /// Splits `bytes`; returns nil when they are not a JSON array.
    init?(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        var index = 0
        let end = bytes.count
        guard end >= 2, bytes[0] == UInt8(ascii: "["), bytes[end - 1] == UInt8(ascii: "]") else { return nil }
        index = 1
        if end == 2 { return }
        elements.reserveCapacity(16)
        while index < end - 1 {
            let start = index
            switch bytes[index] {
            case UInt8(ascii: "\""):
                guard let close = Self.endOfString(bytes, from: index) else { return nil }
                index = close
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                repeat {
                    let byte = bytes[index]
                    if byte == UInt8(ascii: "\"") {
                        guard let close = Self.endOfString(bytes, from: index) else { return nil }
                        index = close
                        continue
                    }
                    if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { depth += 1 }
                    if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") { depth -= 1 }
                    index += 1
                } while depth > 0 && index < end
            default:
                while index < end - 1 && bytes[index] != UInt8(ascii: ",") { index += 1 }
            }
            elements.append(start..<index)
            guard index < end else { return nil }
            if bytes[index] == UInt8(ascii: ",") { index += 1 }
        }
    }

    /// Index just past the closing quote of the string starting at `start`.
    private static func endOfString(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var index = start + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index + 1
            default: index += 1
            }
        }
        return nil
    }

    var count: Int { elements.count }

    /// Writes element `index` as an event value.
    func write(_ index: Int, to json: inout JSONBuffer) {
        let range = elements[index]
        let first = bytes[range.lowerBound]
        switch first {
        case UInt8(ascii: "{"):
            writeBlob(range, to: &json)
        case UInt8(ascii: "\""):
            let slice = UnsafeBufferPointer(rebasing: bytes[range])
            if slice.contains(where: { $0 >= 0x80 }), String(validating: slice, as: UTF8.self) == nil {
                // Not UTF-8 (SQLite stores what it is given): re-escape, replacing broken bytes.
                json.appendString(utf8: UnsafeBufferPointer(rebasing: bytes[(range.lowerBound + 1)..<(range.upperBound - 1)]))
            } else {
                json.appendRaw(slice)
            }
        case UInt8(ascii: "n"):
            json.appendNull()
        default:
            let slice = UnsafeBufferPointer(rebasing: bytes[range])
            if Self.isPlainNumber(slice) {
                json.appendRaw(slice)
            } else {
                // SQLite writes an infinite REAL as `Inf` (3.40) or `9.0e+999` (later versions).
                let text = String(decoding: slice, as: UTF8.self)
                if let value = Double(text) {
                    json.appendDouble(value)
                } else if text == "Inf" || text == "-Inf" {
                    json.appendDouble(text.hasPrefix("-") ? -.infinity : .infinity)
                } else {
                    json.appendString(text)
                }
            }
        }
    }

    /// A JSON number whose value a double can hold (no `Inf`, no `e+999`).
    private static func isPlainNumber(_ slice: UnsafeBufferPointer<UInt8>) -> Bool {
        var sawExponent = false
        for byte in slice {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "+"):
                continue
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                sawExponent = true
            default:
                return false
            }
        }
        guard sawExponent, let value = Double(String(decoding: slice, as: UTF8.self)) else { return !slice.isEmpty }
        return value.isFinite
    }

    /// The element as an integer (the rowid), when it is one.
    func integer(_ index: Int) -> Int64? {
        let range = elements[index]
        var value: Int64 = 0
        var negative = false
        for position in range {
            let byte = bytes[position]
            if position == range.lowerBound && byte == UInt8(ascii: "-") { negative = true; continue }
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            value = value &* 10 &+ Int64(byte - UInt8(ascii: "0"))
        }
        return negative ? -value : value
    }

    /// `{"b":"<hex>"}` to a base64 string.
    private func writeBlob(_ range: Range<Int>, to json: inout JSONBuffer) {
        // The hex digits sit between the third and fourth quote: {"b":"0A1B"}.
        var quotes = 0
        var start = range.lowerBound
        var end = range.lowerBound
        for position in range where bytes[position] == UInt8(ascii: "\"") {
            quotes += 1
            if quotes == 3 { start = position + 1 }
            if quotes == 4 { end = position; break }
        }
        var data: [UInt8] = []
        data.reserveCapacity((end - start) / 2)
        var position = start
        while position + 1 < end {
            data.append(Self.nibble(bytes[position]) << 4 | Self.nibble(bytes[position + 1]))
            position += 2
        }
        json.appendBase64(data)
    }

    private static func nibble(_ byte: UInt8) -> UInt8 {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return byte &- UInt8(ascii: "a") &+ 10
        }
    }
}
