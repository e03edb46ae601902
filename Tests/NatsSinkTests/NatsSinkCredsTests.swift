import Foundation
import NatsSink
import NatsTesting
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import XCTest

/// `sink.creds` against a nats-server in operator (JWT) mode: a user of an
/// account the server trusts writes into a stream of that account; a user
/// of an unknown account, an expired user, a missing or broken file are
/// permanent errors that name `sink.creds`, never quoting the JWT or seed.
final class NatsSinkCredsTests: XCTestCase {
    func testACredsFileRoundTripsThroughItsAccount() async throws {
        let nats = try TestOperator()
        let user = try nats.user("siphon")
        let server = try NatsServer.start(operatorTrust: nats.trust)
        let sink = server.sink(pipeline: "shop", stream: .init(name: "SHOP")) { $0.credentials = .credsFile(user.credsFile) }
        let batch = NatsTestEvents.everyKind(pipeline: "shop")
        _ = try await sink.open()
        try await sink.write(batch)
        let flushed = try await sink.flush()
        XCTAssertEqual(flushed, batch.lastPosition)
        try await sink.close()

        // Another user of the same account sees the stream: it lives in APP.
        let reader = try nats.user("reader")
        let messages = try NatsTestClient(url: server.url, credsFile: reader.credsFile).messages(stream: "SHOP")
        let lines = (0..<batch.count).map { String(decoding: batch.line($0), as: UTF8.self) }
        XCTAssertEqual(messages.map(\.data), lines, "every event, in order")
    }

    func testUsersTheServerDoesNotTrustAreRefused() async throws {
        let nats = try TestOperator()
        let server = try NatsServer.start(operatorTrust: nats.trust)
        let stranger = try nats.user("stranger", issuer: .unknownAccount)
        let expired = try nats.user("expired", expires: Date(timeIntervalSinceNow: -3600))
        for user in [stranger, expired] {
            let error = try await openError(server.sink(pipeline: "shop", stream: .init(name: "SHOP")) {
                $0.credentials = .credsFile(user.credsFile)
            })
            XCTAssertFalse(error.isTransient, error.message)
            XCTAssertTrue(error.message.contains("refused the credentials"), error.message)
            XCTAssertTrue(error.message.contains("sink.creds"), error.message)
            XCTAssertTrue(error.message.contains(user.credsFile), error.message)
            XCTAssertFalse(error.message.contains("\n"), "one line: \(error.message)")
            XCTAssertFalse(error.message.contains(user.seed), error.message)
            for part in user.jwt.split(separator: ".") { XCTAssertFalse(error.message.contains(part), error.message) }
        }
    }

    func testAMissingOrBrokenCredsFileIsAPermanentError() async throws {
        let nats = try TestOperator()
        let server = try NatsServer.start(operatorTrust: nats.trust)
        let missing = nats.folder.appending("missing.creds")
        let broken = nats.folder.appending("broken.creds")
        try "not a creds file\n".write(toFile: broken, atomically: false, encoding: .utf8)
        for path in [missing, broken] {
            let error = try await openError(server.sink(pipeline: "shop", stream: .init(name: "SHOP")) {
                $0.credentials = .credsFile(path)
            })
            XCTAssertFalse(error.isTransient, "no retry mends the file: \(error.message)")
            XCTAssertTrue(error.message.contains("sink.creds (\(path))"), error.message)
            XCTAssertFalse(error.message.contains("\n"), "one line: \(error.message)")
        }
    }
}
