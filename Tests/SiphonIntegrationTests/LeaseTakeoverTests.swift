import Foundation
import NatsTesting
import SiphonTestSupport
import XCTest

/// `lease:`: two `siphon run` processes with one pipeline and state folders
/// of their own; one runs it, the other waits and takes over when the
/// first is killed with SIGKILL, in a loop under a random workload. The
/// sinks that keep their own position end with every change once.
final class LeaseTakeoverTests: PostgresTestCase {
    /// A pipeline from table `t` into a PostgreSQL target, with a lease:
    /// instance 0 streaming, instance 1 waiting as standby.
    private func activeAndStandby() throws
        -> (target: PostgresServer, pipeline: PipelineHarness, lease: LeaseHarness, first: SiphonProcess, second: SiphonProcess) {
        let target = try PostgresServer.start()
        try target.createDatabase("replica")
        let pipeline = try PipelineHarness(server: server, tables: ["public.t"], snapshot: "never",
                                           setup: "CREATE TABLE t (id int PRIMARY KEY, v text);", sink: """
                                               type: postgres
                                               url: "host=127.0.0.1 port=\(target.port) dbname=replica user=postgres password=${TEST_PGPASSWORD}"
                                               """)
        let lease = try LeaseHarness(pipeline: pipeline)
        let first = try lease.start(0)
        try first.waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        let second = try lease.start(1)
        try second.waitFor(stderrContaining: "standby: another instance holds the lease", timeout: .seconds(30))
        return (target, pipeline, lease, first, second)
    }

