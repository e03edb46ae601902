import Foundation
import SiphonTestSupport
import XCTest

/// `source.binary: true` (pgoutput's binary mode) against a real PostgreSQL:
/// the events are byte for byte those of text mode, for every type the
/// binary decoder handles, and a column it does not handle switches the
/// stream back to text without changing the output.
final class BinaryModeTests: PostgresTestCase {
    /// Two pipelines on the same database and the same transactions, one
    /// streaming text and one binary. Every event line must be identical but
    /// for the top-level `ts_*` (when Siphon processed it) and the first LSN
    /// of `source.sequence` (the previous commit the session saw): ids,
    /// positions, `lsn`, `txId` and commit times coincide because the
    /// transactions do.
    func testBinaryEventsAreIdenticalToTextEvents() throws {
        // Small enough that the 3000-row transaction below is streamed (and spilled) before it commits.
        try server.psql("ALTER SYSTEM SET logical_decoding_work_mem = '64kB'; SELECT pg_reload_conf()")
        let text = try PipelineHarness(server: server, snapshot: "never", extraSource: "  binary: false", setup: Self.schema)
        let binary = try PipelineHarness(server: server, snapshot: "never")
        // No `binary:` key: binary mode is the default.
        try binary.writeConfig(tables: ["public.*"], snapshot: "never",
                               url: "host=127.0.0.1 port=\(server.port) dbname=\(text.database) user=postgres password=${TEST_PGPASSWORD}")
        let textProcess = try text.start()
        let binaryProcess = try binary.start()
        try textProcess.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try binaryProcess.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        XCTAssertTrue(textProcess.stderrText.contains("values=text"), textProcess.stderrText)
        XCTAssertTrue(binaryProcess.stderrText.contains("values=binary"), binaryProcess.stderrText)

        try text.sql(Self.edgeRows)
        try text.sql("UPDATE kinds SET t = t || '!', i4 = i4 - 1, iv = iv * 2 WHERE id = 1")
        try text.sql("DELETE FROM kinds WHERE id = 2")
        try text.sql(Self.randomFloatRows(count: 3000))
        try text.sql("UPDATE floats SET f8 = -f8, f4 = -f4 WHERE id <= 10")
        try text.sql("TRUNCATE floats")
        // inet has no binary decoder: the binary pipeline must fall back to text, and the output stay the same.
        try text.sql("ALTER TABLE kinds ADD COLUMN addr inet; INSERT INTO kinds (id, addr) VALUES (4, '10.0.0.1/8')")
        try text.sql("INSERT INTO kinds (id, t) VALUES (5, 'after the fallback')")
        let expected = 3 + 1 + 1 + 3000 + 10 + 1 + 1 + 1
        try text.waitForRowEvents(expected, timeout: .seconds(120), process: textProcess)
        try binary.waitForRowEvents(expected, timeout: .seconds(120), process: binaryProcess)
        try text.stop(textProcess)
        try binary.stop(binaryProcess)

        XCTAssertTrue(binaryProcess.stderrText.contains("streaming values in text form from now on"), binaryProcess.stderrText)
        XCTAssertTrue(binaryProcess.stderrText.contains("values=text"), "reconnected in text mode")
        let textLines = try lines(text.outputPath)
        let binaryLines = try lines(binary.outputPath)
        XCTAssertEqual(textLines.count, binaryLines.count)
        var differences = 0
        for (index, (textLine, binaryLine)) in zip(textLines, binaryLines).enumerated() where textLine != binaryLine {
            differences += 1
            if differences <= 5 { XCTFail("line \(index + 1) differs:\ntext:   \(textLine)\nbinary: \(binaryLine)") }
        }
        XCTAssertEqual(differences, 0)

        // Spot checks that the values are the ones meant (both outputs are equal, so either will do).
        let rows = try binary.rowEvents()
        let edge = try XCTUnwrap(rows.first { ($0[path: "after.id"] as? Int) == 1 && $0["op"] as? String == "c" })
        XCTAssertEqual(edge[path: "after.f8nan"] as? String, "NaN")
        XCTAssertEqual(edge[path: "after.nnum"] as? String, "NEGATIVE_INFINITY", "numeric infinity as Debezium writes it")
        XCTAssertEqual(edge[path: "after.d"] as? String, "-0043-03-15Z", "44 BC is year -43 in ISO 8601")
        XCTAssertEqual(edge[path: "after.ttz"] as? String, "06:14:30Z", "time with time zone in UTC")
        XCTAssertEqual(edge[path: "after.nested"] as? String, "7.50", "a domain over a domain renders as its base type")
        let update = try XCTUnwrap(rows.first { $0["op"] as? String == "u" && $0[path: "source.table"] as? String == "kinds" })
        XCTAssertEqual(update[path: "before.i4"] as? Int, 2147483647, "REPLICA IDENTITY FULL: the whole old row")
        XCTAssertEqual(rows.last?[path: "after.t"] as? String, "after the fallback")
        XCTAssertEqual(edge[path: "after.adom"] as? [Int], [1, 2], "an array of a domain renders as its base type's array")
        let inet = try XCTUnwrap(rows.first { ($0[path: "after.id"] as? Int) == 4 && $0[path: "source.table"] as? String == "kinds" })
        XCTAssertEqual(inet[path: "after.addr"] as? String, "10.0.0.1/8")
    }

