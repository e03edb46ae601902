import Foundation

/// The bytes a string of hex digits spells (`"00ff"` is [0, 255]), for
/// binary values written out in tests.
func hexBytes(_ hex: String) throws -> [UInt8] {
    let digits = Array(hex.utf8)
    guard digits.count % 2 == 0 else { throw CocoaError(.coderInvalidValue) }
    return try stride(from: 0, to: digits.count, by: 2).map { index in
        guard let byte = UInt8(String(decoding: digits[index..<(index + 2)], as: UTF8.self), radix: 16) else {
            throw CocoaError(.coderInvalidValue)
        }
        return byte
    }
}
