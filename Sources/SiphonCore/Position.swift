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

    public var description: String {
        var text = ""
        text.reserveCapacity(32)
        withHexDigits { text.unicodeScalars.append(Unicode.Scalar($0)) }
        return text
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

    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// Calls `body` with each of the 32 ASCII hex digits, avoiding a String.
    @inline(__always)
    public func withHexDigits(_ body: (UInt8) -> Void) {
        for shift in stride(from: 60, through: 0, by: -4) {
            body(Self.hexDigits[Int((high >> UInt64(shift)) & 0xF)])
        }
        for shift in stride(from: 60, through: 0, by: -4) {
            body(Self.hexDigits[Int((low >> UInt64(shift)) & 0xF)])
        }
    }
}