    func testASecondInstanceWaitsAsStandbyAndWritesNothing() throws {
        let (target, pipeline, lease, first, second) = try activeAndStandby()
        try pipeline.sql("INSERT INTO t SELECT g, 'x' || g FROM generate_series(1, 100) g")
        try eventually(timeout: .seconds(30), "the rows in the target") {
            try target.psql("SELECT count(*) FROM t", database: "replica") == "100"
        }
        // Several of its tries later, the standby still waits, ready, and opened nothing.
        Thread.sleep(forTimeInterval: 1.5)
        XCTAssertEqual(lease.state(1), "standby", lease.stderrTails)
        XCTAssertEqual(lease.state(0), "running", lease.stderrTails)
        XCTAssertEqual(try lease.readiness(1), 200, "a standby is ready")
        for line in ["pipeline starting", "streaming changes", "took the lease"] {
            XCTAssertFalse(second.stderrText.contains(line), "the standby logged \(line):\n\(second.stderrText.suffix(2000))")
        }
        XCTAssertEqual(second.stderrText.components(separatedBy: "standby: another instance").count - 1, 1,
                       "one line when it starts waiting")
        XCTAssertFalse(FileManager.default.fileExists(atPath: pipeline.statePath + "-b/checkpoint.json"))
        // One advisory lock held, by the first instance's session.
        XCTAssertEqual(try server.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
                                       database: pipeline.database), "1")
        // Stopped, the first lets the second take over at once.
        try pipeline.stop(first)
        try second.waitFor(stderrContaining: "streaming changes", timeout: .seconds(15))
        try pipeline.sql("INSERT INTO t SELECT g, 'y' || g FROM generate_series(101, 150) g")
        try eventually(timeout: .seconds(30), "the second instance's rows in the target") {
            try target.psql("SELECT count(*) FROM t", database: "replica") == "150"
        }
        try pipeline.stop(second)
    }

    /// The active instance's lease session ends (pg_terminate_backend, as a
    /// server would end the session of a host it no longer hears from):
    /// that instance stops streaming, the other takes over, nothing is lost.
    func testAnInstanceThatLosesItsLeaseStopsStreaming() throws {
        let (target, pipeline, lease, first, second) = try activeAndStandby()
        try pipeline.sql("INSERT INTO t SELECT g, 'x' FROM generate_series(1, 50) g")
        XCTAssertEqual(try server.psql("""
            SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
            WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'siphon lease'
            """, database: pipeline.database), "1")
        try first.waitFor(stderrContaining: "lost the lease; stopped the pipeline", timeout: .seconds(10))
        try second.waitFor(stderrContaining: "streaming changes", timeout: .seconds(10))
        XCTAssertEqual(lease.state(0), "standby", lease.stderrTails)
        XCTAssertEqual(lease.state(1), "running", lease.stderrTails)
        try pipeline.sql("INSERT INTO t SELECT g, 'y' FROM generate_series(51, 100) g")
        try eventually(timeout: .seconds(30), "every row in the target") {
            try target.psql("SELECT count(*) FROM t", database: "replica") == "100"
        }
        try lease.stopAll()
    }

    /// `siphon check` with `lease:` says whether the role can keep schema
    /// versions in siphon.schema_history, and how to let it.
    func testCheckSaysWhetherTheRoleMayCreateTheSchemaHistory() throws {
        let pipeline = try PipelineHarness(server: server, setup: "CREATE TABLE t (id int PRIMARY KEY)",
                                           sink: "type: nats\nurl: nats://127.0.0.1:1\nstream: S")
        let role = "lease_\(pipeline.name)"
        try server.psql("CREATE ROLE \(role) LOGIN REPLICATION PASSWORD 'pw'")
        try pipeline.writeConfig(tables: ["public.*"], snapshot: "never",
                                 url: "host=127.0.0.1 port=\(try server.port) dbname=\(pipeline.database) user=\(role) password=pw")
        let yaml = try String(contentsOfFile: pipeline.configPath, encoding: .utf8)
        try (yaml + "lease: true\n").write(toFile: pipeline.configPath, atomically: true, encoding: .utf8)
        func check() throws -> String {
            try SiphonProcess.run(["check", "--config", pipeline.configPath], environment: PipelineHarness.environment).stdout
        }
        let refused = try check()
        XCTAssertTrue(refused.contains("FAIL source lease: \(role) may not create the schema siphon"), refused)
        XCTAssertTrue(refused.contains("fix: GRANT CREATE ON DATABASE \"\(pipeline.database)\" TO \"\(role)\""), refused)
        try server.psql("GRANT CREATE ON DATABASE \(pipeline.database) TO \(role)")
        let allowed = try check()
        XCTAssertTrue(allowed.contains("PASS source lease: \(role) may create siphon.schema_history"), allowed)
        XCTAssertEqual(try server.psql("SELECT to_regclass('siphon.schema_history') IS NULL", database: pipeline.database), "t",
                       "check creates nothing")
    }

    func testKillNineOfTheActiveInstanceInALoopIntoAPostgresTarget() throws {
        let target = try PostgresServer.start()
        try target.createDatabase("replica")
        let pipeline = try PipelineHarness(server: server, tables: ["public.ta", "public.tb", "public.tc"],
                                           snapshot: "initial", setup: KafkaPostgresCrashTests.setup, sink: """
                                               type: postgres
                                               url: "host=127.0.0.1 port=\(target.port) dbname=replica user=postgres password=${TEST_PGPASSWORD}"
                                               batch_max_events: 200
                                               batch_max_delay: 20ms
                                               """)
        let lease = try LeaseHarness(pipeline: pipeline)
        try lease.start(0).waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try lease.start(1)
        let seed = Double(UInt8.random(in: 0...200)) / 200 - 0.5
        let writer = try ChildProcessRunner.start(server: server, database: pipeline.database, sql: "CALL workload(6000, \(seed))")
        var underLoad = 0
        let takeovers = try lease.killActiveInALoop(kills: 5) { _ in underLoad += writer.isRunning ? 1 : 0 }
        print("lease takeovers after SIGKILL (PostgreSQL target): \(takeovers)")
        XCTAssertEqual(underLoad, 5, "every takeover happened during the workload (make it longer)")
        XCTAssertEqual(try writer.waitForExit(timeout: .seconds(180)), 0, "seed \(seed): \(writer.stderrText)")
        let queries = ["SELECT * FROM ta ORDER BY id", "SELECT * FROM tb ORDER BY id", "SELECT * FROM tc ORDER BY a, b"]
        var last: [(String, String)] = []
        do {
            try eventually(timeout: .seconds(60), interval: .milliseconds(250), "the target tables to equal the source's") {
                last = try queries.map { (try server.psql($0, database: pipeline.database), try target.psql($0, database: "replica")) }
                return last.allSatisfy { $0.0 == $0.1 }
            }
        } catch {
            for (query, pair) in zip(queries, last) where pair.0 != pair.1 {
                let source = Set(pair.0.split(separator: "\n")), replica = Set(pair.1.split(separator: "\n"))
                XCTFail("seed \(seed): \(query): only in source \(source.subtracting(replica).sorted().prefix(10)), only in target \(replica.subtracting(source).sorted().prefix(10))")
            }
            throw TestSupportError("seed \(seed): \(error)\n\(lease.stderrTails)")
        }
        XCTAssertGreaterThan(Int(try server.psql("SELECT count(*) FROM audit", database: pipeline.database)) ?? 0, 1000)
        try lease.stopAll()
    }
}

