#if canImport(SiphonCore)
import SiphonCore
#endif

extension ValueRenderer {
    /// bytea in hex format (`\x0a0b`) becomes the base64 of the bytes it
    /// encodes. Anything else (escape format, odd or non-hex digits) becomes
    /// the base64 of the text bytes themselves, so the value is never lost.
    static func appendBytea(_ text: ArraySlice<UInt8>, to json: inout JSONBuffer) {
        let digits = text.dropFirst(2)
        guard text.count >= 2,
              text[text.startIndex] == UInt8(ascii: "\\"),
              text[text.startIndex + 1] == UInt8(ascii: "x"),
              digits.count % 2 == 0,
              digits.allSatisfy({ hexValue($0) != nil })
        else {
            json.appendBase64(text)
            return
        }
        json.appendBase64(HexDecodedBytes(digits: digits))
    }

    @inline(__always) static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// The bytes encoded by an even run of validated hex digits, decoded on
    /// the fly so the base64 encoder reads them without an intermediate copy.
    struct HexDecodedBytes: RandomAccessCollection {
        let digits: ArraySlice<UInt8>

        var startIndex: Int { 0 }
        var endIndex: Int { digits.count / 2 }

        subscript(position: Int) -> UInt8 {
            let at = digits.startIndex + position * 2
            return (ValueRenderer.hexValue(digits[at]) ?? 0) << 4 | (ValueRenderer.hexValue(digits[at + 1]) ?? 0)
        }
    }
}
