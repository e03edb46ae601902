import CLibPQ
import Glibc
import SiphonCore

/// The database a source connects to, parsed from a conninfo string or a
/// `postgres://` URL. `display` and every error leave the password out.
struct ConnectionTarget: Sendable {
    /// libpq keywords and values as given by the user (password included).
    private(set) var parameters: [String: String]

    /// Parses with libpq itself, so every form libpq accepts works here;
    /// the error names the problem without repeating any of the text.
    init(_ conninfo: String) throws(ConfigurationMessage) {
        if let problem = Self.misplacedCredentials(conninfo) {
            throw ConfigurationMessage(text: "not a valid conninfo or postgres:// URL: " + problem)
        }
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            let reason = errorMessage.map { String(cString: $0) } ?? ""
            if let errorMessage { PQfreemem(errorMessage) }
            throw ConfigurationMessage(text: "not a valid conninfo or postgres:// URL: " + Self.describeParseFailure(reason))
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

    /// The same database with more libpq keywords; `options` (server
    /// settings) are added to the user's rather than replacing them.
    func adding(_ extra: [String: String]) -> ConnectionTarget {
        var copy = self
        for (key, value) in extra {
            copy.parameters[key] = key == "options" ? (parameters[key].map { $0 + " " } ?? "") + value : value
        }
        return copy
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

    /// What libpq found wrong, in fixed words. libpq quotes the text it
    /// stopped at, which may be part of the password (a password with a
    /// `"` in it once defeated a scrubber of quoted fragments), so nothing
    /// of its message but its kind is kept.
    static func describeParseFailure(_ libpqMessage: String) -> String {
        let message = libpqMessage.lowercased()
        let kinds: [(clue: String, text: String)] = [
            ("percent-encoded", "a '%' is not followed by two hex digits, or encodes a zero byte (write a literal '%' as %25)"),
            ("ipv6", "an IPv6 host address in brackets is empty or has no closing ']'"),
            ("unexpected character", "unexpected character after the host (expected ':' and a port, or '/')"),
            ("uri query parameter", "a query parameter after '?' is not key=value with a known key"),
            ("missing \"=\"", "a word without '=' (write key=value; put a value with spaces in single quotes)"),
            ("unterminated quoted string", "a quoted value is not closed"),
            ("invalid connection option", "it names an unknown connection option"),
            ("service", "its service name or service file cannot be used"),
        ]
        return kinds.first { message.contains($0.clue) }?.text
            ?? "libpq cannot read it as key=value pairs or as a postgres:// URL"
    }

    /// A URL libpq would read with part of the user name or password in
    /// another field (the host, the port, the database), where logs and
    /// errors show it: libpq takes the credentials up to the first `@` or
    /// `/`, and the host up to the next `:`, `/`, `?` or `,`.
    static func misplacedCredentials(_ conninfo: String) -> String? {
        let text = Substring(conninfo)
        guard let scheme = ["postgresql://", "postgres://"].first(where: { text.hasPrefix($0) }) else { return nil }
        let rest = text.dropFirst(scheme.count)
        let pathAndQuery = rest.drop { $0 != "@" && $0 != "/" }
        if pathAndQuery.first == "/", pathAndQuery.prefix(while: { $0 != "?" }).contains("@") {
            return "an '@' after the first '/': percent-encode '/' in a user name or password as %2F (or '@' in the database name as %40)"
        }
        if pathAndQuery.first == "@", pathAndQuery.dropFirst().prefix(while: { $0 != "/" && $0 != "?" }).contains("@") {
            return "more than one '@' before the host: percent-encode '@' in a user name or password as %40"
        }
        return nil
    }
}

/// A configuration message meant for a `ConfigProblem`.
struct ConfigurationMessage: Error {
    var text: String
}
