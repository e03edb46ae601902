import Foundation
import KafkaTesting
import SiphonCore
import SiphonTestSupport
import XCTest

/// `siphon run` from PostgreSQL into librdkafka's mock cluster (hosted by
/// a helper process, `siphon-kafka-mock`, and reached over TCP, so it keeps
/// its data while siphon is killed with SIGKILL and started again, mid-workload).
final class KafkaPostgresCrashTests: PostgresTestCase {
    /// Three tables (one with a two-column key). A single session commits
    /// random transactions of one to four statements: inserts (of keys
    /// deleted before, too), updates, key changes and deletes, across the
    /// tables. Each change is also written, in the same transaction, to
    /// `audit`, which the pipeline does not capture: the list of changes
    /// Kafka must hold, in commit order, with the transaction that made it.
    static let setup = """
        CREATE TABLE ta (id int PRIMARY KEY, v int);
        CREATE TABLE tb (id int PRIMARY KEY, v text);
        CREATE TABLE tc (a int, b int, v int, PRIMARY KEY (a, b));
        CREATE TABLE audit (seq bigserial PRIMARY KEY, tbl text, op text, k text, tx bigint DEFAULT txid_current());
        CREATE PROCEDURE workload(transactions int, seed float8) LANGUAGE plpgsql AS $$
        DECLARE
          t int; r float8; k int; k2 int; n int; a1 int; b1 int; a2 int; b2 int;
        BEGIN
          PERFORM setseed(seed);
          FOR i IN 1..transactions LOOP
            FOR j IN 1..(1 + floor(random() * 4))::int LOOP
              t := floor(random() * 3)::int;
              r := random();
              IF t < 2 THEN
                -- ta or tb: keys 1..300, so deleted keys come back.
                k := 1 + floor(random() * 300)::int;
                IF t = 0 THEN PERFORM 1 FROM ta WHERE id = k; ELSE PERFORM 1 FROM tb WHERE id = k; END IF;
                IF NOT FOUND THEN
                  IF t = 0 THEN INSERT INTO ta VALUES (k, i); ELSE INSERT INTO tb VALUES (k, 'v' || i); END IF;
                  INSERT INTO audit (tbl, op, k) VALUES (CASE t WHEN 0 THEN 'ta' ELSE 'tb' END, 'c', 'id=' || k);
                ELSIF r < 0.5 THEN
                  IF t = 0 THEN UPDATE ta SET v = v + 1 WHERE id = k; ELSE UPDATE tb SET v = v || '.' WHERE id = k; END IF;
                  INSERT INTO audit (tbl, op, k) VALUES (CASE t WHEN 0 THEN 'ta' ELSE 'tb' END, 'u', 'id=' || k);
                ELSIF r < 0.75 THEN
                  k2 := 1 + floor(random() * 300)::int;
                  IF t = 0 THEN PERFORM 1 FROM ta WHERE id = k2; ELSE PERFORM 1 FROM tb WHERE id = k2; END IF;
                  IF NOT FOUND THEN
                    IF t = 0 THEN UPDATE ta SET id = k2 WHERE id = k; ELSE UPDATE tb SET id = k2 WHERE id = k; END IF;
                    INSERT INTO audit (tbl, op, k) VALUES (CASE t WHEN 0 THEN 'ta' ELSE 'tb' END, 'd', 'id=' || k),
                                                          (CASE t WHEN 0 THEN 'ta' ELSE 'tb' END, 'c', 'id=' || k2);
                  END IF;
                ELSE
                  IF t = 0 THEN DELETE FROM ta WHERE id = k; ELSE DELETE FROM tb WHERE id = k; END IF;
                  INSERT INTO audit (tbl, op, k) VALUES (CASE t WHEN 0 THEN 'ta' ELSE 'tb' END, 'd', 'id=' || k);
                END IF;
              ELSE
                a1 := floor(random() * 15)::int; b1 := floor(random() * 15)::int;
                PERFORM 1 FROM tc WHERE a = a1 AND b = b1;
                IF NOT FOUND THEN
                  INSERT INTO tc VALUES (a1, b1, i);
                  INSERT INTO audit (tbl, op, k) VALUES ('tc', 'c', 'a=' || a1 || ',b=' || b1);
                ELSIF r < 0.5 THEN
                  UPDATE tc SET v = v + 1 WHERE a = a1 AND b = b1;
                  INSERT INTO audit (tbl, op, k) VALUES ('tc', 'u', 'a=' || a1 || ',b=' || b1);
                ELSIF r < 0.75 THEN
                  -- A change of one of the key's two columns.
                  a2 := a1; b2 := floor(random() * 15)::int;
                  PERFORM 1 FROM tc WHERE a = a2 AND b = b2;
                  IF NOT FOUND THEN
                    UPDATE tc SET b = b2 WHERE a = a1 AND b = b1;
                    INSERT INTO audit (tbl, op, k) VALUES ('tc', 'd', 'a=' || a1 || ',b=' || b1),
                                                          ('tc', 'c', 'a=' || a2 || ',b=' || b2);
                  END IF;
                ELSE
                  DELETE FROM tc WHERE a = a1 AND b = b1;
                  INSERT INTO audit (tbl, op, k) VALUES ('tc', 'd', 'a=' || a1 || ',b=' || b1);
                END IF;
              END IF;
            END LOOP;
            COMMIT;
            PERFORM pg_sleep(0.002);
          END LOOP;
        END $$;
        """

