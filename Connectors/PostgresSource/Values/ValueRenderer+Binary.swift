#if canImport(SiphonCore)
import SiphonCore
#endif

/// Values sent by pgoutput in their types' binary send format
/// (`binary 'true'`), rendered as exactly the JSON that the text path
/// writes for the same value under the source's session settings. Numbers
/// reproduce the server's output function (int8out, float8out with
/// extra_float_digits=3, numeric_out, array_out...) and the text
/// renderer's rules on top of it; dates, times and intervals share their
/// writers with the text path (ValueRenderer+Temporal).
///
/// Unlike text, a binary value cannot fall back to "the text as a string":
/// bytes that do not have the format's shape make `appendJSON(binary:)`
/// return false, and the caller must not use the output (the source then
/// reconnects in text mode, see `BinaryModeFallback`).
extension ValueRenderer {
    /// Appends the JSON for one non-null value in `format`. Returns false,
    /// leaving `json` as it was, when the bytes are not a valid value.
    ///
    /// Values come as spans, not slices: a row's values are parsed in place
    /// and a span costs no reference counting, which a slice of an array
    /// does for every value (a quarter of a snapshot's CPU time).
    static func appendJSON(binary bytes: Span<UInt8>, format: BinaryFormat, options: ValueOptions,
                           to json: inout JSONBuffer) -> Bool {
        let mark = json.bytes.count
        if appendBinary(bytes, format: format, options: options, to: &json) { return true }
        json.bytes.removeSubrange(mark...)
        return false
    }

    /// Writes the value; returns false (possibly after partial output) when malformed.
    private static func appendBinary(_ bytes: Span<UInt8>, format: BinaryFormat, options: ValueOptions,
                                     to json: inout JSONBuffer) -> Bool {
        switch format {
        case .int2:
            guard bytes.count == 2 else { return false }
            appendInteger(Int64(Int16(truncatingIfNeeded: bigEndian(bytes, as: UInt16.self))), to: &json)
        case .int4:
            guard bytes.count == 4 else { return false }
            appendInteger(Int64(Int32(truncatingIfNeeded: bigEndian(bytes, as: UInt32.self))), to: &json)
        case .int8:
            guard bytes.count == 8 else { return false }
            appendInteger(Int64(bitPattern: bigEndian(bytes, as: UInt64.self)), to: &json)
        case .oid:
            guard bytes.count == 4 else { return false }
            appendInteger(Int64(bigEndian(bytes, as: UInt32.self)), to: &json)
        case .float4:
            guard bytes.count == 4 else { return false }
            appendFloat4(Float(bitPattern: bigEndian(bytes, as: UInt32.self)), to: &json)
        case .float8:
            guard bytes.count == 8 else { return false }
            appendFloat8(Double(bitPattern: bigEndian(bytes, as: UInt64.self)), to: &json)
        case .numeric:
            return appendBinaryNumeric(bytes, to: &json)
        case .money:
            guard bytes.count == 8 else { return false }
            appendMoney(cents: Int64(bitPattern: bigEndian(bytes, as: UInt64.self)), to: &json)
        case .bool:
            guard bytes.count == 1 else { return false }
            json.appendBool(bytes[0] != 0)
        case .text:
            json.appendString(utf8: bytes)
        case .bytea:
            json.appendBase64(bytes)
        case .json:
            if options.jsonAsString { json.appendString(utf8: bytes) } else { appendEmbeddedJSON(bytes, to: &json) }
        case .jsonb:
            // jsonb_send: version 1, then jsonb_out's text.
            guard !bytes.isEmpty, bytes[0] == 1 else { return false }
            let text = bytes.extracting(droppingFirst: 1)
            if options.jsonAsString { json.appendString(utf8: text) } else { appendEmbeddedJSON(text, to: &json) }
        case .uuid:
            guard bytes.count == 16 else { return false }
            appendUUID(bytes, to: &json)
        case .date:
            return appendBinaryDate(bytes, to: &json)
        case .time:
            return appendBinaryTime(bytes, to: &json)
        case .timeWithZone:
            return appendBinaryTimeWithZone(bytes, to: &json)
        case .timestamp:
            return appendBinaryTimestamp(bytes, fractionDigits: nil, to: &json)
        case .timestampWithZone(let fractionDigits):
            return appendBinaryTimestamp(bytes, fractionDigits: fractionDigits, to: &json)
        case .interval:
            return appendBinaryInterval(bytes, to: &json)
        case .array(let element):
            return appendBinaryArray(bytes, element: element, options: options, to: &json)
        }
        return true
    }

    // MARK: Helpers shared by the binary formats

    /// The big-endian integer that fills `bytes` (the caller checked the count).
    @inline(__always)
    static func bigEndian<T: FixedWidthInteger>(_ bytes: Span<UInt8>, as type: T.Type) -> T {
        var value: T = 0
        for index in bytes.indices { value = value << 8 | T(truncatingIfNeeded: bytes[index]) }
        return value
    }

