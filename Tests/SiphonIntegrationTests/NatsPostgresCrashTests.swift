import Foundation
import NatsTesting
import SiphonCore
import SiphonTestSupport
import XCTest

/// `siphon run` from PostgreSQL into a real nats-server's JetStream stream,
/// with the random workload and audit table of `KafkaPostgresCrashTests`:
/// siphon killed with SIGKILL in a loop, and the NATS server stopped for a
/// while mid-stream. The stream must end with exactly one message per
/// change (counted by event id), in commit order per key.
final class NatsPostgresCrashTests: PostgresTestCase {
    /// A pipeline into `stream` (duplicate window 1 s, so restarts spaced
    /// further apart than it get no help from `Nats-Msg-Id`), with quick
    /// retries.
    private func harness(nats: NatsServer, stream: String, transactionMetadata: Bool = false) throws -> PipelineHarness {
        let pipeline = try PipelineHarness(server: server, tables: ["public.ta", "public.tb", "public.tc"], snapshot: "never",
                                           setup: KafkaPostgresCrashTests.setup, sink: """
                                               type: nats
                                               url: \(nats.url)
                                               stream: {name: \(stream), duplicate_window: 1s}
                                               ack_timeout: 2s
                                               transaction_metadata: \(transactionMetadata)
                                               """)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: pipeline.configPath))
        handle.seekToEndOfFile()
        handle.write(Data("retry_delay: 200ms\nmax_retry_delay: 2s\n".utf8))
        try handle.close()
        return pipeline
    }

    func testKillNineInALoopDuringARandomWorkloadLeavesEveryChangeInTheStreamExactlyOnce() throws {
        let nats = try NatsServer.start()
        // With transaction metadata: BEGIN and END must be exactly once too,
        // END counting every change of its transaction across the kills.
        let pipeline = try harness(nats: nats, stream: "CRASH", transactionMetadata: true)
        var process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        let seed = Double(UInt8.random(in: 0...200)) / 200 - 0.5
        let writer = try ChildProcessRunner.start(server: server, database: pipeline.database,
                                                  sql: "CALL workload(9000, \(seed))")
        var kills = 0
        for round in 0..<9 {
            guard writer.isRunning else { break }
            // Some runs outlast the 1 s checkpoint interval, some do not.
            Thread.sleep(forTimeInterval: 0.3 + Double(round % 3) * 0.5)
            process.signal(SIGKILL)
            _ = try process.waitForExit(timeout: .seconds(10))
            kills += 1
            // Longer than the stream's duplicate window: Nats-Msg-Id alone cannot absorb a repeat.
            Thread.sleep(forTimeInterval: 1.2)
            process = try pipeline.start()
        }
        XCTAssertGreaterThanOrEqual(kills, 8, "kills during the workload (make it longer)")
        XCTAssertEqual(try writer.waitForExit(timeout: .seconds(180)), 0, "seed \(seed): \(writer.stderrText)")
        let messages = try expectEveryChangeOnce(pipeline: pipeline, nats: nats, stream: "CRASH", process: process, seed: seed)
        try checkTransactionMetadata(messages.filter { $0.subject == "\(pipeline.name).transaction" }, pipeline: pipeline, seed: seed)
        try pipeline.stop(process)
    }

    /// The server stops for `SIPHON_NATS_OUTAGE_SECONDS` (default 30) while
    /// the workload goes on, and starts again on the same store. Meanwhile
    /// siphon keeps running, and the slot's confirmed position does not
    /// move (nothing is acknowledged that the stream does not hold); after
    /// it, every change is in the stream once.
    func testTheServerStoppedMidStreamLosesAndRepeatsNothing() throws {
        let outage = Double(ProcessInfo.processInfo.environment["SIPHON_NATS_OUTAGE_SECONDS"] ?? "") ?? 30
        let nats = try NatsServer.start()
        let pipeline = try harness(nats: nats, stream: "OUTAGE")
        let process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        let seed = Double(UInt8.random(in: 0...200)) / 200 - 0.5
        let transactions = 2000 + Int(outage * 300)
        let writer = try ChildProcessRunner.start(server: server, database: pipeline.database,
                                                  sql: "CALL workload(\(transactions), \(seed))")
        let client = try nats.client()
        try eventually(timeout: .seconds(30), "some changes in the stream before the outage") {
            try client.messages(stream: "OUTAGE").count > 200
        }
        try nats.stop()
        // A checkpoint of what was acknowledged before the stop may still reach the slot.
        Thread.sleep(forTimeInterval: 2.5)
        let slot = "slot_\(pipeline.name)"
        let confirmed = "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '\(slot)'"
        let changes = "SELECT count(*) FROM audit"
        let atStop = try server.psql(confirmed, database: pipeline.database)
        let changesAtStop = Int(try server.psql(changes, database: pipeline.database).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        Thread.sleep(forTimeInterval: max(0, outage - 2.5))
        let beforeRestart = try server.psql(confirmed, database: pipeline.database)
        let changesBeforeRestart = Int(try server.psql(changes, database: pipeline.database).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        XCTAssertGreaterThan(changesBeforeRestart, changesAtStop, "changes were committed during the outage (make the workload longer)")
        XCTAssertTrue(process.isRunning, "siphon waits for the server: \(process.stderrText.suffix(2000))")
        XCTAssertEqual(beforeRestart, atStop, "the slot's confirmed position moved while the NATS server was down")
        XCTAssertTrue(process.stderrText.contains("cannot reach NATS at \(nats.url)"), process.stderrText.suffix(3000).description)
        try nats.start()
        XCTAssertEqual(try writer.waitForExit(timeout: .seconds(240)), 0, "seed \(seed): \(writer.stderrText)")
        try expectEveryChangeOnce(pipeline: pipeline, nats: nats, stream: "OUTAGE", process: process, seed: seed)
        try eventually(timeout: .seconds(30), "the slot's confirmed position moves again") {
            try server.psql(confirmed, database: pipeline.database) != beforeRestart
        }
        try pipeline.stop(process)
    }

    /// Every change of the audit table is in the stream once (by event id),
    /// and each key's changes are in commit order. Returns the stream's messages.
    @discardableResult
    private func expectEveryChangeOnce(pipeline: PipelineHarness, nats: NatsServer, stream: String, process: SiphonProcess,
                                       seed: Double) throws -> [NatsTestClient.Message] {
        let audit = try server.psql("SELECT tbl || ' ' || op || ' ' || k FROM audit ORDER BY seq", database: pipeline.database)
            .split(separator: "\n").map(String.init)
        let rowPrefix = "\(pipeline.name).public."
        let client = try nats.client()
        var messages: [NatsTestClient.Message] = []
        do {
            try eventually(timeout: .seconds(90), "\(audit.count) row messages in the stream") {
                guard process.isRunning else { throw TestSupportError("siphon exited:\n\(process.stderrText.suffix(3000))") }
                messages = try client.messages(stream: stream)
                return messages.filter { $0.subject.hasPrefix(rowPrefix) }.count >= audit.count
            }
        } catch {
            throw TestSupportError("seed \(seed): \(error); have \(messages.filter { $0.subject.hasPrefix(rowPrefix) }.count); stderr:\n\(process.stderrText.suffix(3000))")
        }
        // Nothing more arrives (a late repeat would show here).
        Thread.sleep(forTimeInterval: 1.5)
        messages = try client.messages(stream: stream)

        XCTAssertEqual(messages.compactMap { $0.headers["siphon-id"] }.count, messages.count, "every message carries its event id")
        // BEGIN shares its first event's position and END its last's: message ids tell them apart.
        let ids = messages.compactMap { $0.headers["Nats-Msg-Id"] }
        XCTAssertEqual(ids.count, messages.count)
        XCTAssertEqual(Set(ids).count, ids.count,
                       "seed \(seed): message ids in the stream twice: \(Dictionary(grouping: ids) { $0 }.filter { $0.value.count > 1 }.keys.sorted().prefix(5))")
        let order = ids.map { id in (id.prefix(32), id.hasSuffix("-begin") ? 0 : id.hasSuffix("-end") ? 2 : 1) }
        XCTAssertTrue(zip(order, order.dropFirst()).allSatisfy { $0 < $1 },
                      "seed \(seed): the stream holds the messages in position order, BEGIN before and END after their events")

        var streamByKey: [String: [String]] = [:]
        var rows = 0
        for message in messages where message.subject.hasPrefix(rowPrefix) {
            rows += 1
            let table = String(message.subject.dropFirst(rowPrefix.count))
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(message.data.utf8)) as? [String: Any])
            let key = try XCTUnwrap(object["key"] as? [String: Any], "key of \(message.data)")
            let keyText = key.keys.sorted().map { "\($0)=\(key[$0]!)" }.joined(separator: ",")
            XCTAssertEqual(message.headers["siphon-op"], object["op"] as? String)
            streamByKey["\(table) \(keyText)", default: []].append(object["op"] as? String ?? "?")
        }
        var auditByKey: [String: [String]] = [:]
        for change in audit {
            let parts = change.split(separator: " ")
            auditByKey["\(parts[0]) \(parts[2])", default: []].append(String(parts[1]))
        }
        XCTAssertEqual(rows, audit.count, "seed \(seed): one row message per change")
        for key in Set(auditByKey.keys).union(streamByKey.keys).sorted() where auditByKey[key] != streamByKey[key] {
            XCTFail("seed \(seed): \(key): committed \(auditByKey[key] ?? []), in the stream \(streamByKey[key] ?? [])")
        }
        for op in [" c ", " u ", " d "] { XCTAssertTrue(audit.contains { $0.contains(op) }, "no\(op)change") }
        return messages
    }

    /// The transaction messages, with their `siphon-transaction` header, checked by `TransactionMetadataCheck`.
    private func checkTransactionMetadata(_ messages: [NatsTestClient.Message], pipeline: PipelineHarness, seed: Double) throws {
        for message in messages {
            let status = (try? JSONSerialization.jsonObject(with: Data(message.data.utf8)) as? [String: Any])?["status"] as? String
            XCTAssertEqual(message.headers["siphon-transaction"], status)
        }
        try TransactionMetadataCheck.check(messages.map { .init(value: $0.data, headers: $0.headers) }, server: server,
                                           database: pipeline.database, seed: seed)
    }
}