    /// The initial snapshot renders rows from COPY data (binary form, or
    /// text when a column's type has no binary decoder) on a path of its
    /// own; a row read by it must carry exactly the `after` and `key` bytes
    /// of the same row streamed. Covers every type above in binary COPY,
    /// and in text COPY the escapes it writes (tab, newline, backslash),
    /// NULLs, and a key of two columns neither first nor in key order.
    func testSnapshotRowsReadExactlyLikeStreamedRows() throws {
        let streamed = try PipelineHarness(server: server, snapshot: "never", setup: Self.schema + """

            CREATE TABLE pairs (note text, b int, a int, extra text, addr inet, PRIMARY KEY (a, b));
            """)
        let process = try streamed.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try streamed.sql(Self.edgeRows)
        try streamed.sql("""
            INSERT INTO pairs VALUES (E'tab\\there\\nnew line \\\\ back', 2, 1, NULL, '10.0.0.1/8'), ('plain', 1, 2, E'\\\\N', NULL),
                                     (NULL, -5, 3, '', '::1');
            """)
        let live = try streamed.waitForRowEvents(6, process: process)
        try streamed.stop(process)

        let snapshot = try PipelineHarness(server: server, snapshot: "initial")
        try snapshot.writeConfig(tables: ["public.kinds", "public.pairs"], snapshot: "initial",
                                 url: "host=127.0.0.1 port=\(server.port) dbname=\(streamed.database) user=postgres password=${TEST_PGPASSWORD}")
        let reader = try snapshot.start()
        let read = try snapshot.waitForRowEvents(6, process: reader)
        try snapshot.stop(reader)
        XCTAssertTrue(read.allSatisfy { $0["op"] as? String == "r" })
        // kinds is read in binary COPY form; pairs, with an inet column, in text form.
        XCTAssertTrue(reader.stderrText.contains("table=public.kinds values=binary"), reader.stderrText)
        XCTAssertTrue(reader.stderrText.contains("table=public.pairs values=text"), reader.stderrText)
        XCTAssertEqual(live.first { $0[path: "source.table"] as? String == "pairs" }?[path: "key"] as? [String: Int], ["b": 2, "a": 1],
                       "key members in column order")

        /// Each row's raw `after` JSON, by table and raw `key` JSON. The
        /// envelope's field order is fixed and `source` has no nested
        /// object, so plain searches cut the line apart.
        func images(_ path: String) throws -> [String: String] {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            var result: [String: String] = [:]
            for line in text.split(separator: "\n") where line.contains("\"op\":\"c\"") || line.contains("\"op\":\"r\"") {
                guard let after = line.range(of: ",\"after\":"), let source = line.range(of: ",\"source\":{"),
                      let sourceEnd = line[source.upperBound...].firstIndex(of: "}"),
                      let table = line[source.upperBound..<sourceEnd].range(of: "\"table\":"),
                      let key = line[sourceEnd...].range(of: ",\"key\":"),
                      let schema = line[key.upperBound...].range(of: ",\"schema_version\":")
                else {
                    XCTFail("cannot cut \(line)")
                    continue
                }
                let tableName = line[table.upperBound...].prefix { $0 != "," }
                result["\(tableName) \(line[key.upperBound..<schema.lowerBound])"] = String(line[after.upperBound..<source.lowerBound])
            }
            return result
        }
        let liveImages = try images(streamed.outputPath)
        let readImages = try images(snapshot.outputPath)
        XCTAssertEqual(liveImages.count, 6)
        XCTAssertEqual(Set(readImages.keys), Set(liveImages.keys), "the same keys, rendered the same")
        for (key, after) in liveImages {
            XCTAssertEqual(readImages[key], after, "the snapshot's after of \(key)")
        }
    }

