import SiphonCore

/// A few dozen ASCII bytes built on the stack, then appended to a
/// `JSONBuffer` in one call.
///
/// Dates, times and integers are written one to four bytes at a time, and
/// each append to the buffer's array costs a call, a uniqueness check, a
/// capacity check and a copy: a timestamp took about fourteen of them, which
/// made the digit writer the top entry of a snapshot's profile. Values whose
/// text is bounded (every date, time, timestamp, interval and integer fits
/// in `capacity`) are written here first. Writing past `capacity` traps.
struct ShortText {
    static let capacity = 80

    private var storage: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    private(set) var count = 0

    mutating func append(_ byte: UInt8) {
        precondition(count < Self.capacity, "ShortText holds \(Self.capacity) bytes")
        withUnsafeMutableBytes(of: &storage) { $0[count] = byte }
        count += 1
    }

    mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes in
            for byte in bytes { append(byte) }
        }
    }

    /// Writes `value` in decimal, zero-padded to at least `minimumWidth`
    /// digits (pg_ultostr_zeropad).
    mutating func appendDigits(_ value: UInt64, minimumWidth: Int = 1) {
        var width = 1
        var limit: UInt64 = 10
        while width < 20 && value >= limit {
            width += 1
            limit = limit &* 10
        }
        width = max(width, minimumWidth)
        precondition(count + width <= Self.capacity, "ShortText holds \(Self.capacity) bytes")
        var rest = value
        withUnsafeMutableBytes(of: &storage) { raw in
            var index = count + width
            while index > count {
                index -= 1
                raw[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
        }
        count += width
    }

    /// Writes a signed decimal integer.
    mutating func appendInteger(_ value: Int64) {
        if value < 0 { append(UInt8(ascii: "-")) }
        appendDigits(value.magnitude)
    }

    func write(to json: inout JSONBuffer) {
        withUnsafeBytes(of: storage) { raw in
            json.appendRaw(UnsafeRawBufferPointer(rebasing: raw[..<count]))
        }
    }
}
