import CNats
import Foundation
import SiphonCore

/// One connection to NATS and its JetStream context, owned: `destroy`
/// releases both (once). Every call here may block on the network: the
/// sink makes them through `Blocking.run`, except the asynchronous publish.
final class NatsClient: @unchecked Sendable {
    let connection: OpaquePointer
    let jetStream: OpaquePointer
    /// Server URLs without any `user:password@`, for messages.
    let shownServers: String
    let secrets: [String]
    private let lock = NSLock()
    private var destroyed = false

    /// Connects with the configuration's servers, credentials and TLS;
    /// `ackHandler` and `closure` receive every asynchronous publish's
    /// acknowledgement (on libnats' thread).
    init(configuration: NatsSinkConfiguration, name: String, ackHandler: jsPubAckHandler?,
         closure: UnsafeMutableRawPointer?) throws {
        secrets = configuration.secrets
        shownServers = configuration.servers.map(NatsErrors.withoutUserInfo).joined(separator: ",")
        var options: OpaquePointer?
        try Self.check(natsOptions_Create(&options), doing: "prepare the NATS client", secrets: secrets)
        defer { natsOptions_Destroy(options) }
        let servers = configuration.servers.map { strdup($0) }
        defer { servers.forEach { free($0) } }
        var serverPointers = servers.map { UnsafePointer($0) }
        try Self.check(natsOptions_SetServers(options, &serverPointers, Int32(servers.count)),
                       doing: "use sink.url/sink.servers", secrets: secrets, transient: false)
        natsOptions_SetName(options, name)
        // libnats reconnects on its own for a while; the pipeline's retries
        // (a new session) take over when acknowledgements stop coming.
        natsOptions_SetMaxReconnect(options, -1)
        natsOptions_SetReconnectWait(options, 500)
        natsOptions_SetTimeout(options, 2000)
        natsOptions_SetNoRandomize(options, false)
        if let closure {
            natsOptions_SetDisconnectedCB(options, natsDisconnected, closure)
            natsOptions_SetReconnectedCB(options, natsReconnected, closure)
        }
        switch configuration.credentials {
        case .none: break
        case let .userPassword(user, password):
            natsOptions_SetUserInfo(options, user, password)
        case let .token(token):
            natsOptions_SetToken(options, token)
        case let .credsFile(path):
            try Self.checkCredsFile(path)
            try Self.check(natsOptions_SetUserCredentialsFromFiles(options, path, nil),
                           doing: "use sink.creds (\(path))", secrets: secrets, transient: false)
        case let .nkey(publicKey, seedFile):
            try Self.check(natsOptions_SetNKeyFromSeed(options, publicKey, seedFile),
                           doing: "use sink.nkey.seed (\(seedFile))", secrets: secrets, transient: false)
        }
        if let tls = configuration.tls {
            natsOptions_SetSecure(options, true)
            if let ca = tls.ca {
                try Self.check(natsOptions_LoadCATrustedCertificates(options, ca), doing: "load sink.tls.ca (\(ca))",
                               secrets: secrets, transient: false)
            }
            if let cert = tls.cert, let key = tls.key {
                try Self.check(natsOptions_LoadCertificatesChain(options, cert, key),
                               doing: "load sink.tls.cert and sink.tls.key (\(cert), \(key))", secrets: secrets, transient: false)
            }
        }
        var nc: OpaquePointer?
        let status = natsConnection_Connect(&nc, options)
        guard status == NATS_OK, let nc else {
            throw NatsErrors.connectError(status, servers: shownServers, credentials: configuration.credentials, secrets: secrets)
        }
        var jsOptions = jsOptions()
        jsOptions_Init(&jsOptions)
        // The sink keeps its own bound (sink.max_pending) below this one,
        // so a publish never stalls the pipeline's thread in libnats.
        jsOptions.PublishAsync.MaxPending = Int64(configuration.maxPending) * 2 + 64
        jsOptions.PublishAsync.AckHandler = ackHandler
        jsOptions.PublishAsync.AckHandlerClosure = closure
        jsOptions.PublishAsync.StallWait = 1
        jsOptions.Wait = Int64(configuration.ackTimeout.inNanoseconds / 1_000_000)
        var js: OpaquePointer?
        let jsStatus = natsConnection_JetStream(&js, nc, &jsOptions)
        guard jsStatus == NATS_OK, let js else {
            natsConnection_Destroy(nc)
            throw SiphonError(.sink, "cannot use JetStream on \(shownServers) (\(NatsErrors.text(jsStatus, secrets: secrets)))", transient: true)
        }
        connection = nc
        jetStream = js
    }

    /// The largest message the server takes (its `max_payload`), headers included.
    var maxPayload: Int { Int(natsConnection_GetMaxPayload(connection)) }

    var isClosed: Bool { natsConnection_Status(connection) == NATS_CONN_STATUS_CLOSED }

    /// Closes the connection and frees both handles; blocks (libnats joins its threads).
    func destroy() {
        let first = lock.withLock { () -> Bool in
            defer { destroyed = true }
            return !destroyed
        }
        guard first else { return }
        jsCtx_Destroy(jetStream)
        natsConnection_Close(connection)
        natsConnection_Destroy(connection)
    }

    /// libnats reads a .creds file only when it connects, and then fails
    /// with the same generic error a server's own refusals give: the file
    /// is read here first, so a missing or broken one is a permanent error
    /// naming it (never its contents), and the server's errors keep their
    /// own meaning.
    static func checkCredsFile(_ path: String) throws {
        let fix = "give a .creds file holding a user JWT and its NKey seed, as `nsc generate creds` writes it"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SiphonError(.sink, "cannot use sink.creds (\(path)): the file cannot be read; \(fix)")
        }
        guard text.contains("-----BEGIN NATS USER JWT-----"), text.contains("-----BEGIN USER NKEY SEED-----") else {
            throw SiphonError(.sink, "cannot use sink.creds (\(path)): no user JWT and NKey seed in it; \(fix)")
        }
    }

    static func check(_ status: natsStatus, doing action: String, secrets: [String], transient: Bool = true) throws {
        guard status != NATS_OK else { return }
        throw SiphonError(.sink, "cannot \(action) (\(NatsErrors.text(status, secrets: secrets)))", transient: transient)
    }
}

/// Runs blocking libnats calls (connect, stream lookups, close) on a
/// thread of their own, so that the pipeline's thread never waits on the
/// network.
enum Blocking {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.name = "siphon-nats-lookup"
            thread.start()
        }
    }
}
