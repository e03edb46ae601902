/// A growable byte buffer that JSON is written into directly.
///
/// Events are rendered straight into bytes instead of going through
/// `JSONEncoder`: one allocation per batch instead of one per value. The
/// caller is responsible for producing a well-formed document (commas,
/// brackets); the buffer guarantees that every string it writes is escaped
/// and valid UTF-8 JSON.
public struct JSONBuffer: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 1024) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inlinable public var count: Int { bytes.count }

    @inlinable public mutating func removeAll(keepingCapacity: Bool = true) {
        bytes.removeAll(keepingCapacity: keepingCapacity)
    }

    /// Appends bytes as they are: the caller vouches that they are valid JSON.
    @inlinable public mutating func appendRaw<S: Sequence>(_ raw: S) where S.Element == UInt8 {
        bytes.append(contentsOf: raw)
    }

    /// Arrays and slices are appended through their buffer: the generic
    /// `append(contentsOf:)` takes its argument owned, which costs a retain
    /// and a release of the storage per call.
    @inlinable public mutating func appendRaw(_ raw: [UInt8]) {
        raw.withUnsafeBufferPointer { bytes.append(contentsOf: $0) }
    }

    @inlinable public mutating func appendRaw(_ raw: ArraySlice<UInt8>) {
        raw.withUnsafeBufferPointer { bytes.append(contentsOf: $0) }
    }

    @inlinable public mutating func appendRaw(_ raw: UnsafeBufferPointer<UInt8>) {
        bytes.append(contentsOf: raw)
    }

    /// Raw bytes, such as text built in stack scratch, appended in one copy.
    @inlinable public mutating func appendRaw(_ raw: UnsafeRawBufferPointer) {
        raw.withMemoryRebound(to: UInt8.self) { bytes.append(contentsOf: $0) }
    }

    /// Spans are how decoders hand over bytes they parse in place: a span
    /// costs no reference counting, where every slice of an array retains
    /// and releases the array's storage.
    @inlinable public mutating func appendRaw(_ raw: Span<UInt8>) {
        raw.withUnsafeBufferPointer { bytes.append(contentsOf: $0) }
    }

    /// Appends a copy of bytes already in this buffer (`range` within `count`).
    public mutating func appendCopy(of range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count, "appendCopy range outside the buffer")
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: range.count))
        bytes.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            (base + start).update(from: base + range.lowerBound, count: range.count)
        }
    }

    @inlinable public mutating func appendRaw(_ raw: StaticString) {
        raw.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    @inlinable public mutating func appendByte(_ byte: UInt8) {
        bytes.append(byte)
    }

    @inlinable public mutating func appendNull() { appendRaw("null") }

    @inlinable public mutating func appendBool(_ value: Bool) {
        if value { appendRaw("true") } else { appendRaw("false") }
    }

    /// Inlinable so that callers in other modules get it specialized for
    /// their integer type: unspecialized, the generic comparisons and
    /// conversions cost more than writing the digits.
    @inlinable public mutating func appendInt<I: BinaryInteger>(_ value: I) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        appendDigits(UInt64(value.magnitude))
    }

    /// Writes `magnitude` in decimal.
    @usableFromInline mutating func appendDigits(_ magnitude: UInt64) {
        var magnitude = magnitude
        if magnitude < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude))
            return
        }
        // Digits go into stack scratch from the right, then one append.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { scratch in
            var index = 20
            while magnitude > 0 {
                index -= 1
                scratch[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[index...]))
        }
    }

    /// Writes a finite double as a JSON number; NaN and infinities, which
    /// JSON cannot represent, are written as the strings "NaN", "Infinity"
    /// and "-Infinity".
    public mutating func appendDouble(_ value: Double) {
        if value.isNaN { appendRaw("\"NaN\""); return }
        if value.isInfinite { appendRaw(value < 0 ? "\"-Infinity\"" : "\"Infinity\""); return }
        if value == value.rounded(), abs(value) < 1e15 {
            appendInt(Int64(value))
            return
        }
        appendRaw(value.description.utf8)
    }

    @inlinable public mutating func appendString(_ value: String) {
        var value = value
        value.withUTF8 { appendString(utf8: $0) }
    }

    /// Writes `utf8` as a quoted, escaped JSON string. Invalid UTF-8 is
    /// replaced with U+FFFD so the output always parses.
    public mutating func appendString<C: Collection>(utf8: C) where C.Element == UInt8 {
        bytes.append(UInt8(ascii: "\""))
        appendEscaped(utf8: utf8)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Writes `utf8` as a quoted, escaped JSON string (see above).
    public mutating func appendString(utf8: Span<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        utf8.withUnsafeBufferPointer { appendEscaped(buffer: $0) }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Writes the escaped body of a JSON string without the quotes.
    public mutating func appendEscaped<C: Collection>(utf8: C) where C.Element == UInt8 {
        let handled: Void? = utf8.withContiguousStorageIfAvailable { buffer in
            appendEscaped(buffer: buffer)
        }
        if handled == nil {
            let copy = Array(utf8)
            copy.withUnsafeBufferPointer { appendEscaped(buffer: $0) }
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func appendEscaped(buffer: UnsafeBufferPointer<UInt8>) {
        guard let base = buffer.baseAddress else { return }
        var index = 0
        let end = buffer.count
        var runStart = 0
        // Bytes before this index are looked at one by one: the eight-byte
        // word they start found something to escape or a non-ASCII byte.
        var bytewiseUntil = 0
        while index < end {
            if index >= bytewiseUntil && end - index >= 8 {
                if Self.isPlainASCII(UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)) {
                    index += 8
                    continue
                }
                bytewiseUntil = index + 8
            }
            let byte = buffer[index]
            if byte >= 0x20 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") && byte < 0x80 {
                index += 1
                continue
            }
            if byte >= 0x80 {
                let length = Self.validUTF8SequenceLength(buffer, at: index)
                if length > 0 {
                    index += length
                    continue
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[runStart..<index]))
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x08: bytes.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case ..<0x20:
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          Self.hex[Int(byte >> 4)], Self.hex[Int(byte & 0x0F)]])
            default:
                bytes.append(contentsOf: [0xEF, 0xBF, 0xBD])  // U+FFFD for a broken sequence
            }
            index += 1
            runStart = index
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[runStart..<end]))
    }

    /// Whether eight bytes (one word, any byte order) are all ASCII that JSON
    /// takes as is: none at or above 0x80, below 0x20, `"` or `\\`. Text
    /// values are mostly such runs; checking a word at a time took Siphon's
    /// CPU for 16-64 KB text values (the benchmark's W4) down by 40%.
    @inline(__always)
    static func isPlainASCII(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        if word & high != 0 { return false }
        // With every byte below 0x80, subtracting borrows into a byte's high
        // bit exactly when that byte was below the subtrahend; a borrow
        // spilling into the next byte only follows a real hit.
        let control = word &- ones &* 0x20
        let quote = (word ^ (ones &* 0x22)) &- ones
        let backslash = (word ^ (ones &* 0x5C)) &- ones
        return (control | quote | backslash) & high == 0
    }

    /// Length of the well-formed UTF-8 sequence starting at `index`, or 0.
    private static func validUTF8SequenceLength(_ buffer: UnsafeBufferPointer<UInt8>, at index: Int) -> Int {
        let lead = buffer[index]
        let length: Int
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; upper = 0x9F
        case 0xF0: length = 4; lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; upper = 0x8F
        default: return 0
        }
        guard index + length <= buffer.count else { return 0 }
        let second = buffer[index + 1]
        guard second >= lower && second <= upper else { return 0 }
        for offset in 2..<length where buffer[index + offset] & 0xC0 != 0x80 {
            return 0
        }
        return length
    }
}

extension JSONBuffer {
    private static let base64Alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Writes `data` as a quoted standard base64 string (with padding).
    public mutating func appendBase64(_ data: Span<UInt8>) {
        data.withUnsafeBufferPointer { appendBase64($0) }
    }

    /// Writes `data` as a quoted standard base64 string (with padding).
    public mutating func appendBase64<C: Collection>(_ data: C) where C.Element == UInt8 {
        bytes.append(UInt8(ascii: "\""))
        let table = Self.base64Alphabet
        var iterator = data.makeIterator()
        while let b0 = iterator.next() {
            let b1 = iterator.next()
            let b2 = iterator.next()
            bytes.append(table[Int(b0 >> 2)])
            bytes.append(table[Int((b0 & 0x03) << 4 | (b1 ?? 0) >> 4)])
            if let b1 {
                bytes.append(table[Int((b1 & 0x0F) << 2 | (b2 ?? 0) >> 6)])
            } else {
                bytes.append(UInt8(ascii: "="))
            }
            if let b2 {
                bytes.append(table[Int(b2 & 0x3F)])
            } else {
                bytes.append(UInt8(ascii: "="))
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