    /// A captured column of a type without a binary decoder keeps the session in text mode from the start.
    func testUnsupportedColumnKeepsBinaryOff() throws {
        let pipeline = try PipelineHarness(server: server, snapshot: "never", extraSource: "  binary: true",
                                           setup: "CREATE TABLE hosts (id int PRIMARY KEY, addr inet, seen timestamptz)")
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try pipeline.sql("INSERT INTO hosts VALUES (1, '192.168.0.1/24', '2024-02-29 13:45:00+00')")
        let rows = try pipeline.waitForRowEvents(1, process: process)
        try pipeline.stop(process)
        let log = process.stderrText
        XCTAssertTrue(log.contains("values=text"), log)
        XCTAssertTrue(log.contains("column=addr") && log.contains("type=inet"), "the log names what keeps binary off:\n\(log)")
        XCTAssertFalse(log.contains("from now on"), "no fallback needed: binary was never switched on")
        XCTAssertEqual(rows.first?[path: "after.addr"] as? String, "192.168.0.1/24")
        XCTAssertEqual(rows.first?[path: "after.seen"] as? String, "2024-02-29T13:45:00.000000Z")
    }

    // MARK: Fixtures

    /// Every type the binary decoder handles, with REPLICA IDENTITY FULL so
    /// that updates and deletes carry whole old rows (and every column is a key column).
    private static let schema = """
        CREATE TYPE mood AS ENUM ('sad', 'happy', 'très "content"');
        CREATE DOMAIN positive AS int CHECK (VALUE > 0);
        CREATE DOMAIN price AS numeric(10,2);
        CREATE DOMAIN discounted AS price;
        CREATE TABLE kinds (
          id int PRIMARY KEY, i2 smallint, i4 int, i8 bigint, o oid,
          f8 float8, f8nan float8, f8inf float8, f8ninf float8, f8neg0 float8, f8sub float8, f8max float8, f8big float8,
          f4 real, f4nan real, f4ninf real, f4neg0 real, f4max real, f4sub real,
          num numeric, numfix numeric(30,10), nnan numeric, ninf numeric, nnum numeric, nneg numeric, nsmall numeric,
          b bool, t text, vc varchar(20), ch char(5), nm name,
          j json, jb jsonb, by bytea, byempty bytea, u uuid,
          d date, dinf date, dninf date, dfar date,
          tm time, tmmax time, ttz timetz, ttzneg timetz, ttzutc timetz,
          ts timestamp, tsinf timestamp, tsbc timestamp,
          tstz timestamptz, tstzninf timestamptz, tstzbc timestamptz, tstzfar timestamptz,
          iv interval, ivneg interval, ivzero interval,
          m mood, dom positive, nested discounted,
          ai int[], aempty int[], amulti int[], abounds int[], at text[], anum numeric[], af8 float8[], ab bool[],
          aby bytea[], ajb jsonb[], aj json[], ad date[], atstz timestamptz[], aiv interval[], au uuid[], attz timetz[],
          amood mood[], adom positive[], a3 bigint[]);
        ALTER TABLE kinds REPLICA IDENTITY FULL;
        CREATE TABLE floats (id int PRIMARY KEY, f8 float8, f4 real, af8 float8[]);
        """

