import Foundation
import SiphonTestSupport
import XCTest

/// The SQLite source on databases that are legal but unkind: huge rows, shadowed rowids.
final class SQLiteHardeningTests: XCTestCase {
    /// One transaction of 2,000 rows of 256 KB blobs is ~680 MB of JSON: it must reach the
    /// file in batches of about 1 MB, not as one batch held in memory whole.
    func testATransactionOfLargeRowsStaysInBoundedMemory() throws {
        let harness = try SQLiteHarness(setup: "CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB);", snapshot: "never")
        let process = try harness.start()
        try process.waitFor(stderrContaining: "capturing", timeout: .seconds(30))
        let rows = 2_000
        try harness.sql("""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(rows))
            INSERT INTO blobs SELECT i, zeroblob(262144) FROM n;
            """)
        let keys = KeyScanner(path: harness.outputPath)
        try eventually(timeout: .seconds(600), interval: .seconds(1), "\(rows) row events") {
            guard process.isRunning else { throw TestSupportError("siphon exited:\n\(process.stderrText.suffix(3000))") }
            try keys.scan()
            return keys.ids.count >= rows
        }
        let peakKB = Self.peakResidentKB(pid: process.pid)
        try harness.stop(process)
        try keys.scan()
        XCTAssertEqual(keys.ids, Array(1...rows), "every row once, in order")
        XCTAssertLessThan(peakKB, 256 * 1024, "peak RSS \(peakKB) kB")
    }

    /// A table without a primary key is keyed by its rowid; a column named `rowid` must not
    /// stand in for it, or rows with equal values in that column share a key.
    func testAColumnNamedRowidDoesNotShadowTheKey() throws {
        let harness = try SQLiteHarness(setup: """
            CREATE TABLE t (rowid TEXT, v TEXT);
            INSERT INTO t VALUES ('same', 'a'), ('same', 'b');
            CREATE TABLE u (rowid TEXT, _rowid_ TEXT, v TEXT);
            INSERT INTO u VALUES ('same', 'same', 'a'), ('same', 'same', 'b');
            """)
        let process = try harness.start()
        _ = try harness.waitForRowEvents(4, process: process)
        try harness.sql("""
            INSERT INTO t VALUES ('same', 'c');
            UPDATE t SET v = 'B' WHERE v = 'b';
            DELETE FROM u WHERE v = 'a';
            """)
        let events = try harness.waitForRowEvents(7, process: process)
        try harness.stop(process)
        func summary(_ table: String) -> [String] {
            events.filter { $0[path: "source.table"] as? String == table }.map { event in
                let image = event["after"] is NSNull ? "before" : "after"
                return "\(event["op"] as? String ?? "?") \(event[path: "key.rowid"] ?? "nil") \(event[path: "\(image).v"] ?? "nil") \(event[path: "\(image).rowid"] ?? "nil")"
            }
        }
        XCTAssertEqual(summary("t"), ["r 1 a same", "r 2 b same", "c 3 c same", "u 2 B same"])
        XCTAssertEqual(summary("u"), ["r 1 a same", "r 2 b same", "d 1 a same"], "_rowid_ shadowed too: oid is used")
    }

    static func peakResidentKB(pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return 0
    }
}

/// Reads an events file as it grows and collects `key.id` of each row event, without parsing
/// the (large) rest of each line.
private final class KeyScanner {
    let path: String
    private(set) var ids: [Int] = []
    private var offset: UInt64 = 0
    private var partial: [UInt8] = []
    private static let marker = Array(#","key":{"id":"#.utf8)

    init(path: String) {
        self.path = path
    }

    func scan() throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { return }
        defer { try? handle.close() }
        try handle.seek(toOffset: offset)
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty {
            offset += UInt64(chunk.count)
            var start = chunk.startIndex
            while let newline = chunk[start...].firstIndex(of: UInt8(ascii: "\n")) {
                partial += chunk[start..<newline]
                take(partial)
                partial.removeAll(keepingCapacity: true)
                start = newline + 1
            }
            partial += chunk[start...]
        }
    }

    private func take(_ line: [UInt8]) {
        guard let range = lastRange(of: Self.marker, in: line) else { return }
        let digits = line[range.upperBound...].prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        if let id = Int(String(decoding: digits, as: UTF8.self)) { ids.append(id) }
    }

    private func lastRange(of needle: [UInt8], in line: [UInt8]) -> Range<Int>? {
        guard line.count >= needle.count else { return nil }
        for start in stride(from: line.count - needle.count, through: 0, by: -1)
        where line[start] == needle[0] && Array(line[start..<(start + needle.count)]) == needle {
            return start..<(start + needle.count)
        }
        return nil
    }
}
