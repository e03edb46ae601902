import CLibPQ
import SiphonCore

/// The target database, parsed from `sink.url` (conninfo or `postgres://`
/// URL) by libpq. `display` and every error leave the password out.
struct TargetAddress: Sendable {
    /// libpq keywords and values as given (password included).
    let parameters: [String: String]

    /// Parses with libpq; the error names the problem without repeating
    /// any of the text, which may hold the password.
    init(_ conninfo: String) throws(SiphonError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            if let errorMessage { PQfreemem(errorMessage) }
            throw SiphonError(.configuration, "not a valid conninfo or postgres:// URL (libpq cannot read it as key=value pairs or as a URL; the text is not shown, it may hold the password)")
        }
        defer { PQconninfoFree(options) }
        var parameters: [String: String] = [:]
        var cursor = options
        while let keyword = cursor.pointee.keyword {
            if let value = cursor.pointee.val { parameters[String(cString: keyword)] = String(cString: value) }
            cursor += 1
        }
        self.parameters = parameters
    }

    var password: String? { parameters["password"] }
    var database: String { parameters["dbname"] ?? parameters["user"] ?? "postgres" }
    var user: String { parameters["user"] ?? "" }

    /// `host=... port=... dbname=... user=...`: never the password.
    var display: String {
        let host = parameters["host"] ?? parameters["hostaddr"] ?? "localhost"
        return "host=\(host) port=\(parameters["port"] ?? "5432") dbname=\(database) user=\(user)"
    }

    func redact(_ text: String) -> String {
        Secrets.redact(text, secrets: [password].compactMap { $0 })
    }
}
