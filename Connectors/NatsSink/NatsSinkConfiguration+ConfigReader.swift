import SiphonCore

extension NatsSinkConfiguration {
    /// Reads the `sink:` mapping of a `type: nats` sink. Secrets (`password`,
    /// `token`) are never quoted in a problem.
    public init?(reading reader: ConfigReader) {
        // Typed reads report their own problems (and the loader fails on
        // any); `valid` tracks the ones reported here.
        var valid = true
        var servers: [String] = []
        if reader.has("url") && reader.has("servers") {
            valid = false
            reader.report("servers", "give sink.url or sink.servers, not both")
        }
        // Either may be one comma-separated string, as libnats' own URL option takes.
        servers = (reader.string("url").map { [$0] } ?? []) + reader.stringList("servers", default: [])
        servers = servers
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        if servers.isEmpty && !reader.has("url") && !reader.has("servers") {
            valid = false
            reader.report("url", "required: the NATS server, for example nats://127.0.0.1:4222 (or sink.servers, a list)")
        }
        for (index, server) in servers.enumerated() where !Self.isServerURL(server) {
            valid = false
            reader.report(reader.has("url") ? "url" : "servers[\(index)]",
                          "not a server URL such as nats://host:4222 or tls://host:4222 (the value is not shown: it may hold a password)")
        }
        func template(_ key: String, _ fallback: SubjectTemplate) -> SubjectTemplate {
            guard let text = reader.string(key) else { return fallback }
            do { return try SubjectTemplate(text) } catch {
                valid = false
                reader.report(key, "\(error)")
                return fallback
            }
        }
        let subject = template("subject", .defaultRows)
        let schemaSubject = template("schema_subject", .defaultSchema)
        let messageSubject = template("message_subject", .defaultMessages)
        let transactionMetadata = reader.bool("transaction_metadata", default: false)
        let transactionSubject = template("transaction_subject", .defaultTransactions)
        if transactionSubject.usesTable {
            valid = false
            reader.report("transaction_subject", "a transaction belongs to no one table: use {prefix}, {db} or {connector}, not {schema} or {table}")
        }
        let prefix = reader.string("prefix")
        if let prefix, SubjectTemplate.isUnfit(Substring(prefix.replacingAll(".", with: "x"))) || prefix.hasPrefix(".")
            || prefix.hasSuffix(".") || prefix.contains("..") {
            valid = false
            reader.report("prefix", "must be one or more subject tokens: no spaces, no * or >, no empty token")
        }
        let stream = Self.stream(reader, valid: &valid)
        let credentials = Self.credentials(reader, valid: &valid)
        var tls: TLS?
        if let mapping = reader.child("tls") {
            tls = TLS(ca: mapping.string("ca"), cert: mapping.string("cert"), key: mapping.string("key"))
            if (tls?.cert == nil) != (tls?.key == nil) {
                valid = false
                mapping.report(tls?.cert == nil ? "cert" : "key", "give both tls.cert and tls.key (a client certificate and its private key), or neither")
            }
        }
        let maxPending = reader.int("max_pending", default: Self.defaultMaxPending, range: 1...1_000_000)
        let ackTimeout = reader.duration("ack_timeout", default: .seconds(10))
        if ackTimeout < .milliseconds(100) {
            valid = false
            reader.report("ack_timeout", "must be at least 100ms")
        }
        reader.finish()
        guard valid, let stream else { return nil }
        self.init(servers: servers, stream: stream, subject: subject, schemaSubject: schemaSubject,
                  messageSubject: messageSubject, transactionMetadata: transactionMetadata,
                  transactionSubject: transactionSubject, prefix: prefix, credentials: credentials, tls: tls,
                  maxPending: maxPending, ackTimeout: ackTimeout)
    }

    static func isServerURL(_ text: String) -> Bool {
        let schemes = ["nats://", "tls://", "ws://", "wss://"]
        guard let scheme = schemes.first(where: { text.hasPrefix($0) }) else { return false }
        let rest = text.dropFirst(scheme.count)
        return !rest.isEmpty && !rest.contains(where: \.isWhitespace)
    }

