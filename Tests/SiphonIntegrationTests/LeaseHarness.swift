import Foundation
import SiphonTestSupport
import XCTest

/// Two `siphon run` processes given one pipeline with `lease:` on, each
/// with a state folder of its own (as on two hosts), each serving `/status`.
final class LeaseHarness {
    let pipeline: PipelineHarness
    let configs: [String]
    let ports: [Int]
    /// The process of each instance (nil before its first start).
    var processes: [SiphonProcess?] = [nil, nil]

    init(pipeline: PipelineHarness, retryInterval: String = "200ms") throws {
        self.pipeline = pipeline
        let yaml = try String(contentsOfFile: pipeline.configPath, encoding: .utf8) + "lease: {retry_interval: \(retryInterval)}\n"
        configs = try ["a", "b"].map { side in
            let path = pipeline.folder.path + "/pipeline-\(side).yaml"
            try yaml.replacingOccurrences(of: "path: \(pipeline.statePath)\n", with: "path: \(pipeline.statePath)-\(side)\n")
                .write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        var ports = [try PostgresBinaries.freeLoopbackPort()]
        while ports.count < 2 {
            let port = try PostgresBinaries.freeLoopbackPort()
            if port != ports[0] { ports.append(port) }
        }
        self.ports = ports
    }

    @discardableResult
    func start(_ instance: Int) throws -> SiphonProcess {
        let process = try SiphonProcess(arguments: ["run", "--config", configs[instance], "--http", "127.0.0.1:\(ports[instance])"],
                                        environment: PipelineHarness.environment)
        processes[instance] = process
        return process
    }

    /// The pipeline's `state` in the instance's `/status`; nil when it does not answer.
    func state(_ instance: Int) -> String? {
        guard let result = try? SiphonProcess.run(executable: "/usr/bin/curl",
                                                  arguments: ["-s", "-m", "2", "http://127.0.0.1:\(ports[instance])/status"]),
              let status = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
              let pipeline = (status["pipelines"] as? [[String: Any]])?.first
        else { return nil }
        return pipeline["state"] as? String
    }

    /// `/readyz`'s HTTP status.
    func readiness(_ instance: Int) throws -> Int {
        let result = try SiphonProcess.run(executable: "/usr/bin/curl",
                                           arguments: ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(ports[instance])/readyz"])
        return Int(result.stdout) ?? 0
    }

    /// Kills the active instance in a loop, `kills` times, starting it again
    /// as the standby each time; the standby must take over. While waiting,
    /// samples both `/status` pages: never two instances `running` at once.
    /// `between` runs after each takeover (its round number given).
    func killActiveInALoop(kills: Int, between: (Int) throws -> Void = { _ in }) throws -> [Duration] {
        var active = 0
        var takeovers: [Duration] = []
        for round in 0..<kills {
            let standby = 1 - active
            guard let current = processes[active], let waiting = processes[standby] else { throw TestSupportError("start both first") }
            try waiting.waitFor(stderrContaining: "standby: another instance holds the lease", timeout: .seconds(30))
            // Some runs outlast a checkpoint, some do not.
            let until = ContinuousClock.now + .milliseconds(400 + (round % 3) * 500)
            while ContinuousClock.now < until {
                let states = [state(0), state(1)]
                XCTAssertFalse(states.allSatisfy { $0 == "running" }, "round \(round): both instances running")
                XCTAssertEqual(states[standby], "standby", "round \(round): the waiting instance's state")
            }
            XCTAssertFalse(waiting.stderrText.contains("streaming changes"),
                           "round \(round): the standby streamed before the active one died:\n\(waiting.stderrText.suffix(2000))")
            XCTAssertFalse(waiting.stderrText.contains("pipeline starting"),
                           "round \(round): the standby opened the sink before the active one died")
            current.signal(SIGKILL)
            _ = try current.waitForExit(timeout: .seconds(10))
            let killed = ContinuousClock.now
            try waiting.waitFor(stderrContaining: "streaming changes", timeout: .seconds(30))
            takeovers.append(ContinuousClock.now - killed)
            try start(active)
            active = standby
            try between(round)
        }
        return takeovers
    }

    /// Stops both instances with SIGTERM; each exits 0.
    func stopAll(file: StaticString = #filePath, line: UInt = #line) throws {
        for process in processes.compactMap({ $0 }) where process.isRunning {
            try pipeline.stop(process, file: file, line: line)
        }
    }

    /// The active instance's stderr, for failure messages.
    var stderrTails: String {
        processes.enumerated().map { "instance \($0.offset):\n\($0.element?.stderrText.suffix(2500) ?? "")" }.joined(separator: "\n")
    }
}