    func testKillNineInALoopDuringARandomWorkloadLeavesEveryChangeInKafkaExactlyOnce() throws {
        let prefix = "crash"
        let tables = ["ta", "tb", "tc"]
        let transactionTopic = "\(prefix).transaction"
        var topics = Dictionary(uniqueKeysWithValues: tables.map { ("\(prefix).public.\($0)", Int32(3)) })
        topics[transactionTopic] = 2
        let kafka = try MockKafka.inHelperProcess(topics: topics)
        let pipeline = try PipelineHarness(server: server, tables: ["public.ta", "public.tb", "public.tc"], snapshot: "never",
                                           setup: Self.setup, sink: """
                                               type: kafka
                                               brokers: \(kafka.bootstraps)
                                               prefix: \(prefix)
                                               transaction_metadata: true
                                               properties:
                                                 linger.ms: 5
                                               """)

        var process = try pipeline.start()
        try process.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        let seed = Double(UInt8.random(in: 0...200)) / 200 - 0.5
        let writer = try ChildProcessRunner.start(server: server, database: pipeline.database,
                                                  sql: "CALL workload(2500, \(seed))")
        for round in 0..<8 {
            // Some runs outlast the 1 s checkpoint interval, some do not.
            Thread.sleep(forTimeInterval: 0.3 + Double(round % 3) * 0.5)
            process.signal(SIGKILL)
            _ = try process.waitForExit(timeout: .seconds(10))
            process = try pipeline.start()
        }
        XCTAssertEqual(try writer.waitForExit(timeout: .seconds(120)), 0, "seed \(seed): \(writer.stderrText)")

        // The changes, in commit order (one session wrote them all).
        let audit = try server.psql("SELECT tbl || ' ' || op || ' ' || k FROM audit ORDER BY seq", database: pipeline.database)
            .split(separator: "\n").map(String.init)
        let rowTopics = Set(tables.map { "\(prefix).public.\($0)" })
        var records: [MockKafka.Record] = []
        do {
            try eventually(timeout: .seconds(60), "\(audit.count) row events in Kafka") {
                guard process.isRunning else { throw TestSupportError("siphon exited:\n\(process.stderrText.suffix(3000))") }
                guard kafka.isRunning else { throw TestSupportError("the mock cluster's process exited") }
                records = try kafka.records { rowTopics.contains($0) }
                return records.filter { $0.value != nil }.count >= audit.count
            }
        } catch {
            throw TestSupportError("seed \(seed): \(error); have \(records.filter { $0.value != nil }.count); stderr:\n\(process.stderrText.suffix(3000))")
        }
        try pipeline.stop(process)

        // Every record of the pipeline's event topics (row, schema and message topics).
        let all = try kafka.records { ($0 == prefix || $0.hasPrefix(prefix + ".")) && $0 != transactionTopic }
        let values = all.filter { $0.value != nil }
        let ids = values.compactMap { $0.headers["siphon-id"] }
        XCTAssertEqual(ids.count, values.count, "every record carries its event id")
        XCTAssertEqual(Set(ids).count, ids.count,
                       "seed \(seed): event ids in Kafka twice: \(Dictionary(grouping: ids) { $0 }.filter { $0.value.count > 1 }.keys.sorted().prefix(5))")

        // Per key, the changes in commit order: what the audit says, and positions increasing.
        let rows = all.filter { rowTopics.contains($0.topic) }
        var kafkaByKey: [String: [String]] = [:]
        var lastPosition: [String: Position] = [:]
        var tombstones = 0
        for record in rows {
            let table = String(record.topic.split(separator: ".").last!)
            let key = "\(table) \(try Self.keyText(record.key))"
            let position = try XCTUnwrap(record.headers["siphon-id"].flatMap { Position($0) }, "siphon-id of \(record)")
            if let last = lastPosition[key] {
                XCTAssertGreaterThanOrEqual(position, last, "seed \(seed): key \(key) out of commit order")
            }
            lastPosition[key] = position
            if record.value == nil {
                // A tombstone: right after its delete, with the delete's id.
                tombstones += 1
                XCTAssertEqual(kafkaByKey[key]?.last, "d \(position)", "seed \(seed): a tombstone of \(key) not right after its delete")
                kafkaByKey[key]?.append("tombstone")
            } else {
                kafkaByKey[key, default: []].append("\(record.headers["siphon-op"] ?? "?") \(position)")
            }
        }
        var auditByKey: [String: [String]] = [:]
        for change in audit {
            let parts = change.split(separator: " ")
            auditByKey["\(parts[0]) \(parts[2])", default: []].append(String(parts[1]))
        }
        let kafkaOps = kafkaByKey.mapValues { $0.filter { $0 != "tombstone" }.map { String($0.prefix(1)) } }
        XCTAssertEqual(rows.count - tombstones, audit.count, "seed \(seed): one row event per change")
        XCTAssertEqual(tombstones, audit.filter { $0.contains(" d ") }.count, "seed \(seed): one tombstone per delete")
        for key in Set(auditByKey.keys).union(kafkaOps.keys).sorted() where auditByKey[key] != kafkaOps[key] {
            XCTFail("seed \(seed): \(key): committed \(auditByKey[key] ?? []), in Kafka \(kafkaOps[key] ?? [])")
        }
        try checkTransactionMetadata(try kafka.records { $0 == transactionTopic }, pipeline: pipeline, seed: seed)
        // The workload did what it is there for.
        for op in [" c ", " u ", " d "] { XCTAssertTrue(audit.contains { $0.contains(op) }, "no\(op)change") }
    }

