import Foundation
import SiphonTestSupport
import XCTest
import Yams

/// Config/deploy: the systemd unit, the Kubernetes sidecar manifest and the
/// container file agree with what `siphon` accepts and needs.
final class DeploymentFilesTests: XCTestCase {
    private var deploy: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Config/deploy")
    }

    private func text(_ name: String) throws -> String {
        try String(contentsOf: deploy.appendingPathComponent(name), encoding: .utf8)
    }

    /// systemd's own checker, on the unit with the built binary in place of
    /// /usr/local/bin/siphon (it insists that ExecStart exists); and the
    /// unit's command line parses.
    func testSystemdUnitVerifies() throws {
        // Scripts/test.sh installs systemd for it: missing is a failure, not a skip.
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else {
            return XCTFail("systemd-analyze is not installed (Scripts/test.sh installs the systemd package)")
        }
        let siphon = try SiphonProcess.locateExecutable().path
        let folder = try TemporaryDirectory()
        let unit = try text("siphon.service").replacingOccurrences(of: "/usr/local/bin/siphon", with: siphon)
        try unit.write(toFile: folder.appending("siphon.service"), atomically: true, encoding: .utf8)
        let verify = try SiphonProcess.run(executable: "/usr/bin/systemd-analyze", arguments: ["verify", folder.appending("siphon.service")])
        let complaints = (verify.stdout + verify.stderr).split(separator: "\n")
            .filter { $0.contains("siphon.service") && !$0.contains("User=") && !$0.contains("Documentation") }
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        XCTAssertTrue(complaints.isEmpty, complaints.joined(separator: "\n"))

        // The ExecStart line's options are ones `siphon run` takes.
        let execStart = try XCTUnwrap(unit.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        let arguments = execStart.split(separator: " ").dropFirst().map(String.init)
        let help = try SiphonProcess.run(["run", "--help"])
        for option in arguments where option.hasPrefix("--") {
            XCTAssertTrue(help.stdout.contains(option), "\(option) is not an option of siphon run")
        }
    }

    /// The pipeline file in the ConfigMap validates; the container's
    /// arguments, probes, port and mounts agree with each other.
    func testKubernetesSidecarIsConsistent() throws {
        let documents = try Array(Yams.load_all(yaml: try text("kubernetes-sidecar.yaml"))).compactMap { $0 as? [String: Any] }
        let configMap = try XCTUnwrap(documents.first { $0["kind"] as? String == "ConfigMap" })
        let pipeline = try XCTUnwrap((configMap["data"] as? [String: String])?["orders.yaml"])
        let folder = try TemporaryDirectory()
        try pipeline.write(toFile: folder.appending("orders.yaml"), atomically: true, encoding: .utf8)
        let validated = try SiphonProcess.run(["validate", "--config", folder.path], environment: ["PGPASSWORD": "example"])
        XCTAssertEqual(validated.status, 0, validated.stdout + validated.stderr)

        let deployment = try XCTUnwrap(documents.first { $0["kind"] as? String == "Deployment" })
        let spec = try XCTUnwrap(((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        let container = try XCTUnwrap((spec["containers"] as? [[String: Any]])?.first { $0["name"] as? String == "siphon" })
        let args = try XCTUnwrap(container["args"] as? [String])
        let http = try XCTUnwrap(args.firstIndex(of: "--http").map { args[$0 + 1] })
        XCTAssertTrue(http.hasPrefix("0.0.0.0:"), "the kubelet probes the pod's address, not loopback")
        let port = try XCTUnwrap(Int(http.split(separator: ":").last ?? ""))
        for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
            let get = try XCTUnwrap((container[probe] as? [String: Any])?["httpGet"] as? [String: Any], probe)
            XCTAssertEqual(get["path"] as? String, path)
            XCTAssertEqual(get["port"] as? Int, port)
        }
        let configPath = try XCTUnwrap(args.firstIndex(of: "--config").map { args[$0 + 1] })
        let mounts = try XCTUnwrap(container["volumeMounts"] as? [[String: Any]])
        XCTAssertTrue(mounts.contains { $0["mountPath"] as? String == configPath }, "the pipeline files are mounted where --config reads")
        XCTAssertTrue(pipeline.contains("path: /var/lib/siphon/"), "the state folder is on the volume")
        XCTAssertTrue(mounts.contains { $0["mountPath"] as? String == "/var/lib/siphon" })
        let environment = try XCTUnwrap(container["env"] as? [[String: Any]])
        XCTAssertTrue(environment.contains { $0["name"] as? String == "PGPASSWORD" && $0["valueFrom"] != nil },
                      "the password comes from a Secret")
        let replicas = (deployment["spec"] as? [String: Any])?["replicas"] as? Int
        XCTAssertEqual(replicas, 1)
    }

    /// Every database and broker library the built binary links is
    /// installed by the container file's run stage.
    func testContainerRunStageInstallsTheLibrariesSiphonLinks() throws {
        let siphon = try SiphonProcess.locateExecutable().path
        let ldd = try SiphonProcess.run(executable: "/usr/bin/ldd", arguments: [siphon])
        XCTAssertEqual(ldd.status, 0, ldd.stderr)
        let containerfile = try text("Containerfile")
        let runStage = try XCTUnwrap(containerfile.components(separatedBy: "FROM ").last)
        var checked = 0
        for line in ldd.stdout.split(separator: "\n") {
            let parts = line.trimmingCharacters(in: .whitespaces).split(separator: " ")
            guard let name = parts.first, ["libpq", "libsqlite3", "librdkafka", "libnats"].contains(where: { name.hasPrefix($0 + ".") }),
                  let arrow = parts.firstIndex(of: "=>"), arrow + 1 < parts.count else { continue }
            // Debian merged /lib into /usr/lib; dpkg knows the files by their /usr path.
            var path = String(parts[arrow + 1])
            if path.hasPrefix("/lib") { path = "/usr" + path }
            let owner = try SiphonProcess.run(executable: "/usr/bin/dpkg", arguments: ["-S", path])
            let package = try XCTUnwrap(owner.stdout.split(separator: ":").first.map(String.init), owner.stderr)
            XCTAssertTrue(runStage.contains(" \(package)"), "\(name) comes from \(package), which the run stage does not install")
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 3, ldd.stdout)
    }
}
