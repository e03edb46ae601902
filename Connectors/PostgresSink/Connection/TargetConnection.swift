import CLibPQ
import Glibc
import SiphonCore

/// One libpq connection to the target, driven without blocking the
/// pipeline's thread: libpq in non-blocking mode, and every wait a
/// `FileDescriptorWait` on its socket.
///
/// Every statement goes through the extended protocol (`PQsendQueryParams`
/// or a prepared statement), which runs exactly one statement: text that
/// reaches SQL can never stack a second one. Values are always parameters.
/// Not thread-safe: one task owns it at a time.
final class TargetConnection: @unchecked Sendable {
    private var handle: OpaquePointer?
    let address: TargetAddress
    /// Prepared statements by SQL text: each set-based statement is parsed once per connection.
    private var prepared: [String: String] = [:]

    private init(handle: OpaquePointer, address: TargetAddress) {
        self.handle = handle
        self.address = address
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    static func connect(_ address: TargetAddress) async throws -> TargetConnection {
        var parameters = address.parameters
        parameters["application_name"] = parameters["application_name"] ?? "siphon-sink"
        parameters["connect_timeout"] = parameters["connect_timeout"] ?? "10"
        // Text forms the sink relies on, whatever the server's defaults.
        parameters["options"] = (parameters["options"].map { $0 + " " } ?? "")
            + "-c datestyle=ISO,MDY -c timezone=UTC -c intervalstyle=iso_8601 -c standard_conforming_strings=on -c client_min_messages=warning"
        let keys = Array(parameters.keys)
        let handle: OpaquePointer? = withCStrings(keys) { keyPointers in
            withCStrings(keys.map { parameters[$0]! }) { PQconnectStartParams(keyPointers, $0, 0) }
        }
        guard let handle else { throw SiphonError(.sink, "out of memory starting a connection to \(address.display)", transient: true) }
        let connection = TargetConnection(handle: handle, address: address)
        guard PQstatus(handle) != CONNECTION_BAD else { throw connection.lastError(doing: "connecting") }
        var status = PGRES_POLLING_WRITING
        let deadline = ContinuousClock.now + .seconds(Int(parameters["connect_timeout"] ?? "10") ?? 10)
        while true {
            switch status {
            case PGRES_POLLING_OK:
                guard PQsetnonblocking(handle, 1) == 0 else { throw connection.lastError(doing: "connecting") }
                return connection
            case PGRES_POLLING_FAILED:
                throw connection.lastError(doing: "connecting")
            case PGRES_POLLING_READING, PGRES_POLLING_WRITING:
                if ContinuousClock.now > deadline {
                    throw SiphonError(.sink, "cannot reach PostgreSQL target at \(address.display): timed out connecting", transient: true)
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

    func close() {
        if let handle { PQfinish(handle) }
        handle = nil
        prepared = [:]
    }

    /// Runs one statement with `$1`... bound to `parameters` (text, nil for
    /// NULL) and returns its rows as text. `doing` says what for, in errors.
    @discardableResult
    func query(_ sql: String, _ parameters: [String?] = [], doing: String) async throws -> [[String?]] {
        guard handle != nil else { throw SiphonError(.sink, "the connection to \(address.display) is closed", transient: true) }
        let sent = withOptionalCStrings(parameters) { values in
            PQsendQueryParams(handle, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        guard sent == 1 else { throw lastError(doing: doing) }
        return try await rows(doing: doing)
    }

    /// Runs `sql` as a prepared statement, preparing it on first use on this connection.
    @discardableResult
    func execute(_ sql: String, _ parameters: [String?], doing: String) async throws -> [[String?]] {
        guard handle != nil else { throw SiphonError(.sink, "the connection to \(address.display) is closed", transient: true) }
        let name: String
        if let known = prepared[sql] {
            name = known
        } else {
            name = "siphon_\(prepared.count + 1)"
            guard PQsendPrepare(handle, name, sql, Int32(parameters.count), nil) == 1 else { throw lastError(doing: doing) }
            _ = try await rows(doing: doing)
            prepared[sql] = name
        }
        let sent = withOptionalCStrings(parameters) { values in
            PQsendQueryPrepared(handle, name, Int32(parameters.count), values, nil, nil, 0)
        }
        guard sent == 1 else { throw lastError(doing: doing) }
        return try await rows(doing: doing)
    }

    /// Forgets prepared statements (after DDL changed what they would write).
    func forgetPrepared() async {
        guard !prepared.isEmpty else { return }
        prepared = [:]
        _ = try? await query("DEALLOCATE ALL", doing: "resetting prepared statements")
    }

    private var socket: Int32 { PQsocket(handle) }

    private func rows(doing: String) async throws -> [[String?]] {
        try await flushOutput(doing: doing)
        var rows: [[String?]] = []
        var failure: SiphonError?
        while let result = try await nextResult(doing: doing) {
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
                rows = Self.rows(of: result)
            case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                rows = []
            default:
                failure = failure ?? resultError(result, doing: doing)
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
            rows.append((0..<columnCount).map { column in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            })
        }
        return rows
    }

    private func nextResult(doing: String) async throws -> OpaquePointer? {
        while PQisBusy(handle) == 1 {
            _ = await FileDescriptorWait.wait(socket, for: .read, timeout: .seconds(1))
            guard PQconsumeInput(handle) == 1 else { throw lastError(doing: doing) }
        }
        return PQgetResult(handle)
    }

    private func flushOutput(doing: String) async throws {
        while true {
            let result = PQflush(handle)
            if result == 0 { return }
            if result < 0 { throw lastError(doing: doing) }
            _ = await FileDescriptorWait.wait(socket, for: .write, timeout: .seconds(1))
            guard PQconsumeInput(handle) == 1 else { throw lastError(doing: doing) }
        }
    }

    private func lastError(doing: String) -> SiphonError {
        let message = PQerrorMessage(handle).map { String(cString: $0) } ?? "unknown error"
        return PostgresSinkError.make(message, sqlState: nil, connectionLost: true, address: address, doing: doing)
    }

    private func resultError(_ result: OpaquePointer, doing: String) -> SiphonError {
        // The primary message alone: the full one quotes the statement, which may hold values.
        let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
            ?? PQresultErrorMessage(result).map { String(cString: $0) } ?? "unknown error"
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        return PostgresSinkError.make(message, sqlState: state, connectionLost: PQstatus(handle) == CONNECTION_BAD,
                                      address: address, doing: doing)
    }
}

/// Calls `body` with a NULL-terminated array of C strings.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    withOptionalCStrings(strings.map { Optional($0) }) { body($0) }
}

/// Calls `body` with an array of C strings, NULL where a value is nil, and a NULL after the last.
private func withOptionalCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let duplicates = strings.map { $0.map { strdup($0) } ?? nil }
    defer { duplicates.forEach { free($0) } }
    var pointers: [UnsafePointer<CChar>?] = duplicates.map { $0.map { UnsafePointer($0) } }
    pointers.append(nil)
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
