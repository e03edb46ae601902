import CNats
import SiphonCore

/// libnats' statuses and JetStream's error codes, as text and as
/// `SiphonError`s that say whether a retry may help. Every text passes
/// through `Secrets.redact`.
enum NatsErrors {
    /// libnats' name for `status`, and its last error text on this thread when it adds to it.
    static func text(_ status: natsStatus, secrets: [String]) -> String {
        let name = String(cString: natsStatus_GetText(status))
        var last = NATS_OK
        // libnats' last error reads "(conn.c:2088): No server available for connection".
        var detail = nats_GetLastError(&last).map { String(cString: $0) } ?? ""
        if detail.hasPrefix("("), let close = detail.range(of: "): ") { detail = String(detail[close.upperBound...]) }
        let text = detail.isEmpty || detail == name ? name : detail.hasPrefix(name) ? detail : "\(name): \(detail)"
        return Secrets.redact(text, secrets: secrets)
    }

    /// `nats://user:secret@host:4222` as `nats://host:4222`.
    static func withoutUserInfo(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
        return String(url[..<scheme.upperBound]) + String(url[url.index(after: at)...])
    }

    static func connectError(_ status: natsStatus, servers: String, credentials: NatsSinkConfiguration.Credentials,
                             secrets: [String]) -> SiphonError {
        let said = text(status, secrets: secrets)
        // (A missing or broken .creds file is found before connecting:
        // `NatsClient.checkCredsFile`.)
        switch status {
        case NATS_CONNECTION_AUTH_FAILED, NATS_NOT_PERMITTED:
            let which: String
            switch credentials {
            case .none: which = "no credentials are set: give sink.user and sink.password, sink.token, sink.creds or sink.nkey"
            case .userPassword: which = "check sink.user and sink.password"
            case .token: which = "check sink.token"
            case let .credsFile(path):
                which = "check the file sink.creds names (\(path)): its user JWT must be signed by an account the server trusts, and not be expired or revoked"
            case .nkey: which = "check sink.nkey"
            }
            return SiphonError(.sink, "NATS at \(servers) refused the credentials (\(said)); \(which)")
        case NATS_SSL_ERROR:
            return SiphonError(.sink, "the TLS handshake with NATS at \(servers) failed (\(said)); check sink.tls and the server's certificate")
        case NATS_SECURE_CONNECTION_REQUIRED:
            return SiphonError(.sink, "NATS at \(servers) requires TLS (\(said)); set sink.tls (at least tls.ca) or use a tls:// URL")
        case NATS_SECURE_CONNECTION_WANTED:
            return SiphonError(.sink, "NATS at \(servers) does not offer TLS (\(said)); remove sink.tls or use a nats:// URL")
        default:
            return SiphonError(.sink, "cannot reach NATS at \(servers) (\(said)); retrying: check sink.url and that nats-server is up",
                               transient: true)
        }
    }

    /// A negative acknowledgement of one message, or a publish that failed.
    static func publishError(status: natsStatus, code: jsErrCode, serverText: String?, subject: String,
                             id: String, stream: String, secrets: [String]) -> SiphonError {
        let said = Secrets.redact(serverText.map { "\($0)" } ?? text(status, secrets: secrets), secrets: secrets)
        switch code {
        case JSStreamWrongLastSequenceErr, JSStreamWrongLastMsgIDErr:
            return SiphonError(.sink, "JetStream rejected event \(id) on \(subject): stream \(stream) does not end where this pipeline expected (\(said)); another writer, or a replay: re-reading the stream's tail and resuming after it",
                               transient: true)
        case JSStreamMessageExceedsMaximumErr:
            return SiphonError(.sink, "stream \(stream) refused event \(id) on \(subject): the message is over the stream's max_msg_size (\(said)); the pipeline stops before it: raise the stream's limit or leave the table out")
        default:
            if status == NATS_MAX_PAYLOAD {
                return SiphonError(.sink, "event \(id) on \(subject) is over the server's max_payload (\(said)); the pipeline stops before it: raise max_payload or leave the table out")
            }
            if status == NATS_NOT_PERMITTED {
                return SiphonError(.sink, "NATS does not permit publishing event \(id) to \(subject) (\(said)); grant the user publish rights on the pipeline's subjects")
            }
            return SiphonError(.sink, "JetStream did not store event \(id) on \(subject) in stream \(stream) (\(said)); the pipeline starts again from its last acknowledged position",
                               transient: true)
        }
    }
}