    /// The big-endian integer of `T`'s size at `offset` bytes into `bytes`, or nil past the end.
    @inline(__always)
    static func bigEndian<T: FixedWidthInteger>(_ bytes: Span<UInt8>, at offset: Int, as type: T.Type) -> T? {
        let end = offset + MemoryLayout<T>.size
        guard offset >= 0, end <= bytes.count else { return nil }
        return bigEndian(bytes.extracting(offset..<end), as: T.self)
    }

    /// Writes a decimal integer (as int2out/int4out/int8out/oidout print it, a valid JSON number).
    static func appendInteger(_ value: Int64, to json: inout JSONBuffer) {
        // Not JSONBuffer.appendInt: that one is generic and, from this
        // module, runs unspecialized.
        var text = ShortText()
        text.appendInteger(value)
        text.write(to: &json)
    }

    /// Writes `value` in decimal, zero-padded to at least `minimumWidth` digits
    /// (pg_ultostr_zeropad), without allocating.
    static func appendDigits(_ value: UInt64, minimumWidth: Int, to json: inout JSONBuffer) {
        var text = ShortText()
        text.appendDigits(value, minimumWidth: minimumWidth)
        text.write(to: &json)
    }

    /// uuid_out: lower-case hex in 8-4-4-4-12 groups, as a JSON string.
    private static func appendUUID(_ bytes: Span<UInt8>, to json: inout JSONBuffer) {
        let hex: StaticString = "0123456789abcdef"
        json.appendByte(UInt8(ascii: "\""))
        hex.withUTF8Buffer { digits in
            for position in bytes.indices {
                let byte = bytes[position]
                if position == 4 || position == 6 || position == 8 || position == 10 {
                    json.appendByte(UInt8(ascii: "-"))
                }
                json.appendByte(digits[Int(byte >> 4)])
                json.appendByte(digits[Int(byte & 0x0F)])
            }
        }
        json.appendByte(UInt8(ascii: "\""))
    }

    // MARK: Arrays

    /// array_send's layout: Int32 ndim, Int32 flags (1: has nulls), element
    /// OID, then per dimension Int32 length and lower bound, then every
    /// element as an Int32 length (-1: NULL) and its bytes, in row-major order.
    /// Written like the text path renders array_out's text: nested JSON
    /// arrays, lower bounds dropped, `[]` for an empty array.
    private static func appendBinaryArray(_ bytes: Span<UInt8>, element: BinaryFormat, options: ValueOptions,
                                          to json: inout JSONBuffer) -> Bool {
        guard let dimensionCount = bigEndian(bytes, at: 0, as: Int32.self),
              let flags = bigEndian(bytes, at: 4, as: Int32.self),
              dimensionCount >= 0, dimensionCount <= 6, flags == 0 || flags == 1,
              bytes.count >= 12 + Int(dimensionCount) * 8
        else { return false }
        var lengths: [Int] = []
        lengths.reserveCapacity(Int(dimensionCount))
        var total = 1
        for dimension in 0..<Int(dimensionCount) {
            guard let length = bigEndian(bytes, at: 12 + dimension * 8, as: Int32.self), length >= 0 else { return false }
            lengths.append(Int(length))
            total = total.multipliedReportingOverflow(by: Int(length)).partialValue
            guard total <= bytes.count else { return false }  // every element takes at least 4 bytes
        }
        if lengths.isEmpty {
            json.appendRaw("[]")
            return bytes.count == 12
        }
        var index = 12 + lengths.count * 8
        guard appendDimension(0, lengths: lengths, bytes: bytes, index: &index, element: element, options: options,
                              to: &json) else {
            return false
        }
        return index == bytes.count
    }

    private static func appendDimension(_ dimension: Int, lengths: [Int], bytes: Span<UInt8>, index: inout Int,
                                        element: BinaryFormat, options: ValueOptions, to json: inout JSONBuffer) -> Bool {
        json.appendByte(UInt8(ascii: "["))
        for position in 0..<lengths[dimension] {
            if position > 0 { json.appendByte(UInt8(ascii: ",")) }
            if dimension + 1 < lengths.count {
                guard appendDimension(dimension + 1, lengths: lengths, bytes: bytes, index: &index,
                                      element: element, options: options, to: &json) else { return false }
                continue
            }
            guard let length = bigEndian(bytes, at: index, as: Int32.self) else { return false }
            index += 4
            if length == -1 {
                json.appendNull()
                continue
            }
            guard length >= 0, index + Int(length) <= bytes.count else { return false }
            guard appendBinary(bytes.extracting(index..<(index + Int(length))), format: element, options: options,
                               to: &json) else { return false }
            index += Int(length)
        }
        json.appendByte(UInt8(ascii: "]"))
        return true
    }
}
