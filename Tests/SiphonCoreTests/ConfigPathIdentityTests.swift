import Foundation
import SiphonTestSupport
import XCTest
@testable import SiphonCore

/// `PathIdentity` and the loader's check that no two pipelines share a state folder.
final class ConfigPathIdentityTests: XCTestCase {
    private var folder: TemporaryDirectory!
    /// The temporary folder with its own symbolic links resolved (/tmp may be one).
    private var real: String!

    override func setUpWithError() throws {
        folder = try TemporaryDirectory(prefix: "siphon-paths")
        real = try XCTUnwrap(URL(fileURLWithPath: folder.path).resolvingSymlinksInPath().path)
        try FileManager.default.createDirectory(atPath: folder.appending("data/state"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: folder.appending("link"), withDestinationPath: folder.appending("data"))
    }

    func testSpellingsOfOneFolderResolveAlike() throws {
        let expected = real + "/data/state"
        XCTAssertEqual(PathIdentity.resolve(folder.appending("data/state")), expected)
        XCTAssertEqual(PathIdentity.resolve(folder.appending("data/state/")), expected)
        XCTAssertEqual(PathIdentity.resolve(folder.appending("link/state")), expected, "through a symbolic link")
        XCTAssertEqual(PathIdentity.resolve(folder.path + "/./data/x/../state"), expected)
        XCTAssertEqual(PathIdentity.resolve(folder.path + "//data///state"), expected)
    }

    func testPathsThatDoNotExistYetResolveThroughTheirNearestExistingFolder() throws {
        let expected = real + "/data/new/state"
        XCTAssertEqual(PathIdentity.resolve(folder.appending("link/new/state")), expected)
        XCTAssertEqual(PathIdentity.resolve(folder.appending("data/missing/../new/./state")), expected)
        XCTAssertEqual(PathIdentity.resolve(folder.appending("link/new/state/more/..")), expected)
    }

    func testRelativePathsAreRelativeToTheWorkingDirectory() throws {
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(folder.path))
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        XCTAssertEqual(PathIdentity.resolve("./a/../link/state"), real + "/data/state")
        XCTAssertEqual(PathIdentity.resolve("link/new"), real + "/data/new")
        XCTAssertEqual(PathIdentity.resolve("."), real)
        XCTAssertEqual(PathIdentity.resolve("link/.."), real, ".. after a link leaves the folder it leads to")
        XCTAssertEqual(PathIdentity.resolve("/../.."), "/")
    }

    func testRelation() {
        XCTAssertEqual(PathIdentity.relation(of: "/a/b", to: "/a/b"), .same)
        XCTAssertEqual(PathIdentity.relation(of: "/a/b/c", to: "/a/b"), .inside)
        XCTAssertEqual(PathIdentity.relation(of: "/a", to: "/"), .inside)
        XCTAssertEqual(PathIdentity.relation(of: "/a/b", to: "/a/b/c/d"), .holds)
        XCTAssertEqual(PathIdentity.relation(of: "/", to: "/a"), .holds)
        XCTAssertNil(PathIdentity.relation(of: "/a/b", to: "/a/bc"))
        XCTAssertNil(PathIdentity.relation(of: "/a/bc", to: "/a/b"))
    }

    // MARK: - The loader

    private func pipeline(_ name: String, state: String?) throws -> String {
        let path = folder.appending("\(name).yaml")
        var yaml = "version: 1\nname: \(name)\nsource: {type: x}\nsink: {type: y}\n"
        if let state { yaml += "state:\n  path: \(state)\n" }
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func load(_ paths: [String]) -> [String] {
        let problems = ConfigProblems()
        _ = PipelineLoader.load(paths: paths, environment: [:], problems: problems)
        return problems.all.map(\.description)
    }

    func testSameStateFolderWrittenDifferentlyIsReportedInBothFiles() throws {
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(folder.path))
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        let a = try pipeline("a", state: "./data/x/../state")
        let b = try pipeline("b", state: folder.appending("link/state"))
        let c = try pipeline("c", state: "data/other")
        XCTAssertEqual(load([a, b, c]), [
            "\(a): state.path: the state folder './data/x/../state' (\(real!)/data/state) is also the state folder of pipeline 'b' in \(b); each pipeline needs a folder of its own",
            "\(b): state.path: the state folder '\(folder.appending("link/state"))' (\(real!)/data/state) is also the state folder of pipeline 'a' in \(a); each pipeline needs a folder of its own",
        ])
    }

    func testStateFolderInsideAnotherIsReportedInBothFiles() throws {
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(folder.path))
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        let outer = try pipeline("outer", state: "data")
        let inner = try pipeline("inner", state: folder.appending("link/state/inner"))
        XCTAssertEqual(load([outer, inner]), [
            "\(outer): state.path: the state folder 'data' (\(real!)/data) holds the state folder of pipeline 'inner' in \(inner); give each pipeline a folder of its own, side by side",
            "\(inner): state.path: the state folder '\(folder.appending("link/state/inner"))' (\(real!)/data/state/inner) is inside the state folder of pipeline 'outer' in \(outer); give each pipeline a folder of its own, side by side",
        ])
    }

    func testDefaultStateFoldersClashWithAnExplicitOne() throws {
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(folder.path))
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        let a = try pipeline("a", state: nil)
        let b = try pipeline("b", state: ".siphon/a")
        let problems = load([a, b])
        XCTAssertEqual(problems.count, 2, problems.joined(separator: "\n"))
        XCTAssertTrue(problems[0].hasPrefix("\(a): state.path: the default state folder '.siphon/a' (\(real!)/.siphon/a) is also the state folder of pipeline 'b'"), problems[0])
    }
}