    /// `stream: name`, or `stream: {name, subjects, storage, replicas, max_age, duplicate_window}`.
    private static func stream(_ reader: ConfigReader, valid: inout Bool) -> Stream? {
        guard reader.has("stream") else {
            reader.report("stream", "required: the JetStream stream's name, or a mapping with its name and how to create it")
            valid = false
            return nil
        }
        guard reader.isMapping("stream") else {
            guard let name = reader.string("stream") else { return nil }
            guard isStreamName(name) else {
                valid = false
                reader.report("stream", "'\(name)' is not a stream name: no spaces, dots, *, > or slashes")
                return nil
            }
            return Stream(name: name)
        }
        guard let mapping = reader.child("stream") else { return nil }
        let name = mapping.requiredString("name")
        if let name, !isStreamName(name) {
            valid = false
            mapping.report("name", "'\(name)' is not a stream name: no spaces, dots, *, > or slashes")
        }
        let subjects = mapping.stringList("subjects", default: ["{prefix}.>"])
        for (index, filter) in subjects.enumerated() {
            let tokens = filter.replacingAll("{prefix}", with: "p").split(separator: ".", omittingEmptySubsequences: false)
            let bad = tokens.isEmpty || tokens.contains { $0.isEmpty || $0.contains(where: \.isWhitespace) || $0.contains("{")
                || ($0.count > 1 && ($0.contains("*") || $0.contains(">"))) }
                || tokens.dropLast().contains(">")
            if bad {
                valid = false
                mapping.report("subjects[\(index)]", "'\(filter)' is not a subject filter (tokens separated by dots; * for one token, > last for the rest; {prefix} is the only placeholder)")
            }
        }
        let storage = Stream.Storage(rawValue: mapping.choice("storage", allowed: Stream.Storage.allCases.map(\.rawValue),
                                                              default: "file")) ?? .file
        let replicas = mapping.int("replicas", default: 1, range: 1...5)
        let maxAge = mapping.has("max_age") ? mapping.duration("max_age", default: .zero) : nil
        let window = mapping.has("duplicate_window") ? mapping.duration("duplicate_window", default: .seconds(120)) : nil
        if let window, window < .milliseconds(100) {
            valid = false
            mapping.report("duplicate_window", "must be at least 100ms")
        }
        guard let name else { return nil }
        return Stream(name: name, subjects: subjects, storage: storage, replicas: replicas, maxAge: maxAge,
                      duplicateWindow: window)
    }

    static func isStreamName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains { $0 == "." || $0 == "*" || $0 == ">" || $0 == "/" || $0 == "\\" || $0.isWhitespace }
    }

    /// At most one of `user`/`password`, `token`, `creds`, `nkey`.
    private static func credentials(_ reader: ConfigReader, valid: inout Bool) -> Credentials {
        let user = reader.string("user")
        let password = reader.string("password")
        let token = reader.string("token")
        let creds = reader.string("creds")
        var nkey: (publicKey: String, seedFile: String)?
        if reader.has("nkey") {
            if let mapping = reader.child("nkey") {
                let publicKey = mapping.requiredString("public")
                let seed = mapping.requiredString("seed")
                if let publicKey, let seed { nkey = (publicKey, seed) } else { valid = false }
            } else {
                valid = false
            }
        }
        if (user == nil) != (password == nil) {
            valid = false
            reader.report(user == nil ? "user" : "password", "give sink.user and sink.password together")
        }
        let given = [user != nil || password != nil ? "user/password" : nil, token != nil ? "token" : nil,
                     creds != nil ? "creds" : nil, reader.has("nkey") ? "nkey" : nil].compactMap { $0 }
        if given.count > 1 {
            valid = false
            reader.report(given.contains("token") ? "token" : given.contains("creds") ? "creds" : "nkey",
                          "conflicting credentials: \(given.joined(separator: ", ")); give only one way of authenticating")
            return .none
        }
        if let user, let password { return .userPassword(user: user, password: password) }
        if let token { return .token(token) }
        if let creds { return .credsFile(creds) }
        if let nkey { return .nkey(publicKey: nkey.publicKey, seedFile: nkey.seedFile) }
        return .none
    }
}
