import SiphonCore

/// A PostgreSQL write-ahead log position (`pg_lsn`).
///
/// Prints and parses as PostgreSQL does: two hex halves, `16/B374D848`.
public struct LSN: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: UInt64) { self.rawValue = value }

    public static let zero = LSN(0)

    /// Parses the `XXX/XXX` text form; nil when the text is not an LSN.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
              parts[0].count <= 8, parts[1].count <= 8,
              let high = UInt32(parts[0], radix: 16), let low = UInt32(parts[1], radix: 16)
        else { return nil }
        rawValue = UInt64(high) << 32 | UInt64(low)
    }

    public var description: String {
        var text = JSONBuffer(capacity: 17)
        appendText(to: &text)
        return String(decoding: text.bytes, as: UTF8.self)
    }

    public static func < (lhs: LSN, rhs: LSN) -> Bool { lhs.rawValue < rhs.rawValue }
}

extension LSN {
    /// Appends the `description` form (`16/B374D848`) without building a
    /// String: every transaction's events carry their commit LSN.
    func appendText(to json: inout JSONBuffer) {
        Self.appendHex(UInt32(truncatingIfNeeded: rawValue >> 32), to: &json)
        json.appendByte(UInt8(ascii: "/"))
        Self.appendHex(UInt32(truncatingIfNeeded: rawValue), to: &json)
    }

    /// Upper-case hex digits, no leading zeros ("0" for zero).
    private static func appendHex(_ value: UInt32, to json: inout JSONBuffer) {
        var shift = max(0, (32 - value.leadingZeroBitCount + 3) / 4 * 4 - 4)
        while shift >= 0 {
            let nibble = UInt8(truncatingIfNeeded: value >> UInt32(shift)) & 0xF
            json.appendByte(nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") - 10 + nibble)
            shift -= 4
        }
    }
}
