import Foundation
import XCTest
@testable import PostgresSource
#if canImport(SiphonCore)
import SiphonCore
#endif

/// Values in their binary send format render exactly like the text path
/// renders the server's text output of the same value.
final class BinaryValueRenderingTests: XCTestCase {
    /// (type OID, the value's binary send format in hex, its text output under
    /// the source's session settings), both taken from PostgreSQL 15
    /// (`encode(<type>send(x), 'hex'), <type>out(x)::text`).
    private static let fixtures: [(oid: UInt32, hex: String, text: String)] = [
        (21, "8000", "-32768"),
        (21, "0000", "0"),
        (21, "7fff", "32767"),
        (23, "80000000", "-2147483648"),
        (23, "0000002a", "42"),
        (23, "7fffffff", "2147483647"),
        (20, "8000000000000000", "-9223372036854775808"),
        (20, "0020000000000001", "9007199254740993"),
        (20, "7fffffffffffffff", "9223372036854775807"),
        (26, "00000000", "0"),
        (26, "ffffffff", "4294967295"),
        (700, "3dcccccd", "0.1"),
        (700, "80000000", "-0"),
        (700, "00000000", "0"),
        (700, "00000001", "1e-45"),
        (700, "7f7fffff", "3.4028235e+38"),
        (700, "47c35000", "100000"),
        (700, "49742400", "1e+06"),
        (700, "377ba882", "1.5e-05"),
        (700, "38d1b717", "0.0001"),
        (700, "7fc00000", "NaN"),
        (700, "7f800000", "Infinity"),
        (700, "ff800000", "-Infinity"),
        (700, "4b800000", "1.6777216e+07"),
        (700, "c0200000", "-2.5"),
        (701, "3fb999999999999a", "0.1"),
        (701, "8000000000000000", "-0"),
        (701, "0000000000000000", "0"),
        (701, "40091eb851eb851f", "3.14"),
        (701, "54b249ad2594c37d", "1e+100"),
        (701, "0000000000000001", "5e-324"),
        (701, "7fefffffffffffff", "1.7976931348623157e+308"),
        (701, "3f1a36e2eb1c432d", "0.0001"),
        (701, "3ee4f8b588e368f1", "1e-05"),
        (701, "42dc12218377de40", "123456789012345"),
        (701, "430c6bf526340000", "1e+15"),
        (701, "4340000000000000", "9.007199254740992e+15"),
        (701, "3ee9e409302678ba", "1.2345678901234568e-05"),
        (701, "7ff8000000000000", "NaN"),
        (701, "7ff0000000000000", "Infinity"),
        (701, "fff0000000000000", "-Infinity"),
        (701, "bff8000000000000", "-1.5"),
        (701, "4059000000000000", "100"),
        (1700, "0000000000000000", "0"),
        (1700, "0002000000000004007b1194", "123.4500"),
        (1700, "0001fffa4000001503e8", "-0.000000000000000000001"),
        (1700, "000800040000000a04d2162e23340d801ed2007b11d722c4", "12345678901234567890.0123456789"),
        (1700, "00000000c0000000", "NaN"),
        (1700, "00000000d0000020", "Infinity"),
        (1700, "00000000f0000020", "-Infinity"),
        (1700, "0001000040000000002a", "-42"),
        (1700, "00010001000000000001", "10000"),
        (1700, "0001ffff000000040001", "0.0001"),
        (1700, "0001fff80000001e0064", "0.000000000000000000000000000001"),
        (1700, "0004000100000008270f270f270f270f", "99999999.99999999"),
        (1700, "00010002000000000001", "100000000"),
        (1700, "0001ffff000000011388", "0.5"),
        (1700, "00010000400000020001", "-1.00"),
        (1700, "000200000000000404d2162e", "1234.5678"),
        (16, "01", "t"),
        (16, "00", "f"),
        (25, "68656c6c6f", "hello"),
        (25, "", ""),
        (25, "71756f74652022206261636b205c207461622009206e6c", "quote \" back \\ tab \t nl"),
        (25, "68c3a96c6c6f20e29c9320f09f9098", "héllo ✓ 🐘"),
        (1043, "7663", "vc"),
        (1042, "6162202020", "ab   "),
        (19, "70675f636c617373", "pg_class"),
        (17, "", "\\x"),
        (17, "00", "\\x00"),
        (17, "deadbeef", "\\xdeadbeef"),
        (114, "7b2261223a205b312c20322e352c206e756c6c5d2c202262223a2022785c6e79227d", "{\"a\": [1, 2.5, null], \"b\": \"x\\ny\"}"),
        (114, "3137", "17"),
        (3802, "017b226b223a207b226e223a20747275657d7d", "{\"k\": {\"n\": true}}"),
        (3802, "01226a757374206120737472696e6722", "\"just a string\""),
        (3802, "016e756c6c", "null"),
        (3802, "015b312c20322e35305d", "[1, 2.50]"),
        (2950, "a0eebc999c0b4ef8bb6d6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        (2950, "00000000000000000000000000000000", "00000000-0000-0000-0000-000000000000"),
        (2950, "ffffffffffffffffffffffffffffffff", "ffffffff-ffff-ffff-ffff-ffffffffffff"),
        (1082, "00002279", "2024-02-29"),
        (1082, "00000000", "2000-01-01"),
        (1082, "ffffffff", "1999-12-31"),
        (1082, "7fffffff", "infinity"),
        (1082, "80000000", "-infinity"),
        (1082, "fff49d7b", "0044-03-15 BC"),
        (1082, "ffda9915", "4713-11-24 BC"),
        (1082, "7fda970c", "5874897-12-31"),
        (1082, "fff4dbf9", "0001-01-01"),
        (1082, "fff4dbf8", "0001-12-31 BC"),
        (1082, "0039a81f", "12345-06-07"),
        (1083, "0000000000000000", "00:00:00"),
        (1083, "0000000b8675b020", "13:45:00.5"),
        (1083, "000000141dd75fff", "23:59:59.999999"),
        (1083, "000000141dd76000", "24:00:00"),
        (1083, "0000000000000001", "00:00:00.000001"),
        (1266, "0000000b866e0f00ffffe3e0", "13:45:00+02"),
        (1266, "0000000b8675b02000004d58", "13:45:00.5-05:30"),
        (1266, "000000000000000000000000", "00:00:00+00"),
        (1266, "0000000a0eebb000ffffaf06", "12:00:00+05:45:30"),
        (1266, "000000141dd75fff0000e0c4", "23:59:59.999999-15:59"),
        (1266, "00000000dde878c0ffffffff", "01:02:03+00:00:01"),
        (1114, "0002b5843bfc5140", "2024-02-29 13:45:00.123456"),
        (1114, "0000000000000000", "2000-01-01 00:00:00"),
        (1114, "fffffffffff85ee0", "1999-12-31 23:59:59.5"),
        (1114, "7fffffffffffffff", "infinity"),
        (1114, "8000000000000000", "-infinity"),
        (1114, "ff1af9e8fb46d000", "0044-03-15 12:00:00 BC"),
        (1114, "fd0f9983eb0ae000", "4713-11-24 00:00:00 BC"),
        (1114, "7fffff5bb3b29fff", "294276-12-31 23:59:59.999999"),
        (1114, "fffca2fec4c84710", "1970-01-01 00:00:00.01"),
        (1114, "fff4ce7e1cbfb8c0", "1900-02-28 01:02:03"),
        (1184, "0002b5843bfc5140", "2024-02-29 13:45:00.123456+00"),
        (1184, "0002b57f9fce6900", "2024-02-29 08:15:00+00"),
        (1184, "7fffffffffffffff", "infinity"),
        (1184, "8000000000000000", "-infinity"),
        (1184, "ff1af9e8fb46d000", "0044-03-15 12:00:00+00 BC"),
        (1184, "fff4c9ee7c0b8000", "1900-01-01 00:00:00+00"),
        (1184, "7fffff5bb3b29fff", "294276-12-31 23:59:59.999999+00"),
        (1184, "fd0f9983eb0ae000", "4713-11-24 00:00:00+00 BC"),
        (1186, "00000000000000000000000000000000", "PT0S"),
        (1186, "00000001ad2748000000000100000000", "P1DT2H"),
        (1186, "000000036c9361a0000000030000000e", "P1Y2M3DT4H5M6.5S"),
        (1186, "00000001ad274800ffffffff00000000", "P-1DT2H"),
        (1186, "fffffffffff85ee00000000000000000", "PT-0.5S"),
        (1186, "000000000000000000000000fffffff2", "P-1Y-2M"),
        (1186, "0000000000000000000000000000000e", "P1Y2M"),
        (1186, "fffffffffff0bdbf0000000000000000", "PT-1.000001S"),
        (1186, "0001476b081e80000000000000000000", "PT100000H"),
        (1186, "00000000000000010000000000000000", "PT0.000001S"),
        (1186, "fffffffd6df6f800fffffff900000000", "P-7DT-3H-4M"),
        (1007, "000000000000000000000017", "{}"),
        (1007, "000000010000000100000017000000030000000100000004000000010000000400000002ffffffff", "{1,2,NULL}"),
        (1007, "000000020000000000000017000000020000000100000002000000010000000400000001000000040000000200000004000000030000000400000004", "{{1,2},{3,4}}"),
        (1007, "000000010000000000000017000000020000000000000004000000010000000400000002", "[0:1]={1,2}"),
        (1007, "0000000200000000000000170000000200000001000000010000000100000004000000010000000400000002", "{{1},{2}}"),
        (1009, "000000010000000100000019000000040000000100000003612c6200000003632264000000044e554c4cffffffff", "{\"a,b\",\"c\\\"d\",\"NULL\",NULL}"),
        (1009, "00000001000000000000001900000002000000010000000000000002c3a9", "{\"\",é}"),
        (1022, "0000000100000000000002bd0000000400000001000000083ff8000000000000000000087ff800000000000000000008fff0000000000000000000088000000000000000", "{1.5,NaN,-Infinity,-0}"),
        (1231, "0000000100000000000006a400000003000000010000000c0002000000000002000103e80000000800000000c00000000000000800000000f0000020", "{1.10,NaN,-Infinity}"),
        (1000, "000000010000000100000010000000030000000100000001010000000100ffffffff", "{t,f,NULL}"),
        (1001, "0000000100000001000000110000000200000001000000020a0bffffffff", "{\"\\\\x0a0b\",NULL}"),
        (3807, "000000010000000000000eda000000020000000100000009017b2261223a20317d00000007015b312c20325d", "{\"{\\\"a\\\": 1}\",\"[1, 2]\"}"),
        (199, "0000000100000001000000720000000200000001000000087b2261223a20317dffffffff", "{\"{\\\"a\\\": 1}\",NULL}"),
        (1185, "0000000100000000000004a00000000200000001000000080002b0ec8515f340000000087fffffffffffffff", "{\"2024-01-02 03:04:05+00\",infinity}"),
        (1182, "00000001000000000000043a0000000200000001000000040000223f0000000480000000", "{2024-01-02,-infinity}"),
        (1187, "0000000100000000000004a2000000020000000100000010000000000000000000000001000000000000001000000000d693a4000000000000000000", "{P1D,PT1H}"),
        (2951, "000000010000000000000b86000000010000000100000010a0eebc999c0b4ef8bb6d6bb9bd380a11", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}"),
        (1270, "0000000100000000000004f200000001000000010000000c0000000292555340ffffe3e0", "{03:04:05+02}"),
        (1016, "000000030000000000000014000000020000000100000002000000010000000100000001000000080000000000000001000000080000000000000002000000080000000000000003000000080000000000000004", "{{{1},{2}},{{3},{4}}}"),
    ]

    func testEveryFixtureRendersLikeTheTextPath() throws {
        let types = TypeRegistry()
        for (oid, hex, text) in Self.fixtures {
            let format = try XCTUnwrap(types.binaryFormat(of: oid), "oid \(oid)")
            let viaText = render(text: text, kind: types.kind(of: oid))
            let viaBinary = try XCTUnwrap(render(binary: hexBytes(hex), format: format), "oid \(oid), \(text): rejected")
            XCTAssertEqual(viaBinary, viaText, "oid \(oid), text \(text)")
            try assertValidJSON(viaBinary, "oid \(oid), text \(text)")
        }
    }

    /// A few outputs spelled out, so a change to both paths at once still shows.
    func testExactOutputs() throws {
        let cases: [(BinaryFormat, String, String)] = [
            (.int4, "0000002a", "42"),
            (.int8, "8000000000000000", "-9223372036854775808"),
            (.float8, "8000000000000000", "-0"),
            (.float8, "3fb999999999999a", "0.1"),
            (.float8, "430c6bf526340000", "1e+15"),
            (.float8, "0000000000000001", "5e-324"),
            (.float8, "7ff8000000000000", "\"NaN\""),
            (.float8, "fff0000000000000", "\"-Infinity\""),
            (.float4, "49742400", "1e+06"),
            (.float4, "47c35000", "100000"),
            (.numeric, "0002000000000004007b1194", "\"123.4500\""),
            (.numeric, "0000000000000000", "\"0\""),
            (.numeric, "00000000c0000000", "\"NAN\""),
            (.numeric, "00000000d0000000", "\"POSITIVE_INFINITY\""),
            (.numeric, "00000000f0000000", "\"NEGATIVE_INFINITY\""),
            (.money, "00000000000004d2", "\"12.34\""),
            (.money, "fffffffffffffdda", "\"-5.50\""),
            (.money, "0000000000000000", "\"0.00\""),
            (.money, "ffffffffffffffff", "\"-0.01\""),
            (.money, "8000000000000000", "\"-92233720368547758.08\""),
            (.money, "7fffffffffffffff", "\"92233720368547758.07\""),
            (.numeric, "0001fffa4000001503e8", "\"-0.000000000000000000001\""),
            (.bool, "01", "true"),
            (.uuid, "a0eebc999c0b4ef8bb6d6bb9bd380a11", "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\""),
            (.jsonb, "017b7d", "\"{}\""),
            (.json, "6e756c6c", "\"null\""),
            (.bytea, "", "\"\""),
            (.date, "7fffffff", "\"-5877611-06-21Z\""),
            (.date, "fff49d7b", "\"-0043-03-15Z\""),
            (.timestamp, "7fffffffffffffff", "\"+294247-01-10T04:00:25.2Z\""),
            (.timestampWithZone(fractionDigits: 6), "0002b5843bfc5140", "\"2024-02-29T13:45:00.123456Z\""),
            (.timestampWithZone(fractionDigits: 6), "0000000000000000", "\"2000-01-01T00:00:00.000000Z\""),
            (.timestampWithZone(fractionDigits: 3), "0002b5843bfc5140", "\"2024-02-29T13:45:00.123Z\""),
            (.timestampWithZone(fractionDigits: 1), "0000000000000000", "\"2000-01-01T00:00:00.0Z\""),
            (.timestampWithZone(fractionDigits: 0), "0002b5843bfc5140", "\"2024-02-29T13:45:00.123456Z\""),
            (.timestampWithZone(fractionDigits: 0), "0000000000000000", "\"2000-01-01T00:00:00Z\""),
            (.timeWithZone, "0000000b866e0f00ffffe3e0", "\"11:45:00Z\""),
            (.interval, "00000000000000000000000000000000", "\"P0Y0M0DT0H0M0S\""),
            (.interval, "7fffffffffffffff7fffffff7fffffff", "\"infinity\""),
            // The longest texts of their types (they are built in a fixed-size ShortText).
            (.interval, "80000000000000018000000080000001", "\"P-178956970Y-7M-2147483648DT-2562047788H0M-54.775807S\""),
            (.timestampWithZone(fractionDigits: 6), "7fffff5bb3b29fff", "\"+294276-12-31T23:59:59.999999Z\""),
            (.timestampWithZone(fractionDigits: 6), "fd0f7fbdaf17e001", "\"-4712-01-01T00:00:00.000001Z\""),
            (.money, "8000000000000000", "\"-92233720368547758.08\""),
            (.int8, "7fffffffffffffff", "9223372036854775807"),
            (.numeric, "00130010400000070009270f270f270f270f270f270f270f270f270f270f270f270f270f270f270f270f270f2706",
             "\"-" + String(repeating: "9", count: 65) + ".9999999\""),
            (.numeric, "001600144000000200010000000000000000000000000000000000000000000000000000000000000000000000000000000009c4",
             "\"-1" + String(repeating: "0", count: 80) + ".25\""),
            (.array(.int4), "000000000000000000000017", "[]"),
        ]
        for (format, hex, expected) in cases {
            XCTAssertEqual(render(binary: try hexBytes(hex), format: format), expected, "\(format) \(hex)")
        }
    }

    /// Bytes without the format's shape are rejected and leave the buffer untouched.
    func testMalformedValuesAreRejected() throws {
        let cases: [(BinaryFormat, String)] = [
            (.int4, "000000"), (.int8, "00"), (.float8, "0000"), (.bool, ""), (.uuid, "00"),
            (.numeric, "0001"), (.numeric, "000100000000000027"), (.numeric, "0001000000000000ffff"),
            (.numeric, "0000000012340000"), (.jsonb, ""), (.jsonb, "027b7d"), (.date, "00"),
            (.time, "ffffffffffffffff"), (.timeWithZone, "00000000000000000000"), (.interval, "00"), (.money, "00000000"),
            (.time, "000000141dd76001"), (.timeWithZone, "0000000000000000ffff1f00"), (.date, "7ffffffe"),
            (.array(.int4), "00000001"), (.array(.int4), "000000010000000000000017"),
            (.array(.int4), "00000001000000000000001700000001000000010000000800000001"),  // element longer than what is left
            (.array(.int4), "000000010000000000000017000000010000000100000002abcd"),      // element of the wrong size
            (.array(.int4), "0000000100000000000000170000000100000001ffffffff00"),        // trailing byte
            (.array(.int4), "00000007000000000000001700"),                                 // too many dimensions
        ]
        for (format, hex) in cases {
            var json = JSONBuffer()
            json.appendRaw("[")
            let value = try hexBytes(hex)
            XCTAssertFalse(ValueRenderer.appendJSON(binary: value.span, format: format, options: ValueOptions(), to: &json),
                           "\(format) \(hex)")
            XCTAssertEqual(json.bytes, Array("[".utf8), "\(format) \(hex): partial output left behind")
        }
    }

    /// Shortest digits that read back as the same value, for random bit
    /// patterns; the layout against the server is checked end to end
    /// (BinaryModeTests).
    func testFloatsRoundTrip() throws {
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        for _ in 0..<20000 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            let double = Double(bitPattern: state)
            let float = Float(bitPattern: UInt32(truncatingIfNeeded: state >> 16))
            for (output, value, isDouble) in [(render(double: double), double, true), (render(float: float), Double(float), false)] {
                guard value.isFinite else { continue }
                try assertValidJSON(output, output)
                if isDouble {
                    XCTAssertEqual(Double(output).map { $0.bitPattern }, double.bitPattern, output)
                } else {
                    XCTAssertEqual(Float(output).map { $0.bitPattern }, float.bitPattern, output)
                }
            }
        }
    }

