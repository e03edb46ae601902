@testable import NatsSink
import XCTest
@testable import SiphonCore

/// Reading `sink: {type: nats, ...}`: defaults, every key, and every bad
/// key named, secrets never quoted.
final class NatsSinkConfigurationTests: XCTestCase {
    private func read(_ yaml: String) throws -> (NatsSinkConfiguration?, [String]) {
        let root = try XCTUnwrap(try ConfigNode.parse(yaml: yaml).root)
        let problems = ConfigProblems()
        let reader = ConfigReader(node: root, keyPath: "sink", file: "p.yaml", problems: problems)
        let configuration = NatsSinkConfiguration(reading: reader)
        return (configuration, problems.all.map(\.description))
    }

    func testDefaults() throws {
        let (configuration, problems) = try read("url: nats://127.0.0.1:4222\nstream: ORDERS\n")
        XCTAssertEqual(problems, [])
        let read = try XCTUnwrap(configuration)
        XCTAssertEqual(read.servers, ["nats://127.0.0.1:4222"])
        XCTAssertEqual(read.stream, .init(name: "ORDERS", subjects: ["{prefix}.>"], storage: .file, replicas: 1))
        XCTAssertEqual(read.subject.text, "{prefix}.{schema}.{table}")
        XCTAssertEqual(read.schemaSubject.text, "{prefix}.schema")
        XCTAssertEqual(read.messageSubject.text, "{prefix}.message")
        XCTAssertFalse(read.transactionMetadata)
        XCTAssertEqual(read.transactionSubject.text, "{prefix}.transaction")
        XCTAssertEqual(read.credentials, .none)
        XCTAssertNil(read.tls)
        XCTAssertEqual(read.maxPending, 4096)
        XCTAssertEqual(read.ackTimeout, .seconds(10))
    }

    func testEveryKey() throws {
        let (configuration, problems) = try read("""
            servers: [nats://n1:4222, "tls://n2:4222"]
            stream:
              name: CDC
              subjects: ["{prefix}.>", "audit.*"]
              storage: memory
              replicas: 3
              max_age: 24h
              duplicate_window: 1s
            subject: "{prefix}.{db}.{schema}.{table}"
            schema_subject: "{prefix}.ddl.{connector}"
            message_subject: audit.messages
            transaction_metadata: true
            transaction_subject: "{prefix}.tx.{db}"
            prefix: cdc
            user: siphon
            password: "hunter2-very-secret"
            tls: {ca: /etc/ca.pem, cert: /etc/c.pem, key: /etc/k.pem}
            max_pending: 100
            ack_timeout: 30s
            """)
        XCTAssertEqual(problems, [])
        let read = try XCTUnwrap(configuration)
        XCTAssertEqual(read.servers, ["nats://n1:4222", "tls://n2:4222"])
        XCTAssertEqual(read.stream, .init(name: "CDC", subjects: ["{prefix}.>", "audit.*"], storage: .memory, replicas: 3,
                                          maxAge: .seconds(86400), duplicateWindow: .seconds(1)))
        XCTAssertEqual(read.stream.subjects(prefix: "cdc"), ["cdc.>", "audit.*"])
        XCTAssertEqual(try read.subject.render(.init(prefix: "cdc", db: "app", schema: "public", table: "orders")).get(),
                       "cdc.app.public.orders")
        XCTAssertEqual(read.subject.filter(prefix: "cdc"), "cdc.*.*.*")
        XCTAssertTrue(read.transactionMetadata)
        XCTAssertEqual(read.transactionSubject.filter(prefix: "cdc"), "cdc.tx.*")
        XCTAssertEqual(read.credentials, .userPassword(user: "siphon", password: "hunter2-very-secret"))
        XCTAssertEqual(read.tls, .init(ca: "/etc/ca.pem", cert: "/etc/c.pem", key: "/etc/k.pem"))
        XCTAssertEqual(read.maxPending, 100)
        XCTAssertEqual(read.ackTimeout, .seconds(30))
    }

