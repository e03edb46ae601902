import Foundation

/// A JSON value read as the exact text the event holds: numbers, json
/// strings and nested arrays are never re-rendered, so a database sink
/// writes what the source sent, digit for digit.
public enum JSONMembers {
    /// The JSON was not what an event holds.
    public struct Malformed: Error, CustomStringConvertible {
        public var description: String
    }

    /// The members of the object at `bytes` (which holds exactly one object),
    /// in order: each name decoded, each value as its byte range in `bytes`.
    public static func parse(_ bytes: ArraySlice<UInt8>) throws(Malformed) -> [(name: String, value: Range<Int>)] {
        var members: [(name: String, value: Range<Int>)] = []
        members.reserveCapacity(8)
        try forEachMember(bytes) { (name, value) throws(Malformed) in
            members.append((try decodeString(bytes[name]), value))
        }
        return members
    }

    /// Calls `body` with each member of the object at `bytes` (which holds
    /// exactly one object), in order: the range of its name's string literal
    /// (quotes included, not decoded) and the range of its value. For a
    /// reader that wants a few members by name without making a `String`
    /// of every name.
    public static func forEachMember(_ bytes: ArraySlice<UInt8>,
                                     _ body: (_ name: Range<Int>, _ value: Range<Int>) throws(Malformed) -> Void) throws(Malformed) {
        // Scanned through a buffer pointer (an event's envelope is most of
        // what a database sink reads byte by byte); ranges are in `bytes`'s indices.
        let base = bytes.startIndex
        try bytes.withUnsafeBufferPointer { (bytes) throws(Malformed) in
            var index = 0
            skipSpace(bytes, &index)
            guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { throw Malformed(description: "not a JSON object") }
            index += 1
            skipSpace(bytes, &index)
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { return }
            while true {
                skipSpace(bytes, &index)
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw Malformed(description: "expected a member name") }
                let nameStart = index
                try skipString(bytes, &index)
                let name = (base + nameStart)..<(base + index)
                skipSpace(bytes, &index)
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                    throw Malformed(description: "expected ':' after \(String(decoding: UnsafeBufferPointer(rebasing: bytes[nameStart..<name.upperBound - base]), as: UTF8.self))")
                }
                index += 1
                skipSpace(bytes, &index)
                let valueStart = index
                try skipValue(bytes, &index)
                try body(name, (base + valueStart)..<(base + index))
                skipSpace(bytes, &index)
                guard index < bytes.count else { throw Malformed(description: "unterminated object") }
                if bytes[index] == UInt8(ascii: "}") { return }
                guard bytes[index] == UInt8(ascii: ",") else { throw Malformed(description: "expected ',' or '}'") }
                index += 1
            }
        }
    }

    /// The elements of the array at `bytes`, as byte ranges.
    public static func elements(_ bytes: ArraySlice<UInt8>) throws(Malformed) -> [Range<Int>] {
        let base = bytes.startIndex
        return try bytes.withUnsafeBufferPointer { (bytes) throws(Malformed) -> [Range<Int>] in
            var index = 0
            skipSpace(bytes, &index)
            guard index < bytes.count, bytes[index] == UInt8(ascii: "[") else { throw Malformed(description: "not a JSON array") }
            index += 1
            var elements: [Range<Int>] = []
            elements.reserveCapacity(8)
            skipSpace(bytes, &index)
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { return elements }
            while true {
                skipSpace(bytes, &index)
                let start = index
                try skipValue(bytes, &index)
                elements.append((base + start)..<(base + index))
                skipSpace(bytes, &index)
                guard index < bytes.count else { throw Malformed(description: "unterminated array") }
                if bytes[index] == UInt8(ascii: "]") { return elements }
                guard bytes[index] == UInt8(ascii: ",") else { throw Malformed(description: "expected ',' or ']'") }
                index += 1
            }
        }
    }

    /// A JSON string literal (quotes included) decoded.
    public static func decodeString(_ literal: ArraySlice<UInt8>) throws(Malformed) -> String {
        guard literal.count >= 2, literal.first == UInt8(ascii: "\""), literal.last == UInt8(ascii: "\"") else {
            throw Malformed(description: "not a JSON string")
        }
        let body = literal.dropFirst().dropLast()
        if !body.contains(UInt8(ascii: "\\")) { return String(decoding: body, as: UTF8.self) }
        return String(decoding: try decodeStringBytes(literal), as: UTF8.self)
    }

    /// A JSON string literal (quotes included) decoded to UTF-8 (a lone
    /// surrogate as U+FFFD; `\u0000` as a zero byte, which the caller
    /// decides about).
    public static func decodeStringBytes(_ literal: ArraySlice<UInt8>) throws(Malformed) -> [UInt8] {
        guard literal.count >= 2, literal.first == UInt8(ascii: "\""), literal.last == UInt8(ascii: "\"") else {
            throw Malformed(description: "not a JSON string")
        }
        let body = literal.dropFirst().dropLast()
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var index = body.startIndex
        var pendingHigh: UInt32?
        func appendScalar(_ value: UInt32) {
            out.append(contentsOf: UTF8.encode(Unicode.Scalar(value) ?? "\u{FFFD}")!)
        }
        while index < body.endIndex {
            let byte = body[index]
            guard byte == UInt8(ascii: "\\") else {
                if let high = pendingHigh { appendScalar(high); pendingHigh = nil }
                out.append(byte)
                index += 1
                continue
            }
            guard index + 1 < body.endIndex else { throw Malformed(description: "dangling escape") }
            let escaped = body[index + 1]
            index += 2
            if escaped == UInt8(ascii: "u") {
                guard index + 4 <= body.endIndex, let code = hex(body[index..<(index + 4)]) else {
                    throw Malformed(description: "bad \\u escape")
                }
                index += 4
                if (0xD800...0xDBFF).contains(code) {
                    if let high = pendingHigh { appendScalar(high) }
                    pendingHigh = code
                } else if (0xDC00...0xDFFF).contains(code), let high = pendingHigh {
                    appendScalar(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00))
                    pendingHigh = nil
                } else {
                    if let high = pendingHigh { appendScalar(high); pendingHigh = nil }
                    appendScalar(code)
                }
                continue
            }
            if let high = pendingHigh { appendScalar(high); pendingHigh = nil }
            switch escaped {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            default: out.append(escaped)
            }
        }
        if let high = pendingHigh { appendScalar(high) }
        return out
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

    private static func skipSpace(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int) {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
    }

    private static func skipString(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int) throws(Malformed) {
        index += 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): index += 1; return
            default: index += 1
            }
        }
        throw Malformed(description: "unterminated string")
    }

    private static func skipValue(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int) throws(Malformed) {
        guard index < bytes.count else { throw Malformed(description: "missing value") }
        switch bytes[index] {
        case UInt8(ascii: "\""):
            try skipString(bytes, &index)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    try skipString(bytes, &index)
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { index += 1; return }
                default: break
                }
                index += 1
            }
            throw Malformed(description: "unterminated object or array")
        default:
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") || byte == 0x20
                    || byte == 0x0A || byte == 0x0D || byte == 0x09 { break }
                index += 1
            }
            if index == start { throw Malformed(description: "missing value") }
        }
    }
}
