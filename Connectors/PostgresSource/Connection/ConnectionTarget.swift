import CLibPQ
import Glibc
import SiphonCore

/// The database a source connects to, parsed from a conninfo string or a
/// `postgres://` URL. `display` and every error leave the password out.
struct ConnectionTarget: Sendable {
    /// libpq keywords and values as given by the user (password included).
    let parameters: [String: String]

    /// Parses with libpq itself, so every form libpq accepts works here;
    /// the error names the problem without echoing the text.
    init(_ conninfo: String) throws(ConfigurationMessage) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            let reason = errorMessage.map { String(cString: $0) } ?? "cannot be parsed"
            if let errorMessage { PQfreemem(errorMessage) }
            // libpq quotes the bad fragment, which may hold the password.
            let firstLine = reason.split(separator: "\n").first.map(String.init) ?? reason
            throw ConfigurationMessage(text: "not a valid conninfo or postgres:// URL (" + Self.scrub(firstLine, conninfo: conninfo) + ")")
        }
        defer { PQconninfoFree(options) }
        var parameters: [String: String] = [:]
        var cursor = options
        while let keyword = cursor.pointee.keyword {
            if let value = cursor.pointee.val {
                parameters[String(cString: keyword)] = String(cString: value)
            }
            cursor += 1
        }
        self.parameters = parameters
    }

    var password: String? { parameters["password"] }
    var database: String { parameters["dbname"] ?? parameters["user"] ?? "postgres" }
    var user: String { parameters["user"] ?? "" }

    /// `host=... port=... dbname=... user=...`, for logs: never the password.
    var display: String {
        let host = parameters["host"] ?? parameters["hostaddr"] ?? "localhost"
        let port = parameters["port"] ?? "5432"
        return "host=\(host) port=\(port) dbname=\(database) user=\(user)"
    }

    func redact(_ text: String) -> String {
        Secrets.redact(text, secrets: [password].compactMap { $0 }.filter { $0.count >= 1 })
    }

    private static func scrub(_ text: String, conninfo: String) -> String {
        // Drop anything quoted from the input: it may be part of a secret.
        var result = ""
        var inQuote = false
        for character in text {
            if character == "\"" {
                inQuote.toggle()
                result.append(inQuote ? "\"…" : "\"")
                continue
            }
            if !inQuote { result.append(character) }
        }
        return result
    }
}

/// A configuration message meant for a `ConfigProblem`.
struct ConfigurationMessage: Error {
    var text: String
}