/// The same kill loop into a real nats-server's JetStream stream, with a
/// schema change made after a takeover: its version follows the one the
/// first instance announced.
final class LeaseJetStreamTakeoverTests: PostgresTestCase {
    func testKillNineOfTheActiveInstanceInALoopIntoJetStreamKeepsEveryChangeOnceAndVersionsCounting() throws {
        let nats = try NatsServer.start()
        let pipeline = try PipelineHarness(server: server, tables: ["public.ta", "public.tb", "public.tc"], snapshot: "initial",
                                           setup: KafkaPostgresCrashTests.setup, sink: """
                                               type: nats
                                               url: \(nats.url)
                                               stream: {name: LEASE, duplicate_window: 1s}
                                               ack_timeout: 2s
                                               """)
        let lease = try LeaseHarness(pipeline: pipeline)
        try lease.start(0).waitFor(stderrContaining: "streaming changes", timeout: .seconds(60))
        try lease.start(1)
        let seed = Double(UInt8.random(in: 0...200)) / 200 - 0.5
        let writer = try ChildProcessRunner.start(server: server, database: pipeline.database, sql: "CALL workload(6000, \(seed))")
        var underLoad = 0
        let takeovers = try lease.killActiveInALoop(kills: 5) { round in
            underLoad += writer.isRunning ? 1 : 0
            // Two schema changes while one instance runs, a third after the other took over:
            // that one never saw the table's second version, and numbering from a history of
            // its own it would call the third one 2 and the fourth 3.
            if round == 1 {
                try pipeline.sql("ALTER TABLE tb ADD COLUMN extra int")
                Thread.sleep(forTimeInterval: 0.3)
                try pipeline.sql("ALTER TABLE tb ADD COLUMN extra2 int")
            }
            if round == 2 { try pipeline.sql("ALTER TABLE tb ADD COLUMN extra3 int") }
        }
        print("lease takeovers after SIGKILL (JetStream): \(takeovers)")
        XCTAssertEqual(underLoad, 5, "every takeover happened during the workload (make it longer)")
        XCTAssertEqual(try writer.waitForExit(timeout: .seconds(180)), 0, "seed \(seed): \(writer.stderrText)")

        let audit = try server.psql("SELECT tbl || ' ' || op || ' ' || k FROM audit ORDER BY seq", database: pipeline.database)
            .split(separator: "\n").map(String.init)
        let rowPrefix = "\(pipeline.name).public."
        let client = try nats.client()
        var messages: [NatsTestClient.Message] = []
        do {
            try eventually(timeout: .seconds(60), "\(audit.count) row messages in the stream") {
                messages = try client.messages(stream: "LEASE")
                return messages.filter { $0.subject.hasPrefix(rowPrefix) }.count >= audit.count
            }
        } catch {
            throw TestSupportError("seed \(seed): \(error); have \(messages.filter { $0.subject.hasPrefix(rowPrefix) }.count)\n\(lease.stderrTails)")
        }
        Thread.sleep(forTimeInterval: 1.5)
        messages = try client.messages(stream: "LEASE")
        let ids = messages.compactMap { $0.headers["siphon-id"] }
        XCTAssertEqual(ids.count, messages.count, "every message carries its event id")
        XCTAssertEqual(Set(ids).count, ids.count,
                       "seed \(seed): event ids in the stream twice: \(Dictionary(grouping: ids) { $0 }.filter { $0.value.count > 1 }.keys.sorted().prefix(5))")
        XCTAssertEqual(ids, ids.sorted(), "seed \(seed): the stream holds the events in position order")

        var streamByKey: [String: [String]] = [:]
        var tbVersions: [Int] = []
        for message in messages where message.subject.hasPrefix(rowPrefix) {
            let table = String(message.subject.dropFirst(rowPrefix.count))
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(message.data.utf8)) as? [String: Any])
            let key = try XCTUnwrap(object["key"] as? [String: Any])
            streamByKey["\(table) \(key.keys.sorted().map { "\($0)=\(key[$0]!)" }.joined(separator: ","))", default: []]
                .append(object["op"] as? String ?? "?")
            if table == "tb", let version = object["schema_version"] as? Int, tbVersions.last != version { tbVersions.append(version) }
        }
        var auditByKey: [String: [String]] = [:]
        for change in audit {
            let parts = change.split(separator: " ")
            auditByKey["\(parts[0]) \(parts[2])", default: []].append(String(parts[1]))
        }
        for key in Set(auditByKey.keys).union(streamByKey.keys).sorted() where auditByKey[key] != streamByKey[key] {
            XCTFail("seed \(seed): \(key): committed \(auditByKey[key] ?? []), in the stream \(streamByKey[key] ?? [])")
        }
        // tb's schema events: version 1 from the first instance's snapshot, 2 to 4 from the
        // ALTERs, each once; tb's rows carry 1 to 4 in that order.
        let tbSchemas = try messages.filter { $0.subject == "\(pipeline.name).schema" }.compactMap { message -> (Int, Int?)? in
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(message.data.utf8)) as? [String: Any])
            let change = (object["tableChanges"] as? [[String: Any]])?.first
            guard change?["id"] as? String == "\"public\".\"tb\"" else { return nil }
            XCTAssertEqual(message.headers["siphon-schema-version"], (object["schema_version"] as? Int).map(String.init))
            return (object["schema_version"] as? Int ?? 0, object["previous_version"] as? Int)
        }
        XCTAssertEqual(tbSchemas.map(\.0), [1, 2, 3, 4], "tb's schema versions in the stream\n\(lease.stderrTails)")
        XCTAssertEqual(tbSchemas.map(\.1), [nil, 1, 2, 3], "the previous versions")
        XCTAssertEqual(tbVersions, [1, 2, 3, 4], "the versions tb's rows carry")
        try lease.stopAll()
    }
}

