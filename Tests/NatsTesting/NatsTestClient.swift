import CNats
import Foundation
import Logging
import NatsSink
import SiphonCore
import SiphonTestSupport

/// A plain libnats client for tests: reads a stream back message by
/// message, creates streams, and publishes as another writer would. It
/// shares nothing with the sink but the C library.
public final class NatsTestClient: @unchecked Sendable {
    public struct Message: Equatable, Sendable {
        public var subject: String
        public var sequence: UInt64
        public var data: String
        public var headers: [String: String]
    }

    let connection: OpaquePointer
    let jetStream: OpaquePointer

    public init(url: String, user: String? = nil, password: String? = nil, token: String? = nil,
                nkey: TestNKey? = nil, credsFile: String? = nil, tls: NatsSinkConfiguration.TLS? = nil) throws {
        var options: OpaquePointer?
        natsOptions_Create(&options)
        defer { natsOptions_Destroy(options) }
        natsOptions_SetURL(options, url)
        if let user, let password { natsOptions_SetUserInfo(options, user, password) }
        if let token { natsOptions_SetToken(options, token) }
        if let nkey { natsOptions_SetNKeyFromSeed(options, nkey.publicKey, nkey.seedFile) }
        if let credsFile { natsOptions_SetUserCredentialsFromFiles(options, credsFile, nil) }
        if let tls {
            natsOptions_SetSecure(options, true)
            if let ca = tls.ca { natsOptions_LoadCATrustedCertificates(options, ca) }
            if let cert = tls.cert, let key = tls.key { natsOptions_LoadCertificatesChain(options, cert, key) }
        }
        natsOptions_SetTimeout(options, 2000)
        var nc: OpaquePointer?
        let status = natsConnection_Connect(&nc, options)
        guard status == NATS_OK, let nc else { throw TestSupportError("test client cannot connect to \(url): \(Self.text(status))") }
        var js: OpaquePointer?
        var jsOpts = jsOptions()
        jsOptions_Init(&jsOpts)
        jsOpts.Wait = 10_000
        guard natsConnection_JetStream(&js, nc, &jsOpts) == NATS_OK, let js else {
            natsConnection_Destroy(nc)
            throw TestSupportError("test client: no JetStream context")
        }
        connection = nc
        jetStream = js
    }

    deinit {
        jsCtx_Destroy(jetStream)
        natsConnection_Destroy(connection)
    }

    static func text(_ status: natsStatus) -> String {
        var last = NATS_OK
        return String(cString: natsStatus_GetText(status)) + " " + (nats_GetLastError(&last).map { String(cString: $0) } ?? "")
    }

    /// Every message of `stream`, in stream order; none when it does not exist.
    public func messages(stream: String) throws -> [Message] {
        guard let (first, last) = try bounds(stream: stream), last >= first, last > 0 else { return [] }
        var result: [Message] = []
        for sequence in first...last {
            var message: OpaquePointer?
            var code = jsErrCode(0)
            let status = js_GetMsg(&message, jetStream, stream, sequence, nil, &code)
            if status == NATS_NOT_FOUND || code == JSNoMessageFoundErr { continue }
            guard status == NATS_OK, let message else { throw TestSupportError("js_GetMsg \(stream) #\(sequence): \(Self.text(status))") }
            defer { natsMsg_Destroy(message) }
            result.append(Self.read(message, sequence: sequence))
        }
        return result
    }

    static func read(_ message: OpaquePointer, sequence: UInt64) -> Message {
        let length = Int(natsMsg_GetDataLength(message))
        let data = natsMsg_GetData(message).map {
            String(decoding: UnsafeRawBufferPointer(start: $0, count: length), as: UTF8.self)
        } ?? ""
        var headers: [String: String] = [:]
        var keys: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        var count: Int32 = 0
        if natsMsgHeader_Keys(message, &keys, &count) == NATS_OK, let keys {
            for index in 0..<Int(count) {
                guard let key = keys[index] else { continue }
                var value: UnsafePointer<CChar>?
                if natsMsgHeader_Get(message, key, &value) == NATS_OK, let value {
                    headers[String(cString: key)] = String(cString: value)
                }
            }
            free(keys)
        }
        return Message(subject: String(cString: natsMsg_GetSubject(message)), sequence: sequence, data: data, headers: headers)
    }

    /// First and last sequence of `stream`; nil when it does not exist.
    public func bounds(stream: String) throws -> (first: UInt64, last: UInt64)? {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        let status = js_GetStreamInfo(&info, jetStream, stream, nil, &code)
        if status == NATS_NOT_FOUND || code == JSStreamNotFoundErr { return nil }
        guard status == NATS_OK, let info else { throw TestSupportError("stream info \(stream): \(Self.text(status))") }
        defer { jsStreamInfo_Destroy(info) }
        return (info.pointee.State.FirstSeq, info.pointee.State.LastSeq)
    }

