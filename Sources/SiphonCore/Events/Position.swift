/// Where an event sits in its source's history.
///
/// The core treats a position as an opaque, totally ordered 128-bit value:
/// each source maps its own typed position into `high` and `low` so that
/// later events always compare greater (the PostgreSQL source uses the
/// commit LSN and the index within the transaction; the SQLite source the
/// changelog sequence). That order is what lets a pipeline skip events a sink
/// already holds after a restart.
///
/// The text form, which is also the event `id`, is 32 upper-case hex digits
/// (`high` then `low`, 16 each): fixed width, so ids sort as positions do.
public struct Position: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public static func < (lhs: Position, rhs: Position) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// The position right before this one (nil for the lowest): a
    /// pipeline resuming strictly after it resumes at this one.
    public var predecessor: Position? {
        if low > 0 { return Position(high: high, low: low - 1) }
        if high > 0 { return Position(high: high - 1, low: .max) }
        return nil
    }

    public var description: String {
        withHexDigits { String(decoding: $0, as: UTF8.self) }
    }

    /// Parses the 32-hex-digit form written by `description`.
    public init?(_ text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        guard utf8.count == 32 else { return nil }
        var values: [UInt64] = [0, 0]
        for (index, byte) in utf8.enumerated() {
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = byte - UInt8(ascii: "A") + 10
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            values[index / 16] = values[index / 16] << 4 | UInt64(nibble)
        }
        self.init(high: values[0], low: values[1])
    }

    /// The upper-case hex digit of the low four bits of `value`.
    @inline(__always) private static func hexDigit(_ value: UInt64) -> UInt8 {
        let nibble = UInt8(truncatingIfNeeded: value & 0xF)
        return nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") - 10 + nibble
    }

    /// Calls `body` with the 32 upper-case hex digits of `description`,
    /// written on the stack.
    public func withHexDigits<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { digits in
            for index in 0..<16 {
                let shift = UInt64(60 - 4 * index)
                digits[index] = Self.hexDigit(high >> shift)
                digits[16 + index] = Self.hexDigit(low >> shift)
            }
            return body(UnsafeBufferPointer(digits))
        }
    }
}
