#if canImport(SiphonCore)
import SiphonCore
#endif

/// float4 and float8 in binary form, written exactly as float4out and
/// float8out print them with extra_float_digits > 0 (the session sets 3),
/// then rendered like the text path: a JSON number, or "NaN" / "Infinity" /
/// "-Infinity" strings.
///
/// PostgreSQL prints with its port of Ryu (src/common/f2s.c, d2s.c): the
/// fewest significant digits that lie strictly inside the interval of
/// decimals that read back as the same float, the closest to the exact
/// value among those (ties to even). Swift's `description` computes the same
/// except that it also accepts a decimal lying exactly on the interval's
/// edge (Ryu's "acceptBounds", which PostgreSQL turns off), and its
/// tie-break may differ. Both can only happen for floats of magnitude
/// 2^mantissaBits+1 and above, whose interval edges are integers; those are
/// recognized cheaply from Swift's digits and recomputed exactly, in
/// decimal (`exactShortestDigits`).
extension ValueRenderer {
    static func appendFloat4(_ value: Float, to json: inout JSONBuffer) {
        if value.isNaN { json.appendRaw("\"NaN\""); return }
        if value.isInfinite { json.appendRaw(value < 0 ? "\"-Infinity\"" : "\"Infinity\""); return }
        if value == 0 { json.appendRaw(value.sign == .minus ? "-0" : "0"); return }
        let exponent = Int(value.exponentBitPattern) - 150  // value = significand * 2^exponent
        let significand = UInt64(value.significandBitPattern) | (value.exponentBitPattern == 0 ? 0 : 1 << 23)
        appendShortest(value.description, significand: significand, binaryExponent: exponent,
                       lowerGapHalved: value.significandBitPattern == 0 && value.exponentBitPattern > 1,
                       fixedBelowExponent: 6, to: &json)
    }

    static func appendFloat8(_ value: Double, to json: inout JSONBuffer) {
        if value.isNaN { json.appendRaw("\"NaN\""); return }
        if value.isInfinite { json.appendRaw(value < 0 ? "\"-Infinity\"" : "\"Infinity\""); return }
        if value == 0 { json.appendRaw(value.sign == .minus ? "-0" : "0"); return }
        let exponent = Int(value.exponentBitPattern) - 1075
        let significand = value.significandBitPattern | (value.exponentBitPattern == 0 ? 0 : 1 << 52)
        appendShortest(value.description, significand: significand, binaryExponent: exponent,
                       lowerGapHalved: value.significandBitPattern == 0 && value.exponentBitPattern > 1,
                       fixedBelowExponent: 15, to: &json)
    }

    /// Writes a finite non-zero float, `significand * 2^binaryExponent`
    /// (negative when `description` starts with `-`), whose Swift
    /// `description` is given. `lowerGapHalved`: the float below is half as
    /// far as the one above (an exact power of two).
    private static func appendShortest(_ description: String, significand: UInt64, binaryExponent: Int,
                                       lowerGapHalved: Bool, fixedBelowExponent limit: Int, to json: inout JSONBuffer) {
        var text = description
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes; at most 17 significant digits
        text.withUTF8 { utf8 in
            withUnsafeMutableBytes(of: &digits) { stored in
                var (count, pointPosition, negative) = parseDescription(utf8, into: stored)
                if binaryExponent >= 1
                    && needsExactDigits(stored, count: count, pointPosition: pointPosition, significand: significand,
                                        binaryExponent: binaryExponent, lowerGapHalved: lowerGapHalved) {
                    let exact = exactShortestDigits(significand: significand, binaryExponent: binaryExponent,
                                                    lowerGapHalved: lowerGapHalved)
                    count = min(exact.digits.count, stored.count)
                    for index in 0..<count { stored[index] = exact.digits[index] }
                    pointPosition = exact.pointPosition
                }
                if negative { json.appendByte(UInt8(ascii: "-")) }
                layOut(stored[0..<count], pointPosition: pointPosition, fixedBelowExponent: limit, to: &json)
            }
        }
    }