/// `lease:` with an SQLite source: a lock file next to the database.
final class SQLiteLeaseTests: XCTestCase {
    func testTheStandbyTakesOverWhenTheActiveInstanceIsKilled() throws {
        let harness = try SQLiteHarness(setup: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);", snapshot: "never")
        let target = harness.folder.path + "/replica.db"
        var lease: [SiphonProcess] = []
        var configs: [String] = []
        let yaml = try String(contentsOfFile: harness.configPath, encoding: .utf8)
            .replacingOccurrences(of: "type: file\n  path: \(harness.outputPath)", with: "type: sqlite\n  path: \(target)")
            + "lease: {retry_interval: 200ms}\n"
        for side in ["a", "b"] {
            let path = harness.folder.path + "/pipeline-\(side).yaml"
            try yaml.replacingOccurrences(of: "path: \(harness.statePath)\n", with: "path: \(harness.statePath)-\(side)\n")
                .write(toFile: path, atomically: true, encoding: .utf8)
            configs.append(path)
        }
        func start(_ side: Int) throws -> SiphonProcess {
            try SiphonProcess(arguments: ["run", "--config", configs[side]], environment: ["SIPHON_LOG_LEVEL": "debug"])
        }
        lease.append(try start(0))
        try lease[0].waitFor(stderrContaining: "took the lease", timeout: .seconds(30))
        lease.append(try start(1))
        try lease[1].waitFor(stderrContaining: "standby: another instance holds the lease", timeout: .seconds(30))
        try harness.sql("INSERT INTO t SELECT value, 'a' FROM generate_series(1, 100);")
        func replicaCount() throws -> String {
            guard FileManager.default.fileExists(atPath: target) else { return "" }
            return try SiphonProcess.run(executable: SQLiteHarness.shell, arguments: ["-cmd", ".timeout 10000", target, "SELECT count(*) FROM t"])
                .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try eventually(timeout: .seconds(30), "100 rows in the target") { try replicaCount() == "100" }
        XCTAssertFalse(lease[1].stderrText.contains("pipeline starting"), "the standby opened the sink")
        lease[0].signal(SIGKILL)
        _ = try lease[0].waitForExit(timeout: .seconds(10))
        try lease[1].waitFor(stderrContaining: "took the lease", timeout: .seconds(10))
        try harness.sql("INSERT INTO t SELECT value, 'b' FROM generate_series(101, 200);")
        try eventually(timeout: .seconds(30), "200 rows in the target") { try replicaCount() == "200" }
        XCTAssertEqual(try SiphonProcess.run(executable: SQLiteHarness.shell, arguments: [target, "SELECT count(*), count(DISTINCT id) FROM t"])
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines), "200|200")
        lease[1].signal(SIGTERM)
        XCTAssertEqual(try lease[1].waitForExit(timeout: .seconds(15)), 0, lease[1].stderrText)
    }
}