    /// The stream's subjects and duplicate window; nil when it does not exist.
    public func configuration(stream: String) throws -> (subjects: [String], duplicateWindow: Duration, storage: String)? {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        let status = js_GetStreamInfo(&info, jetStream, stream, nil, &code)
        if status == NATS_NOT_FOUND || code == JSStreamNotFoundErr { return nil }
        guard status == NATS_OK, let info, let config = info.pointee.Config else { throw TestSupportError("stream info \(stream): \(Self.text(status))") }
        defer { jsStreamInfo_Destroy(info) }
        let subjects = (0..<Int(config.pointee.SubjectsLen)).compactMap { config.pointee.Subjects[$0].map { String(cString: $0) } }
        return (subjects, .nanoseconds(config.pointee.Duplicates), config.pointee.Storage == js_MemoryStorage ? "memory" : "file")
    }

    /// Creates `name` taking `subjects`, as an operator would beforehand.
    public func createStream(_ name: String, subjects: [String], maxMessageSize: Int32? = nil,
                             duplicateWindow: Duration? = nil, storage: jsStorageType = js_FileStorage) throws {
        var config = jsStreamConfig()
        jsStreamConfig_Init(&config)
        let copies = subjects.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        var pointers = copies.map { UnsafePointer($0) }
        var code = jsErrCode(0)
        let status: natsStatus = name.withCString { cName in
            pointers.withUnsafeMutableBufferPointer { list in
                config.Name = cName
                config.Subjects = list.baseAddress
                config.SubjectsLen = Int32(list.count)
                config.Storage = storage
                if let maxMessageSize { config.MaxMsgSize = maxMessageSize }
                if let duplicateWindow { config.Duplicates = Int64(duplicateWindow.components.seconds) * 1_000_000_000 + duplicateWindow.components.attoseconds / 1_000_000_000 }
                return js_AddStream(nil, jetStream, &config, nil, &code)
            }
        }
        guard status == NATS_OK else { throw TestSupportError("create stream \(name): \(Self.text(status)) (\(code.rawValue))") }
    }

    /// Makes `stream` full: new messages are refused (discard new, a byte
    /// limit one byte above what it holds), as an operator's limit would;
    /// lookups still work. `full: false` lifts the limit.
    public func fill(stream: String, full: Bool) throws {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        guard js_GetStreamInfo(&info, jetStream, stream, nil, &code) == NATS_OK, let info, let config = info.pointee.Config else {
            throw TestSupportError("stream info \(stream)")
        }
        defer { jsStreamInfo_Destroy(info) }
        config.pointee.MaxBytes = full ? Int64(info.pointee.State.Bytes) + 1 : -1
        config.pointee.Discard = full ? js_DiscardNew : js_DiscardOld
        var updated: UnsafeMutablePointer<jsStreamInfo>?
        let status = js_UpdateStream(&updated, jetStream, config, nil, &code)
        guard status == NATS_OK else { throw TestSupportError("update stream \(stream): \(Self.text(status)) (\(code.rawValue))") }
        jsStreamInfo_Destroy(updated)
    }

    /// Publishes one message and waits for its acknowledgement; returns its sequence.
    @discardableResult
    public func publish(subject: String, data: String, headers: [String: String] = [:]) throws -> UInt64 {
        var message: OpaquePointer?
        natsMsg_Create(&message, subject, nil, data, Int32(data.utf8.count))
        defer { natsMsg_Destroy(message) }
        for (key, value) in headers { natsMsgHeader_Set(message, key, value) }
        var ack: UnsafeMutablePointer<jsPubAck>?
        var code = jsErrCode(0)
        let status = js_PublishMsg(&ack, jetStream, message, nil, &code)
        guard status == NATS_OK, let ack else { throw TestSupportError("publish to \(subject): \(Self.text(status))") }
        defer { jsPubAck_Destroy(ack) }
        return ack.pointee.Sequence
    }
}

extension NatsServer {
    /// A NATS sink on this server for `pipeline`, into `stream`, with the
    /// server's credentials; `tls` for a TLS server.
    public func sink(pipeline: String, stream: NatsSinkConfiguration.Stream, tls: NatsSinkConfiguration.TLS? = nil,
                     configure: (inout NatsSinkConfiguration) -> Void = { _ in }) -> NatsSink {
        var configuration = NatsSinkConfiguration(servers: [url], stream: stream, tls: tls, ackTimeout: .seconds(3))
        if let user, let password { configuration.credentials = .userPassword(user: user, password: password) }
        if let token { configuration.credentials = .token(token) }
        configure(&configuration)
        return NatsSink(configuration: configuration, pipeline: pipeline, logger: Logger(label: "nats-sink-test"))
    }

    /// A test client on this server.
    public func client(tls: NatsSinkConfiguration.TLS? = nil) throws -> NatsTestClient {
        try NatsTestClient(url: url, user: user, password: password, token: token, tls: tls)
    }
}