    /// Reads Swift's `description` (`1.5`, `100.0`, `0.0001`, `1e-05`,
    /// `1.2345e+20`) into its significant digits, without leading or trailing
    /// zeros, and their decimal point position: the value is
    /// 0.<digits> * 10^pointPosition.
    private static func parseDescription(_ utf8: UnsafeBufferPointer<UInt8>, into stored: UnsafeMutableRawBufferPointer)
        -> (count: Int, pointPosition: Int, negative: Bool) {
        var count = 0
        var pointPosition = 0
        var seenPoint = false
        var index = 0
        var negative = false
        if index < utf8.count && utf8[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        while index < utf8.count && utf8[index] != UInt8(ascii: "e") && utf8[index] != UInt8(ascii: "E") {
            let byte = utf8[index]
            index += 1
            if byte == UInt8(ascii: ".") {
                seenPoint = true
            } else if count == 0 && byte == UInt8(ascii: "0") {
                if seenPoint { pointPosition -= 1 }
            } else if count < stored.count {
                stored[count] = byte
                count += 1
                if !seenPoint { pointPosition += 1 }
            }
        }
        if index < utf8.count {
            index += 1
            var exponentNegative = false
            if index < utf8.count && (utf8[index] == UInt8(ascii: "-") || utf8[index] == UInt8(ascii: "+")) {
                exponentNegative = utf8[index] == UInt8(ascii: "-")
                index += 1
            }
            var exponent = 0
            while index < utf8.count {
                exponent = exponent * 10 + Int(utf8[index] &- UInt8(ascii: "0"))
                index += 1
            }
            pointPosition += exponentNegative ? -exponent : exponent
        }
        while count > 1 && stored[count - 1] == UInt8(ascii: "0") { count -= 1 }
        return (count, pointPosition, negative)
    }

    /// For a float that is an integer with gaps of 2 or more to its
    /// neighbors (`binaryExponent >= 1`): whether Swift's digits, the
    /// integer c = D * 10^k, may differ from PostgreSQL's. Only if c lies
    /// on an edge of the rounding interval, an odd multiple of
    /// 2^(binaryExponent-1) (or of 2^(binaryExponent-2) below an exact
    /// power of two), or if the value lies exactly halfway between two
    /// candidates, which needs it to be a multiple of 5^k.
    private static func needsExactDigits(_ stored: UnsafeMutableRawBufferPointer, count: Int, pointPosition: Int,
                                         significand: UInt64, binaryExponent: Int, lowerGapHalved: Bool) -> Bool {
        let k = pointPosition - count
        guard k >= 0 else { return true }  // not an integer: cannot be the shortest here; be safe
        var digits: UInt64 = 0
        for index in 0..<count { digits = digits * 10 + UInt64(stored[index] - UInt8(ascii: "0")) }
        let twos = digits.trailingZeroBitCount + k
        if twos == binaryExponent - 1 || (lowerGapHalved && twos == binaryExponent - 2) { return true }
        guard k >= 1 else { return false }
        var power: UInt64 = 1
        for _ in 0..<k {
            let (next, overflow) = power.multipliedReportingOverflow(by: 5)
            if overflow || next > significand { return false }
            power = next
        }
        return significand % power == 0
    }

    /// PostgreSQL's digits for `significand * 2^binaryExponent`
    /// (binaryExponent >= 1, so the value and its interval edges are
    /// integers), computed exactly on decimal digit strings: the largest j
    /// such that a multiple of 10^j lies strictly inside the interval, then
    /// the closest such multiple (ties to an even multiple).
    static func exactShortestDigits(significand: UInt64, binaryExponent: Int, lowerGapHalved: Bool)
        -> (digits: [UInt8], pointPosition: Int) {
        let value = DecimalDigits(significand).timesPowerOfTwo(binaryExponent)
        let upperGap = DecimalDigits(1).timesPowerOfTwo(binaryExponent - 1)
        // Integers strictly inside the interval: [low, high].
        let high = value.adding(upperGap).subtracting(DecimalDigits(1))
        let low: DecimalDigits
        if lowerGapHalved && binaryExponent == 1 {
            low = value  // the gap below is 1/2: no integer below the value is inside
        } else {
            let lowerGap = lowerGapHalved ? DecimalDigits(1).timesPowerOfTwo(binaryExponent - 2) : upperGap
            low = value.subtracting(lowerGap).adding(DecimalDigits(1))
        }
        var j = high.digits.count - 1
        while j > 0 && high.droppingLast(j) < low.droppingLastRoundingUp(j) { j -= 1 }
        let smallest = low.droppingLastRoundingUp(j)
        let largest = high.droppingLast(j)
        let down = value.droppingLast(j)
        let up = down.adding(DecimalDigits(1))
        let remainder = value.digits.suffix(j)
        var preferUp: Bool
        if remainder.allSatisfy({ $0 == UInt8(ascii: "0") }) {
            preferUp = false
        } else {
            let half = [UInt8(ascii: "5")] + [UInt8](repeating: UInt8(ascii: "0"), count: j - 1)
            if remainder.elementsEqual(half) {
                preferUp = (down.digits.last! - UInt8(ascii: "0")) % 2 == 1
            } else {
                preferUp = remainder.lexicographicallyPrecedes(half) == false
            }
        }
        if preferUp && largest < up { preferUp = false }
        if !preferUp && down < smallest { preferUp = true }
        let chosen = preferUp ? up : down
        var digits = chosen.digits
        while digits.count > 1 && digits.last == UInt8(ascii: "0") { digits.removeLast() }
        return (digits, chosen.digits.count + j)
    }

    /// Writes significant digits (no leading or trailing zeros) whose value
    /// is 0.<digits> * 10^pointPosition as PostgreSQL's Ryu port lays them
    /// out: fixed-point when the decimal exponent is in [-4, limit)
    /// (`100000`, `0.0001`, no `.0`), scientific otherwise with a signed
    /// exponent of at least two digits (`1e+15`, `1.5e-05`, `5e-324`).
    private static func layOut(_ digits: Slice<UnsafeMutableRawBufferPointer>, pointPosition: Int,
                               fixedBelowExponent limit: Int, to json: inout JSONBuffer) {
        let count = digits.count
        let start = digits.startIndex
        let exponent = pointPosition - 1
        if exponent >= -4 && exponent < limit {
            if exponent < 0 {
                json.appendRaw("0.")
                for _ in 0..<(-exponent - 1) { json.appendByte(UInt8(ascii: "0")) }
                json.bytes.append(contentsOf: digits)
            } else if count <= exponent + 1 {
                json.bytes.append(contentsOf: digits)
                for _ in 0..<(exponent + 1 - count) { json.appendByte(UInt8(ascii: "0")) }
            } else {
                json.bytes.append(contentsOf: digits[start..<(start + exponent + 1)])
                json.appendByte(UInt8(ascii: "."))
                json.bytes.append(contentsOf: digits[(start + exponent + 1)...])
            }
            return
        }
        json.appendByte(digits[start])
        if count > 1 {
            json.appendByte(UInt8(ascii: "."))
            json.bytes.append(contentsOf: digits[(start + 1)...])
        }
        json.appendByte(UInt8(ascii: "e"))
        json.appendByte(exponent < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
        appendDigits(UInt64(exponent.magnitude), minimumWidth: 2, to: &json)
    }
}

/// A non-negative integer as ASCII decimal digits, most significant first,
/// without leading zeros: just enough arithmetic for `exactShortestDigits`.
struct DecimalDigits: Comparable {
    var digits: [UInt8]

    init(_ value: UInt64) {
        digits = Array(String(value).utf8)
    }

    private init(digits: [UInt8]) {
        var digits = digits
        while digits.count > 1 && digits.first == UInt8(ascii: "0") { digits.removeFirst() }
        self.digits = digits.isEmpty ? [UInt8(ascii: "0")] : digits
    }

    func timesPowerOfTwo(_ power: Int) -> DecimalDigits {
        var result = digits.map { UInt64($0 - UInt8(ascii: "0")) }.reversed() as [UInt64]
        var left = power
        while left > 0 {
            let step = min(left, 32)
            left -= step
            var carry: UInt64 = 0
            for index in result.indices {
                let product = result[index] << step + carry
                result[index] = product % 10
                carry = product / 10
            }
            while carry > 0 {
                result.append(carry % 10)
                carry /= 10
            }
        }
        return DecimalDigits(digits: result.reversed().map { UInt8($0) + UInt8(ascii: "0") })
    }

    func adding(_ other: DecimalDigits) -> DecimalDigits {
        var result: [UInt8] = []
        var carry = 0
        var left = digits.reversed().makeIterator()
        var right = other.digits.reversed().makeIterator()
        while true {
            let a = left.next(), b = right.next()
            if a == nil && b == nil && carry == 0 { break }
            let sum = Int((a ?? UInt8(ascii: "0")) - UInt8(ascii: "0")) + Int((b ?? UInt8(ascii: "0")) - UInt8(ascii: "0")) + carry
            result.append(UInt8(sum % 10) + UInt8(ascii: "0"))
            carry = sum / 10
        }
        return DecimalDigits(digits: result.reversed())
    }

    /// self - other, for other <= self.
    func subtracting(_ other: DecimalDigits) -> DecimalDigits {
        var result: [UInt8] = []
        var borrow = 0
        var right = other.digits.reversed().makeIterator()
        for a in digits.reversed() {
            var difference = Int(a - UInt8(ascii: "0")) - Int((right.next() ?? UInt8(ascii: "0")) - UInt8(ascii: "0")) - borrow
            borrow = difference < 0 ? 1 : 0
            if difference < 0 { difference += 10 }
            result.append(UInt8(difference) + UInt8(ascii: "0"))
        }
        return DecimalDigits(digits: result.reversed())
    }

    /// floor(self / 10^count).
    func droppingLast(_ count: Int) -> DecimalDigits {
        count >= digits.count ? DecimalDigits(0) : DecimalDigits(digits: Array(digits.dropLast(count)))
    }

    /// ceil(self / 10^count).
    func droppingLastRoundingUp(_ count: Int) -> DecimalDigits {
        let floor = droppingLast(count)
        return digits.suffix(count).allSatisfy { $0 == UInt8(ascii: "0") } ? floor : floor.adding(DecimalDigits(1))
    }

    static func < (lhs: DecimalDigits, rhs: DecimalDigits) -> Bool {
        lhs.digits.count != rhs.digits.count ? lhs.digits.count < rhs.digits.count
            : lhs.digits.lexicographicallyPrecedes(rhs.digits)
    }
}
