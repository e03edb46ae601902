import CLibPQ
import Glibc
import SiphonCore

/// One libpq connection to the target, driven without blocking the
/// pipeline's thread: libpq in non-blocking mode, and every wait a
/// `FileDescriptorWait` on its socket.
///
/// The connection is in libpq's pipeline mode: `send` and `sync` put a
/// statement or a synchronization point on the wire and return at once,
/// so the target executes one batch's statements while the sink reads the
/// next; `settle` (and `query`, which waits for its own rows) reads the
/// results in order. After a statement fails, the server skips everything
/// up to the next sync point: a target transaction (BEGIN ... COMMIT, then
/// a sync) that holds a failed statement is never committed, and `settle`
/// throws the first failure.
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

    /// What was sent and has results still to read, oldest first.
    private enum Sent {
        case statement(doing: String)
        case sync
    }

    private var sent: [Sent] = []
    private var nextSent = 0
    /// Syncs sent whose result is not read yet.
    private var unsettledSyncs = 0

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
                guard PQsetnonblocking(handle, 1) == 0, PQenterPipelineMode(handle) == 1 else {
                    throw connection.lastError(doing: "connecting")
                }
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
        sent = []
        nextSent = 0
        unsettledSyncs = 0
    }

    /// Runs one statement with `$1`... bound to `parameters` (text, nil for
    /// NULL) and returns its rows as text, after the results of everything
    /// sent before it (whose first failure it throws). Outside a
    /// transaction block the statement is a transaction of its own. `doing`
    /// says what for, in errors.
    @discardableResult
    func query(_ sql: String, _ parameters: [String?] = [], doing: String) async throws -> [[String?]] {
        try await send(sql, parameters, doing: doing)
        let statement = sent.count - 1
        try await sync(doing: doing)
        return try await settle(keepingRowsOf: statement)
    }

    /// Sends one statement without waiting for it: its outcome comes with
    /// the next `settle` (or `query`). With `prepare`, it runs as a
    /// prepared statement, prepared on first use on this connection.
    func send(_ sql: String, _ parameters: [String?], prepare: Bool = false, doing: String) async throws {
        guard handle != nil else { throw SiphonError(.sink, "the connection to \(address.display) is closed", transient: true) }
        let accepted: Int32
        if prepare {
            let name: String
            if let known = prepared[sql] {
                name = known
            } else {
                name = "siphon_\(prepared.count + 1)"
                guard PQsendPrepare(handle, name, sql, Int32(parameters.count), nil) == 1 else { throw lastError(doing: doing) }
                sent.append(.statement(doing: doing))
                // A failed prepare fails the transaction, and the sink then closes the connection.
                prepared[sql] = name
            }
            accepted = withOptionalCStrings(parameters) { values in
                PQsendQueryPrepared(handle, name, Int32(parameters.count), values, nil, nil, 0)
            }
        } else {
            accepted = withOptionalCStrings(parameters) { values in
                PQsendQueryParams(handle, sql, Int32(parameters.count), nil, values, nil, nil, 0)
            }
        }
        guard accepted == 1 else { throw lastError(doing: doing) }
        sent.append(.statement(doing: doing))
        try await flushOutput(doing: doing)
    }

    /// Sends a synchronization point: the end of an implicit transaction,
    /// and where the server stops skipping statements after a failure.
    func sync(doing: String) async throws {
        guard handle != nil else { throw SiphonError(.sink, "the connection to \(address.display) is closed", transient: true) }
        guard PQpipelineSync(handle) == 1 else { throw lastError(doing: doing) }
        sent.append(.sync)
        unsettledSyncs += 1
        try await flushOutput(doing: doing)
    }

    /// Reads the results of everything sent up to the last sync point and
    /// throws the first failure among them (statements sent after the last
    /// sync stay in flight).
    func settle() async throws {
        _ = try await settle(keepingRowsOf: nil)
    }

    /// `settle`, returning the rows of the statement at `wanted` in `sent`.
    private func settle(keepingRowsOf wanted: Int?) async throws -> [[String?]] {
        var failure: (any Error)?
        var rows: [[String?]] = []
        while unsettledSyncs > 0 {
            let index = nextSent
            switch sent[index] {
            case .statement:
                do {
                    let received = try await receiveStatement()
                    if index == wanted { rows = received }
                } catch let error as SiphonError where !error.isTransient || PQstatus(handle) != CONNECTION_BAD {
                    // The server skips the rest up to the sync: read on to it.
                    failure = failure ?? error
                }
            case .sync:
                try await receiveSync()
            }
        }
        if let failure { throw failure }
        return rows
    }

    /// Forgets prepared statements (after DDL changed what they would write).
    func forgetPrepared() async {
        guard !prepared.isEmpty else { return }
        prepared = [:]
        _ = try? await query("DEALLOCATE ALL", doing: "resetting prepared statements")
    }

    private var socket: Int32 { PQsocket(handle) }

    /// The oldest sent statement's rows, or its failure. A statement the
    /// server skipped after an earlier failure returns no rows.
    private func receiveStatement() async throws -> [[String?]] {
        guard case .statement(let doing) = sent[nextSent] else {
            throw SiphonError(.sink, "the connection to \(address.display) is out of step with its results", transient: true)
        }
        nextSent += 1
        compactSent()
        var rows: [[String?]] = []
        var failure: SiphonError?
        while let result = try await nextResult(doing: doing) {
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
                rows = Self.rows(of: result)
            case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY, PGRES_PIPELINE_ABORTED:
                rows = []
            default:
                failure = failure ?? resultError(result, doing: doing)
            }
        }
        if let failure { throw failure }
        return rows
    }

    private func receiveSync() async throws {
        guard case .sync = sent[nextSent] else {
            throw SiphonError(.sink, "the connection to \(address.display) is out of step with its results", transient: true)
        }
        nextSent += 1
        unsettledSyncs -= 1
        compactSent()
        guard let result = try await nextResult(doing: "synchronizing") else {
            throw SiphonError(.sink, "the connection to \(address.display) lost a synchronization point", transient: true)
        }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_PIPELINE_SYNC else {
            throw resultError(result, doing: "synchronizing")
        }
    }

    private func compactSent() {
        if nextSent == sent.count {
            sent.removeAll(keepingCapacity: true)
            nextSent = 0
        }
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