    /// Topics holding a record this database cannot have written (its commit
    /// LSN is past the end of the WAL: topics of another database under the
    /// same pipeline name) stop the pipeline before anything is skipped.
    func testAPositionTheDatabaseCannotHaveProducedIsRefused() throws {
        let kafka = try MockKafka()
        let pipeline = try PipelineHarness(server: server, tables: ["public.t"], snapshot: "never",
                                           setup: "CREATE TABLE t (id int PRIMARY KEY)", sink: """
                                               type: kafka
                                               brokers: \(kafka.bootstraps)
                                               """)
        let ahead = Position(high: 0x7F_0000_0000, low: 0)
        try kafka.createTopic("\(pipeline.name).public.t", partitions: 1)
        try kafka.produce(topic: "\(pipeline.name).public.t", key: #"{"id":1}"#, value: "{}",
                          headers: ["siphon-id": ahead.description, "siphon-pipeline": pipeline.name])
        let process = try pipeline.start()
        XCTAssertEqual(try process.waitForExit(timeout: .seconds(60)), 1, process.stderrText)
        XCTAssertTrue(process.stderrText.contains("cannot come from this database"), process.stderrText)
        XCTAssertTrue(process.stderrText.contains("7F/0"), process.stderrText)
        XCTAssertEqual(process.stderrText.components(separatedBy: "siphon: error:").count, 2,
                       "one line, not a retry loop: \(process.stderrText)")
    }

    /// The transaction records, keyed `{"id":…}`, checked by `TransactionMetadataCheck`.
    private func checkTransactionMetadata(_ records: [MockKafka.Record], pipeline: PipelineHarness, seed: Double) throws {
        for record in records {
            let id = (try? JSONSerialization.jsonObject(with: Data((record.value ?? "").utf8)) as? [String: Any])?["id"] as? String
            XCTAssertEqual(record.key, "{\"id\":\"\(id ?? "?")\"}")
        }
        try TransactionMetadataCheck.check(records.map { .init(value: $0.value, headers: $0.headers) }, server: server,
                                           database: pipeline.database, seed: seed)
    }

    /// `{"a":1,"b":2}` as `a=1,b=2` (the audit's spelling), columns in name order.
    static func keyText(_ key: String?) throws -> String {
        guard let key, let object = try JSONSerialization.jsonObject(with: Data(key.utf8)) as? [String: Any] else {
            throw TestSupportError("not a key object: \(key ?? "null")")
        }
        return object.keys.sorted().map { "\($0)=\(object[$0]!)" }.joined(separator: ",")
    }
}
