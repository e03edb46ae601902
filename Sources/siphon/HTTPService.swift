import FlyingFox
import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import SiphonCore

/// `siphon run --http ADDRESS`: `/metrics` (Prometheus text), `/healthz`
/// (the process is alive), `/readyz` (every pipeline running, none waiting
/// out a failure) and `/status` (JSON: each pipeline's state, positions,
/// last error, restarts). A service of the run's service group, first in
/// it, so it starts before the pipelines and stops after them.
struct HTTPService: Service {
    let address: HTTPAddress
    let pipelines: [Pipeline]
    let registry: PrometheusCollectorRegistry
    /// When every pipeline has ended, the server stops too, so that `run`
    /// exits as it does without it.
    let outcomes: PipelineOutcomes
    let logger: Logger

    func run() async throws {
        let server = HTTPServer(address: try .inet(ip4: address.host, port: address.port), logger: .disabled)
        let pipelines = pipelines, registry = registry
        await server.appendRoute("GET /healthz") { _ in
            HTTPResponse(statusCode: .ok, headers: [.contentType: "text/plain"], body: Data("ok\n".utf8))
        }
        await server.appendRoute("GET /readyz") { _ in
            let waiting = pipelines.map(\.status).filter { !$0.isReady }
            guard waiting.isEmpty else {
                let text = waiting.map { "\($0.name): \($0.state.rawValue)\($0.lastError.map { " (\($0))" } ?? "")" }.joined(separator: "\n")
                return HTTPResponse(statusCode: .serviceUnavailable, headers: [.contentType: "text/plain"], body: Data((text + "\n").utf8))
            }
            return HTTPResponse(statusCode: .ok, headers: [.contentType: "text/plain"], body: Data("ready\n".utf8))
        }
        await server.appendRoute("GET /status") { _ in
            HTTPResponse(statusCode: .ok, headers: [.contentType: "application/json"], body: Self.statusJSON(pipelines.map(\.status)))
        }
        await server.appendRoute("GET /metrics") { _ in
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return HTTPResponse(statusCode: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: Data(buffer))
        }
        logger.info("serving /metrics, /healthz, /readyz and /status", metadata: ["address": .string(address.description)])
        let count = pipelines.count
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.run() }
                group.addTask {
                    while outcomes.endedCount < count, !Task.isCancelled { try? await Task.sleep(for: .milliseconds(200)) }
                    await server.stop(timeout: 1)
                }
                // Cancelled by the service group while it shuts down (a
                // signal right after a pipeline restarted): an orderly end,
                // not an error that would make `run` exit 1.
                do { try await group.next() } catch is CancellationError {}
                group.cancelAll()
            }
        } onGracefulShutdown: {
            Task { await server.stop(timeout: 1) }
        }
    }

    static func statusJSON(_ statuses: [PipelineStatus]) -> Data {
        let list: [[String: Any]] = statuses.map { status in
            var object: [String: Any] = [
                "name": status.name, "state": status.state.rawValue, "ready": status.isReady,
                "restarts": status.restarts, "events_written": status.eventsWritten, "bytes_written": status.bytesWritten,
            ]
            object["resumed_after"] = status.resumedAfter?.description ?? NSNull()
            object["written"] = status.written?.description ?? NSNull()
            object["checkpoint"] = status.checkpoint?.description ?? NSNull()
            object["checkpoint_unix_ms"] = status.checkpointUnixMillis.map { NSNumber(value: $0) } ?? NSNull()
            object["last_error"] = status.lastError ?? NSNull()
            object["last_error_kind"] = status.lastErrorKind ?? NSNull()
            if let source = status.source { object["source"] = sourceJSON(source) }
            return object
        }
        return (try? JSONSerialization.data(withJSONObject: ["pipelines": list], options: [.sortedKeys])) ?? Data("{}".utf8)
    }
}

extension HTTPService {
    /// `/status`'s `source` object: positions (the source's numbers: an
    /// LSN, a changelog sequence), reconnects, snapshot progress, and what
    /// the source's database keeps for it.
    static func sourceJSON(_ report: SourceActivity.Report) -> [String: Any] {
        var object: [String: Any] = [
            "reconnects": report.reconnects,
            "last_reconnect_error": report.lastReconnectError ?? NSNull(),
            "last_reconnect_error_kind": report.lastReconnectErrorKind ?? NSNull(),
            "snapshot": report.snapshot.map { table -> [String: Any] in
                ["table": table.table, "rows_done": table.rowsDone, "done": table.done,
                 "rows_total": table.rowsTotal.map { NSNumber(value: $0) } ?? NSNull()]
            },
        ]
        for (key, value) in [("position_received", report.received), ("position_durable", report.durable),
                             ("position_acknowledged", report.acknowledged)] {
            object[key] = value.map { NSNumber(value: $0) } ?? NSNull()
        }
        if let bytes = report.retainedLogBytes { object["retained_wal_bytes"] = bytes }
        if let status = report.logStatus { object["wal_status"] = status }
        if let backlog = report.backlog { object["changelog_backlog"] = backlog }
        return object
    }
}

/// `host:port` for `--http` (IPv4; `127.0.0.1:9090`, `0.0.0.0:9090`).
struct HTTPAddress: CustomStringConvertible {
    var host: String
    var port: UInt16

    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        let host = String(text[..<colon])
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return nil }
        self.host = host
        self.port = port
    }

    var description: String { "\(host):\(port)" }
}
