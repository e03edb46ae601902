import Foundation
import SiphonTestSupport
import XCTest

/// A large source transaction (200,000 rows; 1,000,000 with
/// SIPHON_LARGE_TRANSACTION_ROWS=1000000, which takes about 7 minutes in a
/// debug build on two cores, peak RSS 136 MB) is applied in chunks of
/// `batch_max_events` into one target transaction, committed at its end:
/// the sink holds one chunk at a time, and no reader of the target ever
/// sees part of the transaction.
final class PostgresLargeTransactionTests: XCTestCase {
    func testALargeTransactionIsAppliedInChunksAndCommittedWhole() async throws {
        let rows = ProcessInfo.processInfo.environment["SIPHON_LARGE_TRANSACTION_ROWS"].flatMap { Int($0) } ?? 200_000
        let pair = try ReplicaHarness(sourceSettings: ["logical_decoding_work_mem": "64MB"])
        try pair.sourceSQL("CREATE TABLE big (id int PRIMARY KEY, v text); INSERT INTO big VALUES (0, 'first')")
        try pair.start(sink: pair.sinkConfiguration { $0.batchMaxEvents = 5_000 })
        try await pair.waitUntilEqual("SELECT * FROM big", expectedRows: 1)
        try pair.sourceSQL("INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, \(rows)) g")

        // Until the commit, the target shows none of the rows, while the
        // sink's transaction already holds some (it has an xid and is
        // between statements or in one).
        var sawChunksBeforeCommit = false
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline {
            let state = try pair.targetSQL("""
                SELECT (SELECT count(*) FROM big), (SELECT count(*) FROM pg_stat_activity
                  WHERE application_name = 'siphon-sink' AND backend_xid IS NOT NULL)
                """).split(separator: "|")
            let visible = Int(state[0]) ?? -1
            XCTAssertTrue(visible == 1 || visible == rows + 1, "a reader saw \(visible) rows: part of a source transaction")
            if visible == 1, state[1] == "1" { sawChunksBeforeCommit = true }
            if visible == rows + 1 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        XCTAssertTrue(sawChunksBeforeCommit, "the target transaction never held rows before its commit")
        XCTAssertEqual(try pair.targetSQL("SELECT count(*), sum(length(v)) FROM big"), "\(rows + 1)|\(rows * 32 + 5)")
        try await pair.waitUntilEqual("SELECT count(*), md5(string_agg(id || v, ',' ORDER BY id)) FROM big")
        try await pair.stop()
    }
}
