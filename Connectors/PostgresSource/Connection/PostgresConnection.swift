import CLibPQ
import Glibc
import SiphonCore

/// One libpq connection, driven without blocking a thread.
///
/// Connecting, queries and COPY all use libpq's asynchronous API and wait
/// for the socket with `FileDescriptorWait`. Not thread-safe: one task owns it at a
/// time (the reason it is `@unchecked Sendable`: it moves between tasks
/// but is never shared). Errors are `PostgresError` with secrets removed.
final class PostgresConnection: @unchecked Sendable {
    private var handle: OpaquePointer?
    let target: ConnectionTarget
    /// Set by `within`: a command still unanswered at this instant fails
    /// as a lost connection.
    private var deadline: ContinuousClock.Instant?

    private init(handle: OpaquePointer, target: ConnectionTarget) {
        self.handle = handle
        self.target = target
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// Opens a connection; `replication` opens a walsender connection
    /// (`replication=database`) that accepts replication commands.
    static func connect(_ target: ConnectionTarget, replication: Bool) async throws -> PostgresConnection {
        var parameters = target.parameters
        parameters["application_name"] = parameters["application_name"] ?? "siphon"
        parameters["connect_timeout"] = parameters["connect_timeout"] ?? "10"
        // Text output forms the value renderer relies on, whatever the server's
        // defaults; and string literals where a backslash is an ordinary
        // character, which is what libpq's escaping then produces too.
        parameters["options"] = (parameters["options"].map { $0 + " " } ?? "")
            + "-c datestyle=ISO,MDY -c timezone=UTC -c intervalstyle=iso_8601 -c bytea_output=hex -c extra_float_digits=3"
            + " -c standard_conforming_strings=on"
        if replication { parameters["replication"] = "database" }
        let keys = Array(parameters.keys)
        let handle: OpaquePointer? = withCStrings(keys) { keyPointers in
            withCStrings(keys.map { parameters[$0]! }) { valuePointers in
                PQconnectStartParams(keyPointers, valuePointers, 0)
            }
        }
        guard let handle else { throw PostgresError(.connection, "out of memory starting a connection", target: target) }
        let connection = PostgresConnection(handle: handle, target: target)
        guard PQstatus(handle) != CONNECTION_BAD else { throw connection.lastError(.connection) }
        var status = PGRES_POLLING_WRITING
        let deadline = ContinuousClock.now + .seconds(Int(parameters["connect_timeout"] ?? "10") ?? 10)
        while true {
            switch status {
            case PGRES_POLLING_OK:
                guard PQsetnonblocking(handle, 1) == 0 else { throw connection.lastError(.connection) }
                return connection
            case PGRES_POLLING_FAILED:
                throw connection.lastError(.connection)
            case PGRES_POLLING_READING, PGRES_POLLING_WRITING:
                if ContinuousClock.now > deadline {
                    throw PostgresError(.connection, "timed out connecting to \(target.display)", target: target)
                }
                _ = await FileDescriptorWait.wait(PQsocket(handle), for: status == PGRES_POLLING_READING ? .read : .write,
                                          timeout: .milliseconds(250))
                try Task.checkCancellation()
            default:
                break
            }
            status = PQconnectPoll(handle)
        }
    }

    var serverVersion: Int { Int(PQserverVersion(handle)) }
    var databaseName: String { PQdb(handle).map { String(cString: $0) } ?? "" }
    private var socket: Int32 { PQsocket(handle) }

    func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    // MARK: Queries

    /// Runs one statement (or several separated by `;`) and returns the rows
    /// of the last result as text (nil for SQL NULL). Any name or text in
    /// `sql` must come through `identifier` or `literal`; better, pass it as
    /// a parameter (`query(_:parameters:)`).
    @discardableResult
    func query(_ sql: String) async throws -> [[String?]] {
        guard PQsendQuery(handle, sql) == 1 else { throw lastError(.query) }
        return try await rows(answering: sql)
    }

    /// Runs one statement with `$1`, `$2`... bound to `parameters` (sent apart
    /// from the SQL text, as text values) and returns its rows. Not on a
    /// replication connection, which only speaks the simple protocol.
    @discardableResult
    func query(_ sql: String, parameters: [String]) async throws -> [[String?]] {
        let sent = withCStrings(parameters) { values in
            PQsendQueryParams(handle, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        guard sent == 1 else { throw lastError(.query) }
        return try await rows(answering: sql)
    }

    /// `name` quoted as an SQL identifier by libpq, for this connection's encoding.
    func identifier(_ name: String) throws -> String {
        try escaped(name, PQescapeIdentifier)
    }

    /// `text` quoted as an SQL string literal by libpq (for this connection's
    /// encoding and `standard_conforming_strings`).
    func literal(_ text: String) throws -> String {
        try escaped(text, PQescapeLiteral)
    }

    private func escaped(_ text: String, _ escape: (OpaquePointer?, UnsafePointer<CChar>?, Int) -> UnsafeMutablePointer<CChar>?) throws -> String {
        let quoted = text.withCString { escape(handle, $0, strlen($0)) }
        guard let quoted else { throw lastError(.query) }
        defer { PQfreemem(quoted) }
        return String(cString: quoted)
    }

    /// Collects the results of the command just sent; the rows of the last.
    private func rows(answering sql: String) async throws -> [[String?]] {
        try await flushOutput()
        var rows: [[String?]] = []
        var failure: PostgresError?
        while let result = try await nextResult() {
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
                rows = Self.rows(of: result)
            case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                rows = []
            case PGRES_COPY_OUT, PGRES_COPY_IN, PGRES_COPY_BOTH:
                throw PostgresError(.protocolViolation, "unexpected COPY from: \(sql.prefix(60))", target: target)
            default:
                failure = failure ?? resultError(result, query: sql)
            }
        }
        if let failure { throw failure }
        return rows
    }

    private static func rows(of result: OpaquePointer) -> [[String?]] {
        let rowCount = PQntuples(result)
        let columnCount = PQnfields(result)
        var rows: [[String?]] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var values: [String?] = []
            for column in 0..<columnCount {
                values.append(PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column)))
            }
            rows.append(values)
        }
        return rows
    }

    /// Waits for the next result; nil when the command is complete.
    private func nextResult() async throws -> OpaquePointer? {
        while PQisBusy(handle) == 1 {
            try checkDeadline()
            _ = await FileDescriptorWait.wait(socket, for: .read, timeout: waitLimit)
            guard PQconsumeInput(handle) == 1 else { throw lastError(.connection) }
        }
        return PQgetResult(handle)
    }

    private func flushOutput() async throws {
        while true {
            let result = PQflush(handle)
            if result == 0 { return }
            if result < 0 { throw lastError(.connection) }
            try checkDeadline()
            _ = await FileDescriptorWait.wait(socket, for: .write, timeout: waitLimit)
            guard PQconsumeInput(handle) == 1 else { throw lastError(.connection) }
        }
    }

    /// Runs `body`'s commands with a time limit: one still unanswered after
    /// `limit` fails as a lost connection (the lease's checks, which must
    /// not wait for TCP to give up).
    func within<T>(_ limit: Duration, _ body: () async throws -> T) async throws -> T {
        deadline = .now + limit
        defer { deadline = nil }
        return try await body()
    }

    /// One wait for the socket: a second, or what is left before `deadline`.
    private var waitLimit: Duration {
        guard let deadline else { return .seconds(1) }
        return max(.milliseconds(1), min(.seconds(1), deadline - .now))
    }

    private func checkDeadline() throws {
        if let deadline, ContinuousClock.now >= deadline {
            throw PostgresError(.connection, "no answer from \(target.display) in time", target: target)
        }
    }

    // MARK: COPY

    /// Sends a command that answers with COPY OUT or COPY BOTH (a table
    /// copy, START_REPLICATION) and returns once the copy has begun.
    func startCopy(_ sql: String) async throws {
        guard PQsendQuery(handle, sql) == 1 else { throw lastError(.query) }
        try await flushOutput()
        guard let result = try await nextResult() else {
            throw PostgresError(.protocolViolation, "no answer to \(sql.prefix(60))", target: target)
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COPY_OUT, PGRES_COPY_BOTH: return
        default:
            let error = resultError(result, query: sql)
            while let extra = PQgetResult(handle) { PQclear(extra) }
            throw error
        }
    }

    enum CopyRead {
        /// A message, now in the `message` buffer passed to `readCopyData`.
        case data
        /// Nothing buffered: wait for the socket before asking again.
        case wouldBlock
        /// The server ended the copy (a table copy is done).
        case done
    }

    /// Takes the next CopyData message without waiting.
    ///
    /// The message replaces the contents of `message`, whose storage is
    /// reused when nothing else holds it: one allocation per stream, not one
    /// per message.
    func readCopyData(into message: inout [UInt8]) throws -> CopyRead {
        try readCopyData(into: &message, mayReadSocket: true).read
    }

    /// Takes the next CopyData message without waiting, reading the socket
    /// only if `mayReadSocket` allows it and libpq holds no whole message
    /// (one read, which takes what the socket has). Without the read, an
    /// empty buffer reads as `.wouldBlock` without asking the kernel (the
    /// caller polls, which says whether more has come). `readSocket` says
    /// whether the read was made.
    func readCopyData(into message: inout [UInt8], mayReadSocket: Bool) throws -> (read: CopyRead, readSocket: Bool) {
        var buffer: UnsafeMutablePointer<CChar>?
        var length = PQgetCopyData(handle, &buffer, 1)
        let readSocket = length == 0 && mayReadSocket
        if readSocket {
            guard PQconsumeInput(handle) == 1 else { throw lastError(.connection) }
            length = PQgetCopyData(handle, &buffer, 1)
        }
        return (try takeCopyData(length, buffer, into: &message), readSocket)
    }

    /// What `PQgetCopyData` returned: a message (copied into `message`), none
    /// yet, or the end of the copy.
    private func takeCopyData(_ length: Int32, _ buffer: UnsafeMutablePointer<CChar>?, into message: inout [UInt8]) throws -> CopyRead {
        if length > 0, let buffer {
            defer { PQfreemem(buffer) }
            message.removeAll(keepingCapacity: true)
            message.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: Int(length)))
            return .data
        }
        if length == 0 { return .wouldBlock }
        if length == -1 {
            // The copy ended; collect the command's final status.
            var failure: PostgresError?
            while let result = PQgetResult(handle) {
                if PQresultStatus(result) != PGRES_COMMAND_OK && PQresultStatus(result) != PGRES_TUPLES_OK {
                    failure = failure ?? resultError(result, query: "COPY")
                }
                PQclear(result)
            }
            if let failure { throw failure }
            return .done
        }
        throw lastError(.connection)
    }

    /// Whether libpq decrypts what it reads (TLS or GSSAPI encryption): it
    /// may then hold decrypted bytes that `poll(2)` on the socket cannot
    /// see, so a reader must not poll while a read could still return data.
    var decryptsInput: Bool { PQsslInUse(handle) == 1 || PQgssEncInUse(handle) == 1 }

    /// Waits until the socket has data or `timeout` passes.
    func waitForData(timeout: Duration) async {
        _ = await FileDescriptorWait.wait(socket, for: .read, timeout: timeout)
    }

    /// Sends one CopyData message (a standby status update) and flushes it.
    func sendCopyData(_ bytes: [UInt8]) async throws {
        let sent = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
        }
        guard sent == 1 else { throw lastError(.connection) }
        try await flushOutput()
    }

    // MARK: Errors

    private func lastError(_ code: PostgresError.Code) -> PostgresError {
        let message = PQerrorMessage(handle).map { String(cString: $0) } ?? "unknown error"
        return PostgresError(code, message, target: target)
    }

    private func resultError(_ result: OpaquePointer, query: String) -> PostgresError {
        let message = PQresultErrorMessage(result).map { String(cString: $0) } ?? "unknown error"
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        // A dropped connection surfaces as a failed result too; classify it as what it is.
        let code: PostgresError.Code = PQstatus(handle) == CONNECTION_BAD ? .connection : .query
        return PostgresError(code, message, sqlState: state, target: target)
    }
}

/// Calls `body` with a NULL-terminated array of C strings.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let duplicates = strings.map { strdup($0) }
    defer { duplicates.forEach { free($0) } }
    var pointers: [UnsafePointer<CChar>?] = duplicates.map { UnsafePointer($0) }
    pointers.append(nil)
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