    private static let edgeRows = """
        INSERT INTO kinds VALUES (1, -32768, 2147483647, -9223372036854775808, 4294967295,
          0.1, 'NaN', 'Infinity', '-Infinity', '-0', 1e-320, 1.7976931348623157e308, 123456789012345680,
          0.1, 'NaN', '-Infinity', '-0', 3.4028235e38, 1e-45,
          12345678901234567890.0123456789, -123.45, 'NaN', 'Infinity', '-Infinity', -0.000000000000000000001, 1e-30,
          true, E'quote " back \\\\ nl \\n tab \\t ctl \\u0001 é ✓ 🐘', 'short', 'ab', 'pg_class',
          '{ "a" : [1, 2.50, null], "u": "\\u00e9" }', '{"k": {"n": true, "s": "x\\ny"}, "f": 1.50}', '\\x00ff10deadbeef', '',
          'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
          '0044-03-15 BC', 'infinity', '-infinity', '5874897-12-31',
          '13:45:00.5', '24:00:00', '12:00:00+05:45:30', '23:59:59.999999-15:59', '00:00:00+00',
          '2024-02-29 13:45:00.123456', 'infinity', '4713-11-24 00:00:00 BC',
          '2024-02-29 13:45:00+05:30', '-infinity', '0044-03-15 12:00:00+00 BC', '294276-12-31 23:59:59.999999+00',
          '1 year 2 months 3 days 4 hours 5 minutes 6.5 seconds', '-1 year -2 months +3 days -0.000001 seconds', '0',
          'très "content"', 7, 7.5,
          '{1,NULL,3}', '{}', '{{1,2},{NULL,4}}', '[0:1]={5,6}', '{"a,b","c\\"d","NULL",NULL,"",é}',
          '{1.10,NaN,-Infinity,0}', '{1.5,NaN,-0,1e-320}', '{t,f,NULL}',
          '{"\\\\x0a0b",NULL,"\\\\x"}', '{"{\\"a\\": 1}","[1, 2]",null}', '{"{\\"b\\": [true]}"}',
          '{2024-01-02,-infinity,0044-03-15 BC}', '{"2024-01-02 03:04:05.5+00",infinity}', '{P1D,PT1H,P-1M}',
          '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}', '{03:04:05+02,00:00:00-00:30}',
          '{sad,happy,NULL}', '{1,2}', '{{{1},{2}},{{3},{NULL}}}'),
        (2, 32767, -2147483648, 9223372036854775807, 0,
          -1.5, 0, 1e15, 1e-5, 100, -2.2250738585072014e-308, 4.9e-324, 9007199254740993,
          -2.5, 16777216, 100000, 1e6, 1.5e-5, 0.0001,
          0, 99999999.99, 0.0001, 10000, -42, 1e20, 0.5,
          false, '', 'vc', '', 'n',
          '17', '"just a string"', '\\x', '\\x00', '00000000-0000-0000-0000-000000000000',
          '2000-01-01', '1999-12-31', '0001-12-31 BC', '12345-06-07',
          '00:00:00', '00:00:00.000001', '01:02:03+00:00:01', '12:00:00-05', '12:00:00+14',
          '1970-01-01 00:00:00.01', '1900-02-28 01:02:03', '0001-01-01 00:00:00',
          '1999-12-31 23:59:59.5+00', '2000-01-01 00:00:00+00', '1900-01-01 00:00:00-03:30', '5000-01-01 00:00:00+00',
          '100000 hours', '-7 days -3 hours -4 minutes', '1 microsecond',
          'sad', 1, 0.01,
          '{-1}', NULL, '{{1},{2}}', '[-3:-2][1:1]={{1},{2}}', '{"  padded  "}', '{-0.0001}', '{Infinity}', '{}',
          '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}'),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
          NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
          NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
          NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
          NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
          NULL)
        """

    /// One transaction of rows with floats from random bit patterns (fixed
    /// seed), written with enough digits to read back exactly.
    private static func randomFloatRows(count: Int) -> String {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        func double() -> String {
            while true {
                let value = Double(bitPattern: next())
                if value.isFinite { return "'\(value)'" }
            }
        }
        func float() -> String {
            while true {
                let value = Float(bitPattern: UInt32(truncatingIfNeeded: next() >> 11))
                if value.isFinite { return "'\(value)'" }
            }
        }
        let rows = (1...count).map { id in
            "(\(id), \(double()), \(float()), ARRAY[\(double()), \(double())]::float8[])"
        }
        return "INSERT INTO floats VALUES " + rows.joined(separator: ",\n")
    }

    /// The events file's lines, with what differs between the two pipelines
    /// blanked: the top-level `ts_ms` (processing time) and `source.name`.
    private func lines(_ path: String) throws -> [String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        // When each pipeline processed the event, and the previous commit its
        // session saw (the binary one reconnects at the fallback).
        let replacements = [
            (try NSRegularExpression(pattern: "\"ts_ms\":[0-9]+,\"ts_us\":[0-9]+,\"ts_ns\":[0-9]+,\"(key|databaseName|message)\":"),
             "\"ts_ms\":0,\"ts_us\":0,\"ts_ns\":0,\"$1\":"),
            (try NSRegularExpression(pattern: "\"sequence\":\"\\[[^,]*,"), "\"sequence\":\"[?,"),
            (try NSRegularExpression(pattern: "\"connector\":\"postgresql\",\"name\":\"[^\"]*\""),
             "\"connector\":\"postgresql\",\"name\":\"p\""),
        ]
        return text.split(separator: "\n").map { line in
            var line = String(line)
            for (pattern, template) in replacements {
                line = pattern.stringByReplacingMatches(in: line, range: NSRange(line.startIndex..., in: line), withTemplate: template)
            }
            return line
        }
    }
}