/// `lease:` in a pipeline file, as `siphon validate` reads it.
final class LeaseConfigTests: XCTestCase {
    private func validate(lease: String, sink: String = "type: nats\n  url: nats://127.0.0.1:4222\n  stream: S") throws -> (status: Int32, stderr: String) {
        let folder = try TemporaryDirectory()
        let path = folder.path + "/pipeline.yaml"
        try """
            version: 1
            name: ha
            source:
              type: postgres
              url: "host=127.0.0.1 dbname=app user=siphon"
              slot: siphon_ha
            sink:
              \(sink)
            state:
              path: \(folder.path)/state
            \(lease)

            """.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try SiphonProcess.run(["validate", "--config", path])
        return (result.status, result.stderr + result.stdout)
    }

    func testGoodAndBadLeaseKeys() throws {
        XCTAssertEqual(try validate(lease: "lease: true").status, 0)
        XCTAssertEqual(try validate(lease: "lease: {retry_interval: 5s}").status, 0)
        XCTAssertEqual(try validate(lease: "lease: false").status, 0)
        for (lease, expected) in [
            ("lease: {retry_interval: 10ms}", "lease.retry_interval: must be between 100ms and 1m"),
            ("lease: {retry_interval: 2m}", "lease.retry_interval: must be between 100ms and 1m"),
            ("lease: {retry_intervl: 2s}", "lease.retry_intervl: unknown key (did you mean 'retry_interval'?)"),
            ("lease: \"yes\"", "lease: must be true or false"),
            ("lease: 3", "lease: must be true or false"),
        ] {
            let result = try validate(lease: lease)
            XCTAssertEqual(result.status, 2, lease)
            XCTAssertTrue(result.stderr.contains(expected), "\(lease): \(result.stderr)")
        }
    }

    /// A file sink's file is on one host's disk: a standby could not take it over.
    func testAFileSinkIsRefused() throws {
        let folder = try TemporaryDirectory()
        let result = try validate(lease: "lease: true", sink: "type: file\n  path: \(folder.path)/out.jsonl")
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("lease: the file sink cannot be taken over by a standby"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.path + "/out.jsonl"))
    }

    /// Kafka answers no single position: a standby would resume from a checkpoint it does not have.
    func testAKafkaSinkIsRefused() throws {
        let result = try validate(lease: "lease: true", sink: "type: kafka\n  brokers: 127.0.0.1:9092")
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("lease: the kafka sink cannot be taken over by a standby"), result.stderr)
    }

    /// An SQLite source has a lease (its lock file); validation accepts it.
    func testAnSQLiteSourceHasALease() throws {
        let folder = try TemporaryDirectory()
        let database = folder.path + "/app.db"
        _ = try SiphonProcess.run(executable: "/usr/bin/sqlite3", arguments: [database, "PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY);"])
        let path = folder.path + "/pipeline.yaml"
        try "version: 1\nname: lite\nsource: {type: sqlite, path: \(database)}\nsink: {type: sqlite, path: \(folder.path)/replica.db}\nstate: {path: \(folder.path)/state}\nlease: true\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let result = try SiphonProcess.run(["validate", "--config", path])
        XCTAssertEqual(result.status, 0, result.stderr)
    }
}