    func testRegistryBinaryFormats() {
        var types = TypeRegistry()
        XCTAssertEqual(types.binaryFormat(of: 23), .int4)
        XCTAssertEqual(types.binaryFormat(of: 1007), .array(.int4))
        XCTAssertEqual(types.binaryFormat(of: 1185), .array(.timestampWithZone(fractionDigits: 6)))
        XCTAssertEqual(types.binaryFormat(of: 1185, typeModifier: 2), .array(.timestampWithZone(fractionDigits: 2)))
        XCTAssertEqual(types.binaryFormat(of: 790), .money)
        XCTAssertEqual(types.binaryFormat(of: 791), .array(.money))
        XCTAssertEqual(types.binaryFormat(of: 1043), .text)
        XCTAssertEqual(types.binaryFormat(of: 3802), .jsonb)
        XCTAssertNil(types.binaryFormat(of: 869), "inet has no binary decoder")
        XCTAssertNil(types.binaryFormat(of: 18), "\"char\" prints high bytes as octal escapes: not decoded")
        XCTAssertNil(types.binaryFormat(of: 1020))
        XCTAssertNil(types.binaryFormat(of: 70_000), "unknown types are not decoded")
        types.register(oid: 70_000, name: "mood", kind: .text, binary: .text)
        types.register(oid: 70_001, name: "point3", kind: .text)
        XCTAssertEqual(types.binaryFormat(of: 70_000), .text)
        XCTAssertNil(types.binaryFormat(of: 70_001))
    }

