/// A PostgreSQL array literal (`{"a","b c",NULL,12}`) built from event
/// values (the JSON text of each, docs/EVENTS.md): the sink passes each
/// column of a batch as one such parameter and `unnest`s them, so the
/// target parses no JSON and builds no per-row hash table.
///
/// Each element is what `json_to_recordset` would give a text field: a
/// JSON string's decoded contents, any other value's own text, `null` as
/// NULL. Elements other than numbers are quoted, with `"` and `\`
/// escaped, so no value can end an element or the array early.
struct ArrayLiteral {
    /// A value holds U+0000, which PostgreSQL text cannot store.
    struct NulCharacter: Error {}

    private var bytes: [UInt8]
    private var empty = true

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    /// The literal, closed.
    mutating func finish() -> String {
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the element for the JSON value `value`.
    mutating func append(json value: ArraySlice<UInt8>) throws(NulCharacter) {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        guard let first = value.first else { return bytes.append(contentsOf: Self.null) }
        switch first {
        case UInt8(ascii: "\""):
            let body = value.dropFirst().dropLast()
            // Without escapes the literal's body has no `"` or `\` either:
            // the JSON string is the element as it is.
            if !body.contains(UInt8(ascii: "\\")) {
                bytes.append(contentsOf: value)
            } else {
                bytes.append(UInt8(ascii: "\""))
                try appendDecoded(body)
                bytes.append(UInt8(ascii: "\""))
            }
        case UInt8(ascii: "n"):
            bytes.append(contentsOf: Self.null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            // A number has nothing an element must quote.
            bytes.append(contentsOf: value)
        default:
            // true, false, and embedded objects and arrays: their text, quoted.
            bytes.append(UInt8(ascii: "\""))
            for byte in value {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(byte)
            }
            bytes.append(UInt8(ascii: "\""))
        }
    }

    private static let null = Array("NULL".utf8)

    /// A JSON string's body decoded, with `"` and `\` escaped for the array.
    private mutating func appendDecoded(_ body: ArraySlice<UInt8>) throws(NulCharacter) {
        var index = body.startIndex
        var pendingHigh: UInt32?
        while index < body.endIndex {
            let byte = body[index]
            guard byte == UInt8(ascii: "\\"), index + 1 < body.endIndex else {
                if let high = pendingHigh { try appendScalar(high); pendingHigh = nil }
                // (A `\` here would be a dangling one, which JSON never has.)
                if byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\"") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(byte)
                index += 1
                continue
            }
            let escaped = body[index + 1]
            index += 2
            if escaped == UInt8(ascii: "u") {
                guard index + 4 <= body.endIndex, let code = Self.hex(body[index..<(index + 4)]) else {
                    // Not an escape JSON allows: its text as it is.
                    bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\"), escaped])
                    continue
                }
                index += 4
                if (0xD800...0xDBFF).contains(code) {
                    if let high = pendingHigh { try appendScalar(high) }
                    pendingHigh = code
                } else if (0xDC00...0xDFFF).contains(code), let high = pendingHigh {
                    try appendScalar(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00))
                    pendingHigh = nil
                } else {
                    if let high = pendingHigh { try appendScalar(high); pendingHigh = nil }
                    try appendScalar(code)
                }
                continue
            }
            if let high = pendingHigh { try appendScalar(high); pendingHigh = nil }
            switch escaped {
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), escaped])
            default: bytes.append(escaped)
            }
        }
        if let high = pendingHigh { try appendScalar(high) }
    }

    /// A scalar in UTF-8 (a lone surrogate as U+FFFD), escaped for the array.
    private mutating func appendScalar(_ value: UInt32) throws(NulCharacter) {
        if value == 0 { throw NulCharacter() }
        if value == UInt32(UInt8(ascii: "\"")) || value == UInt32(UInt8(ascii: "\\")) { bytes.append(UInt8(ascii: "\\")) }
        let scalar = Unicode.Scalar(value) ?? "\u{FFFD}"
        bytes.append(contentsOf: UTF8.encode(scalar)!)
    }

    private static func hex(_ digits: ArraySlice<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        for digit in digits {
            let nibble: UInt8
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = digit - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(nibble)
        }
        return value
    }
}
