import SiphonCore

/// The `sink:` keys of a `type: nats` sink.
public struct NatsSinkConfiguration: Sendable, Equatable {
    /// `nats://host:port` URLs (`sink.url`, or `sink.servers` for several).
    public var servers: [String]
    /// The JetStream stream the events go to (`sink.stream`).
    public var stream: Stream
    /// Where row events go (`sink.subject`).
    public var subject: SubjectTemplate
    /// Where schema-change events go (`sink.schema_subject`).
    public var schemaSubject: SubjectTemplate
    /// Where logical-message events (`op: "m"`) go (`sink.message_subject`).
    public var messageSubject: SubjectTemplate
    /// Whether the sink publishes Debezium's transaction metadata, a BEGIN
    /// and an END message per source transaction
    /// (`sink.transaction_metadata`, off by default as in Debezium; see
    /// `TransactionMetadata` and `NatsSink`).
    public var transactionMetadata: Bool
    /// Where they go (`sink.transaction_subject`).
    public var transactionSubject: SubjectTemplate
    /// `{prefix}` in the templates (`sink.prefix`); nil: the pipeline's name.
    public var prefix: String?
    /// How the sink proves who it is (`user`/`password`, `token`, `creds`, `nkey`).
    public var credentials: Credentials
    /// `sink.tls`: nil, plain TCP unless a `tls://` URL asks for TLS.
    public var tls: TLS?
    /// The most publishes waiting for their acknowledgement at once
    /// (`sink.max_pending`): memory stays flat however far behind the
    /// server is.
    public var maxPending: Int
    /// How long a publish may wait for its acknowledgement before the
    /// session is given up and started again (`sink.ack_timeout`).
    public var ackTimeout: Duration

    public static let defaultMaxPending = 4096

    /// `sink.stream`: its name, and what the sink creates when it is missing
    /// (an existing stream is used as it is, never altered).
    public struct Stream: Sendable, Equatable {
        public enum Storage: String, Sendable, CaseIterable { case file, memory }
        public var name: String
        /// Subject filters, with `{prefix}`; default `{prefix}.>`.
        public var subjects: [String]
        public var storage: Storage
        public var replicas: Int
        /// nil: the server's default (no limit).
        public var maxAge: Duration?
        /// nil: the server's default (two minutes).
        public var duplicateWindow: Duration?

        public init(name: String, subjects: [String] = ["{prefix}.>"], storage: Storage = .file, replicas: Int = 1,
                    maxAge: Duration? = nil, duplicateWindow: Duration? = nil) {
            self.name = name
            self.subjects = subjects
            self.storage = storage
            self.replicas = replicas
            self.maxAge = maxAge
            self.duplicateWindow = duplicateWindow
        }

        /// The subject filters the sink creates the stream with.
        public func subjects(prefix: String) -> [String] {
            subjects.map { $0.replacingAll("{prefix}", with: prefix) }
        }
    }

    /// At most one way of authenticating; none is the server's anonymous user.
    public enum Credentials: Sendable, Equatable {
        case none
        case userPassword(user: String, password: String)
        case token(String)
        /// A `.creds` file (a user JWT and its NKey seed).
        case credsFile(String)
        /// An NKey user: its public key and the file holding its seed.
        case nkey(publicKey: String, seedFile: String)
    }

    /// `sink.tls`: files, never their contents.
    public struct TLS: Sendable, Equatable {
        public var ca: String?
        public var cert: String?
        public var key: String?

        public init(ca: String? = nil, cert: String? = nil, key: String? = nil) {
            self.ca = ca
            self.cert = cert
            self.key = key
        }
    }

    public init(servers: [String], stream: Stream, subject: SubjectTemplate = .defaultRows,
                schemaSubject: SubjectTemplate = .defaultSchema, messageSubject: SubjectTemplate = .defaultMessages,
                transactionMetadata: Bool = false, transactionSubject: SubjectTemplate = .defaultTransactions,
                prefix: String? = nil, credentials: Credentials = .none, tls: TLS? = nil,
                maxPending: Int = Self.defaultMaxPending, ackTimeout: Duration = .seconds(10)) {
        self.servers = servers
        self.stream = stream
        self.subject = subject
        self.schemaSubject = schemaSubject
        self.messageSubject = messageSubject
        self.transactionMetadata = transactionMetadata
        self.transactionSubject = transactionSubject
        self.prefix = prefix
        self.credentials = credentials
        self.tls = tls
        self.maxPending = maxPending
        self.ackTimeout = ackTimeout
    }

    /// The values to mask in any text the client library gives back.
    var secrets: [String] {
        var secrets: [String]
        switch credentials {
        case let .userPassword(_, password): secrets = [password]
        case let .token(token): secrets = [token]
        case .none, .credsFile, .nkey: secrets = []
        }
        // `nats://user:password@host` or `nats://token@host`.
        for server in servers {
            guard let scheme = server.range(of: "://"), let at = server[scheme.upperBound...].firstIndex(of: "@") else { continue }
            let userInfo = server[scheme.upperBound..<at]
            secrets.append(String(userInfo.split(separator: ":", maxSplits: 1).last ?? userInfo))
        }
        return secrets.filter { $0.count >= 3 }
    }
}