    func testAURLMayListSeveralServers() throws {
        let (configuration, problems) = try read("url: \"nats://n1:4222, nats://n2:4222\"\nstream: S\n")
        XCTAssertEqual(problems, [])
        XCTAssertEqual(configuration?.servers, ["nats://n1:4222", "nats://n2:4222"])
    }

    func testOtherCredentials() throws {
        XCTAssertEqual(try read("url: nats://h:1\nstream: S\ntoken: tok-secret\n").0?.credentials, .token("tok-secret"))
        XCTAssertEqual(try read("url: nats://h:1\nstream: S\ncreds: /etc/u.creds\n").0?.credentials, .credsFile("/etc/u.creds"))
        XCTAssertEqual(try read("url: nats://h:1\nstream: S\nnkey: {public: UABC, seed: /etc/seed.nk}\n").0?.credentials,
                       .nkey(publicKey: "UABC", seedFile: "/etc/seed.nk"))
    }

    func testBadValuesNameTheirKeysAndNeverQuoteSecrets() throws {
        let (configuration, problems) = try read("""
            url: "nats://siphon:hunter2-very-secret@bad host:4222"
            stream: {name: "a.b", subjects: ["x.>.y"], storage: disk, duplicate_window: 10ms}
            subject: "{prefix}.{tabel}"
            schema_subject: "{prefix}.*"
            message_subject: "{prefix}..m"
            transaction_subject: "{prefix}.{table}"
            transaction_metadata: maybe
            password: "hunter2-very-secret"
            token: "tok-very-secret"
            tls: {cert: /c.pem}
            max_pending: 0
            ack_timout: 5s
            """)
        XCTAssertNil(configuration)
        let text = problems.joined(separator: "\n")
        for key in ["sink.url", "sink.stream.name", "sink.stream.subjects[0]", "sink.stream.storage", "sink.stream.duplicate_window",
                    "sink.subject", "sink.schema_subject", "sink.message_subject", "sink.transaction_subject",
                    "sink.transaction_metadata", "sink.user", "sink.token", "sink.tls.key",
                    "sink.max_pending", "sink.ack_timout"] {
            XCTAssertTrue(text.contains(key), "\(key) not named in:\n\(text)")
        }
        XCTAssertTrue(text.contains("{tabel}"), text)
        XCTAssertTrue(text.contains("conflicting credentials"), text)
        XCTAssertTrue(text.contains("did you mean 'ack_timeout'"), text)
        XCTAssertFalse(text.contains("hunter2"), text)
        XCTAssertFalse(text.contains("tok-very-secret"), text)
    }

    func testRequiredKeys() throws {
        let (configuration, problems) = try read("prefix: p\n")
        XCTAssertNil(configuration)
        XCTAssertTrue(problems.contains { $0.contains("sink.url") && $0.contains("required") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("sink.stream") && $0.contains("required") }, "\(problems)")
        let both = try read("url: nats://a:1\nservers: [nats://b:1]\nstream: S\n")
        XCTAssertNil(both.0)
        XCTAssertTrue(both.1.contains { $0.contains("sink.servers") && $0.contains("not both") }, "\(both.1)")
    }

    func testStaticChecksFindUncoveredSubjectsAndMissingFiles() throws {
        var configuration = NatsSinkConfiguration(servers: ["nats://h:1"], stream: .init(name: "S", subjects: ["{prefix}.*.*"]))
        configuration.credentials = .credsFile("/nonexistent/u.creds")
        let problems = NatsSink.staticProblems(in: configuration)
        XCTAssertEqual(Set(problems.map(\.key)), ["creds", "schema_subject", "message_subject"], "\(problems)")
    }

    func testSubjectCoverage() {
        let cases: [(String, String, Bool)] = [
            ("p.>", "p.*.*", true), ("p.>", "p.schema", true), ("p.>", "p", false), ("p.*.*", "p.>", false),
            ("p.*", "p.x", true), ("p.*.*", "p.schema", false), ("*.*", "p.x", true), (">", "a.b.c", true),
            ("p.a.*", "p.*.*", false),
        ]
        for (outer, inner, expected) in cases {
            XCTAssertEqual(SubjectFilter.covers(outer, inner), expected, "\(outer) covers \(inner)")
        }
    }
}
