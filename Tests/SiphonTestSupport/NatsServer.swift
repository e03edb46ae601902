import Foundation

/// A throwaway `nats-server -js` listening on 127.0.0.1 at a free port,
/// with its JetStream store in a fresh folder under /tmp. It can be
/// stopped and started again on the same port and store (the stream's
/// messages survive, as in a server restart). On deinit the server is
/// killed and its folder removed.
public final class NatsServer: @unchecked Sendable {
    /// The TCP port on 127.0.0.1; it stays the same across `stop()`/`start()`.
    public let port: Int
    public let storeDirectory: String
    /// Set when the server was started with `--user`/`--pass`.
    public let user: String?
    public let password: String?
    /// Set when the server was started with a `max_payload` below the default.
    public let maxPayload: Int?
    /// Set when connections must give this token (`--auth`).
    public let token: String?
    /// Set when the only user is this NKey (its public key).
    public let nkeyUser: String?
    /// Set when the server speaks TLS only.
    public let tls: TLS?
    /// Set when the server runs in operator (JWT) mode: only users whose
    /// JWT an account it knows signed may connect.
    public let operatorTrust: OperatorTrust?

    /// A TLS server: its certificate and key, and, to require client
    /// certificates, the CA they must be signed by.
    public struct TLS: Sendable {
        public var cert: String
        public var key: String
        public var clientCA: String?
        public init(cert: String, key: String, clientCA: String? = nil) {
            self.cert = cert
            self.key = key
            self.clientCA = clientCA
        }
    }

    /// What a server in operator (decentralized JWT) mode trusts: the
    /// operator's JWT, its system account, and every account's JWT, keyed
    /// by the account's public key (preloaded into a memory resolver).
    public struct OperatorTrust: Sendable {
        public var operatorJWT: String
        public var systemAccount: String
        public var accountJWTs: [String: String]
        public init(operatorJWT: String, systemAccount: String, accountJWTs: [String: String]) {
            self.operatorJWT = operatorJWT
            self.systemAccount = systemAccount
            self.accountJWTs = accountJWTs
        }
    }

    private let root: TemporaryDirectory
    private let lock = NSLock()
    private var process: ChildProcess?

    /// `nats://127.0.0.1:<port>`, without credentials.
    public var url: String { "nats://127.0.0.1:\(port)" }

    /// Starts a new server; returns once it accepts connections. With
    /// `user` and `password`, connections must give them; `maxPayload`
    /// lowers the largest message the server takes; `operatorTrust` puts
    /// it in operator mode.
    public static func start(user: String? = nil, password: String? = nil, token: String? = nil, nkeyUser: String? = nil,
                             tls: TLS? = nil, maxPayload: Int? = nil, operatorTrust: OperatorTrust? = nil) throws -> NatsServer {
        var attempt = 1
        while true {
            let server = try NatsServer(port: try PostgresBinaries.freeLoopbackPort(), user: user, password: password,
                                        token: token, nkeyUser: nkeyUser, tls: tls, maxPayload: maxPayload,
                                        operatorTrust: operatorTrust)
            do {
                try server.start()
                return server
            } catch {
                // Another process may have taken the port between our probe and the server's bind.
                guard attempt < 3, server.logText.contains("address already in use") else { throw error }
                attempt += 1
            }
        }
    }

    private init(port: Int, user: String?, password: String?, token: String?, nkeyUser: String?, tls: TLS?,
                 maxPayload: Int?, operatorTrust: OperatorTrust?) throws {
        self.port = port
        self.user = user
        self.password = password
        self.token = token
        self.nkeyUser = nkeyUser
        self.tls = tls
        self.maxPayload = maxPayload
        self.operatorTrust = operatorTrust
        root = try TemporaryDirectory(prefix: "siphon-nats")
        storeDirectory = root.appending("store")
        try FileManager.default.createDirectory(atPath: storeDirectory, withIntermediateDirectories: false)
        var conf = ""
        if let maxPayload { conf += "max_payload: \(maxPayload)\n" }
        if let nkeyUser { conf += "authorization { users = [ { nkey: \"\(nkeyUser)\" } ] }\n" }
        if let operatorTrust {
            conf += "operator: \(operatorTrust.operatorJWT)\nsystem_account: \(operatorTrust.systemAccount)\n"
            conf += "resolver: MEMORY\nresolver_preload: {\n"
            for (account, jwt) in operatorTrust.accountJWTs.sorted(by: { $0.key < $1.key }) { conf += "  \(account): \(jwt)\n" }
            conf += "}\n"
        }
        if !conf.isEmpty { try conf.write(toFile: root.appending("server.conf"), atomically: false, encoding: .utf8) }
    }

    /// Starts the server on the same port and store (after `stop()` or `kill()`);
    /// returns once it accepts connections.
    public func start() throws {
        var arguments = ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDirectory]
        if maxPayload != nil || nkeyUser != nil || operatorTrust != nil { arguments += ["-c", root.appending("server.conf")] }
        if let user, let password { arguments += ["--user", user, "--pass", password] }
        if let token { arguments += ["--auth", token] }
        if let tls {
            arguments += ["--tlscert", tls.cert, "--tlskey", tls.key]
            if let ca = tls.clientCA { arguments += ["--tlsverify", "--tlscacert", ca] } else { arguments += ["--tls"] }
        }
        let child = try ChildProcess(executable: Self.executable, arguments: arguments)
        lock.withLock { process = child }
        let deadline = ContinuousClock.now + .seconds(30)
        while !child.stderrText.contains("Server is ready") {
            guard child.isRunning else {
                throw TestSupportError("nats-server exited at start:\n\(tail(child.stderrText))")
            }
            if ContinuousClock.now > deadline {
                child.terminate()
                throw TestSupportError("nats-server did not become ready within 30 s:\n\(tail(child.stderrText))")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// Stops the server cleanly (SIGTERM: it syncs its store) and waits for it to exit.
    public func stop() throws {
        guard let child = lock.withLock({ process }) else { return }
        child.signal(SIGTERM)
        _ = try child.waitForExit(timeout: .seconds(30))
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    public func kill() throws {
        guard let child = lock.withLock({ process }) else { return }
        child.signal(SIGKILL)
        _ = try child.waitForExit(timeout: .seconds(10))
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    public func pause() {
        lock.withLock { process }?.signal(SIGSTOP)
    }

    /// Lets a paused server go on (SIGCONT).
    public func resume() {
        lock.withLock { process }?.signal(SIGCONT)
    }

    public var isRunning: Bool { lock.withLock { process }?.isRunning ?? false }

    /// What the server wrote to stderr (its log) since its last start.
    public var logText: String { lock.withLock { process }?.stderrText ?? "" }

    static var executable: String {
        ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"]
            .first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/nats-server"
    }

    deinit {
        if let process = lock.withLock({ process }), process.isRunning {
            process.signal(SIGKILL)
            _ = try? process.waitForExit(timeout: .seconds(5))
        }
    }
}