    /// A binary value that does not decode ends the session: the decoder
    /// throws `BinaryModeFallback` naming the column.
    func testUndecodableBinaryValueThrowsFallback() throws {
        let folder = NSTemporaryDirectory() + "binary-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var decoder = ChangeDecoder(pipeline: "p", database: "app", filter: TableFilter(patterns: ["public.*"]),
                                    history: try SchemaHistory(directory: try StateDirectory(path: folder), resumingAfter: nil),
                                    lastPosition: nil)
        var batch = EventBatch()
        let relation = Relation(xid: nil, relationID: 1, namespace: "public", name: "t", replicaIdentity: UInt8(ascii: "d"),
                                columns: [Relation.Column(flags: 1, name: "id", typeOID: 23, typeModifier: -1),
                                          Relation.Column(flags: 0, name: "addr", typeOID: 869, typeModifier: -1)])
        XCTAssertEqual(decoder.columnWithoutBinaryFormat(in: relation)?.column, "addr")
        decoder.begin(finalLSN: LSN(0x100), xid: 7, commitTime: 0)
        try decoder.relation(relation, into: &batch)
        try decoder.insert(Insert(xid: nil, relationID: 1, newTuple: TupleData(columns: [.binary([0, 0, 0, 1]), .null])),
                           into: &batch)
        let line = String(decoding: batch.line(batch.count - 1), as: UTF8.self)
        XCTAssertTrue(line.contains("\"after\":{\"id\":1,\"addr\":null}"), line)
        XCTAssertThrowsError(try decoder.insert(
            Insert(xid: nil, relationID: 1, newTuple: TupleData(columns: [.binary([0, 0, 1]), .null])), into: &batch)) { error in
            XCTAssertEqual((error as? BinaryModeFallback)?.column, "id")
        }
        XCTAssertThrowsError(try decoder.insert(
            Insert(xid: nil, relationID: 1, newTuple: TupleData(columns: [.binary([0, 0, 0, 2]), .binary([2, 24, 0, 4, 10, 0, 0, 1])])),
            into: &batch)) { error in
            XCTAssertEqual((error as? BinaryModeFallback)?.column, "addr")
        }
    }

    // MARK: Helpers

    private func render(text: String, kind: ValueKind) -> String {
        var json = JSONBuffer()
        ValueRenderer.appendJSON(text: Array(text.utf8)[...], kind: kind, options: ValueOptions(), to: &json)
        return String(decoding: json.bytes, as: UTF8.self)
    }

    private func render(binary: [UInt8], format: BinaryFormat) -> String? {
        var json = JSONBuffer()
        guard ValueRenderer.appendJSON(binary: binary.span, format: format, options: ValueOptions(), to: &json) else { return nil }
        return String(decoding: json.bytes, as: UTF8.self)
    }

    private func render(double: Double) -> String {
        var json = JSONBuffer()
        ValueRenderer.appendFloat8(double, to: &json)
        return String(decoding: json.bytes, as: UTF8.self)
    }

    private func render(float: Float) -> String {
        var json = JSONBuffer()
        ValueRenderer.appendFloat4(float, to: &json)
        return String(decoding: json.bytes, as: UTF8.self)
    }

    private func assertValidJSON(_ output: String, _ context: String, file: StaticString = #filePath, line: UInt = #line) throws {
        if (try? JSONSerialization.jsonObject(with: Data(output.utf8), options: .fragmentsAllowed)) == nil {
            XCTFail("not valid JSON: \(output) (\(context))", file: file, line: line)
        }
    }
}
