import SiphonCore

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
    /// Throws `NulCharacter`, or `JSONMembers.Malformed` for a string that is not JSON.
    mutating func append(json value: ArraySlice<UInt8>) throws {
        startElement()
        guard let first = value.first else { return bytes.append(contentsOf: Self.null) }
        switch first {
        case UInt8(ascii: "\""):
            // Without escapes the literal's body has no `"` or `\` either:
            // the JSON string is the element as it is.
            if !value.dropFirst().dropLast().contains(UInt8(ascii: "\\")) {
                bytes.append(contentsOf: value)
            } else {
                let decoded = try JSONMembers.decodeStringBytes(value)
                if decoded.contains(0) { throw NulCharacter() }
                appendQuoted(decoded)
            }
        case UInt8(ascii: "n"):
            bytes.append(contentsOf: Self.null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            // A number has nothing an element must quote.
            bytes.append(contentsOf: value)
        default:
            // true, false, and embedded objects and arrays: their text.
            appendQuoted(value)
        }
    }

    /// Appends the element for the JSON value `value` as JSON text (`null`
    /// as NULL): for SQL that reads the JSON itself.
    mutating func append(jsonText value: ArraySlice<UInt8>) {
        startElement()
        guard let first = value.first, first != UInt8(ascii: "n") else { return bytes.append(contentsOf: Self.null) }
        appendQuoted(value)
    }

    private static let null = Array("NULL".utf8)

    private mutating func startElement() {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
    }

    /// `text` in double quotes, with `"` and `\` escaped.
    private mutating func appendQuoted<Text: Sequence<UInt8>>(_ text: Text) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
            bytes.append(byte)
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
