import Foundation
import NatsSink
import NatsTesting
import SiphonCore
import SiphonTestSupport
import SiphonTesting
import XCTest

/// Tokens and TLS (a server certificate checked against `tls.ca`, a client
/// certificate the server requires): the right ones work, the wrong ones
/// are permanent errors that say which key to fix, secrets never quoted.
final class NatsSinkAuthenticationTests: XCTestCase {
    func testATokenRightAndWrong() async throws {
        let server = try NatsServer.start(token: "tok-right-secret")
        let good = server.sink(pipeline: "shop", stream: .init(name: "SHOP"))
        let batch = NatsTestEvents.everyKind(pipeline: "shop")
        _ = try await good.open()
        try await good.write(batch)
        let flushed = try await good.flush()
        XCTAssertEqual(flushed, batch.lastPosition)
        try await good.close()
        XCTAssertEqual(try server.client().messages(stream: "SHOP").count, batch.count)

        let bad = server.sink(pipeline: "shop", stream: .init(name: "SHOP")) { $0.credentials = .token("tok-wrong-secret") }
        do {
            _ = try await bad.open()
            XCTFail("a wrong token was taken")
        } catch let error as SiphonError {
            XCTAssertFalse(error.isTransient, error.message)
            XCTAssertTrue(error.message.contains("check sink.token"), error.message)
            XCTAssertFalse(error.message.contains("tok-wrong-secret"), error.message)
        }
    }

    func testAnNKeyRightAndWrong() async throws {
        let key = try TestNKey()
        let server = try NatsServer.start(nkeyUser: key.publicKey)
        let good = server.sink(pipeline: "shop", stream: .init(name: "SHOP")) {
            $0.credentials = .nkey(publicKey: key.publicKey, seedFile: key.seedFile)
        }
        let batch = NatsTestEvents.everyKind(pipeline: "shop")
        _ = try await good.open()
        try await good.write(batch)
        let flushed = try await good.flush()
        XCTAssertEqual(flushed, batch.lastPosition)
        try await good.close()
        XCTAssertEqual(try NatsTestClient(url: server.url, nkey: key).messages(stream: "SHOP").count, batch.count)

        let other = try TestNKey()
        let bad = server.sink(pipeline: "shop", stream: .init(name: "SHOP")) {
            $0.credentials = .nkey(publicKey: other.publicKey, seedFile: other.seedFile)
        }
        do {
            _ = try await bad.open()
            XCTFail("an unknown nkey was taken")
        } catch let error as SiphonError {
            XCTAssertFalse(error.isTransient, error.message)
            XCTAssertTrue(error.message.contains("check sink.nkey"), error.message)
        }
    }

    func testTLSWithAClientCertificate() async throws {
        let certificates = try TestCertificates()
        let server = try NatsServer.start(tls: .init(cert: certificates.serverCert, key: certificates.serverKey,
                                                     clientCA: certificates.ca))
        let tls = NatsSinkConfiguration.TLS(ca: certificates.ca, cert: certificates.clientCert, key: certificates.clientKey)
        let sink = server.sink(pipeline: "shop", stream: .init(name: "SHOP"), tls: tls)
        let batch = NatsTestEvents.everyKind(pipeline: "shop")
        _ = try await sink.open()
        try await sink.write(batch)
        let flushed = try await sink.flush()
        XCTAssertEqual(flushed, batch.lastPosition)
        try await sink.close()
        XCTAssertEqual(try server.client(tls: tls).messages(stream: "SHOP").count, batch.count)

        // Plain TCP to a TLS-only server, and a server certificate the CA did not sign.
        let plain = server.sink(pipeline: "shop", stream: .init(name: "SHOP"))
        let plainError = try await openError(plain)
        XCTAssertFalse(plainError.isTransient, plainError.message)
        // libnats goes to TLS when the server asks, and cannot check its certificate without tls.ca.
        XCTAssertTrue(plainError.message.contains("sink.tls"), plainError.message)

        let other = try TestCertificates()
        let untrusted = server.sink(pipeline: "shop", stream: .init(name: "SHOP"),
                                    tls: .init(ca: other.ca, cert: other.clientCert, key: other.clientKey))
        let untrustedError = try await openError(untrusted)
        XCTAssertFalse(untrustedError.isTransient, untrustedError.message)
        XCTAssertTrue(untrustedError.message.contains("TLS handshake"), untrustedError.message)
    }
}
