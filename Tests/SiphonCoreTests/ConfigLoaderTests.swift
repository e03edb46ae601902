import Foundation
import XCTest
@testable import SiphonCore

final class ConfigLoaderTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("siphon-config-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private static let ordersYAML = """
        version: 1
        name: orders
        source:
          type: postgres
          url: "host=127.0.0.1 port=5432 dbname=app user=siphon password=${PGPASSWORD}"
          slot: siphon_orders
          tables: ["public.*"]
          snapshot: initial
        sink:
          type: file
          path: ./out/orders.jsonl
        state:
          path: ./state/orders
        """

    /// Writes `text` to `name` under the test folder and returns its path.
    @discardableResult
    private func write(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    private func load(_ paths: [String], environment: [String: String] = [:]) -> ([PipelineFile], [String]) {
        let problems = ConfigProblems()
        let files = PipelineLoader.load(paths: paths, environment: environment, problems: problems)
        return (files, problems.all.map(\.description))
    }

    /// Reads the postgres keys the way a connector would, then finishes both readers.
    private func readConnectors(_ file: PipelineFile) -> (url: String?, tables: [String], snapshot: String) {
        let url = file.source.requiredString("url")
        _ = file.source.requiredString("slot")
        let tables = file.source.stringList("tables", default: [])
        let snapshot = file.source.choice("snapshot", allowed: ["initial", "never"], default: "initial")
        _ = file.sink.requiredString("path")
        file.source.finish()
        file.sink.finish()
        return (url, tables, snapshot)
    }

    // MARK: - Envelope

    func testValidFileLoadsWithEnvironmentAndKeyOrder() throws {
        let path = try write("orders.yaml", Self.ordersYAML)
        let problems = ConfigProblems()
        let files = PipelineLoader.load(paths: [path], environment: ["PGPASSWORD": "pw"], problems: problems)
        XCTAssertEqual(files.count, 1)
        let file = try XCTUnwrap(files.first)
        XCTAssertEqual(file.file, path)
        XCTAssertEqual(file.name, "orders")
        XCTAssertEqual(file.sourceType, "postgres")
        XCTAssertEqual(file.sinkType, "file")
        XCTAssertEqual(file.statePath, "./state/orders")
        XCTAssertEqual(file.source.keyPath, "source")
        XCTAssertEqual(file.source.keys, ["type", "url", "slot", "tables", "snapshot"])
        let read = readConnectors(file)
        XCTAssertEqual(read.url, "host=127.0.0.1 port=5432 dbname=app user=siphon password=pw")
        XCTAssertEqual(read.tables, ["public.*"])
        XCTAssertEqual(read.snapshot, "initial")
        XCTAssertEqual(problems.all, [])
        XCTAssertTrue(problems.isEmpty)
    }

    func testStatePathDefaultsToDotSiphonName() throws {
        let path = try write("a.yaml", "version: 1\nname: a\nsource: {type: x}\nsink: {type: y}\n")
        let (files, problems) = load([path])
        XCTAssertEqual(problems, [])
        XCTAssertEqual(files.first?.statePath, ".siphon/a")
    }

    func testProblemDescription() {
        XCTAssertEqual(
            ConfigProblem(file: "pipes/orders.yaml", keyPath: "source.slot", message: "required").description,
            "pipes/orders.yaml: source.slot: required")
        XCTAssertEqual(ConfigProblem(file: "x.yaml", keyPath: "", message: "file is empty").description,
                       "x.yaml: file is empty")
    }

    func testEveryProblemInAFileIsReportedAtOnce() throws {
        let path = try write("bad.yaml", """
            version: 2
            name: "bad name!"
            source:
              url: x
              slto: s
            sink: just-a-string
            stat:
              path: ./s
            """)
        let (files, problems) = load([path])
        XCTAssertTrue(files.isEmpty, "sink is not a mapping, so no readers can be handed out")
        XCTAssertEqual(problems, [
            "\(path): version: must be 1, the only version this siphon reads (got '2')",
            "\(path): name: must contain only letters, digits, '_' and '-' (got 'bad name!')",
            "\(path): source.type: required",
            "\(path): sink: must be a mapping",
            "\(path): stat: unknown key (did you mean 'state'?)",
        ])
    }

    func testMissingEnvelopeKeys() throws {
        let path = try write("empty-ish.yaml", "other: 1\n")
        let (_, problems) = load([path])
        XCTAssertEqual(problems, [
            "\(path): version: required; write version: 1",
            "\(path): name: required",
            "\(path): source: required",
            "\(path): sink: required",
            "\(path): other: unknown key",
        ])
    }

    func testWrongTypes() throws {
        let path = try write("types.yaml", """
            version: one
            name: t
            source: [postgres]
            sink:
              type: file
              tables: {a: b}
            state: ./s
            """)
        let (files, problems) = load([path])
        XCTAssertTrue(files.isEmpty)
        XCTAssertEqual(problems, [
            "\(path): version: must be an integer (got 'one')",
            "\(path): source: must be a mapping",
            "\(path): state: must be a mapping",
        ])

        let listPath = try write("list.yaml", "version: 1\nname: l\nsource: {type: x, tables: {a: b}}\nsink: {type: y}\n")
        let listProblems = ConfigProblems()
        let listFiles = PipelineLoader.load(paths: [listPath], environment: [:], problems: listProblems)
        XCTAssertEqual(listFiles.first?.source.stringList("tables", default: ["d"]), ["d"])
        XCTAssertEqual(listProblems.all.map(\.description), ["\(listPath): source.tables: must be a list of strings"])
    }

    func testInvalidPipelineName() throws {
        let path = try write("n.yaml", "version: 1\nname: orders/v2\nsource: {type: x}\nsink: {type: y}\n")
        let (_, problems) = load([path])
        XCTAssertEqual(problems, ["\(path): name: must contain only letters, digits, '_' and '-' (got 'orders/v2')"])
    }

    func testDuplicateNamesAcrossFiles() throws {
        try write("pipes/a.yaml", "version: 1\nname: orders\nsource: {type: x}\nsink: {type: y}\n")
        try write("pipes/b.yml", "version: 1\nname: orders\nsource: {type: x}\nsink: {type: y}\n")
        let folder = directory.appendingPathComponent("pipes").path
        let (files, problems) = load([folder])
        XCTAssertEqual(files.count, 2)
        XCTAssertEqual(problems, [
            "\(folder)/b.yml: name: pipeline 'orders' is already defined in \(folder)/a.yaml; names must be unique",
        ])
    }

    // MARK: - Files and folders

    func testFolderLoadsYamlAndYmlSortedByName() throws {
        try write("pipes/b.yml", "version: 1\nname: b\nsource: {type: x}\nsink: {type: y}\n")
        try write("pipes/a.yaml", "version: 1\nname: a\nsource: {type: x}\nsink: {type: y}\n")
        try write("pipes/c.json", "{}")
        try write("pipes/.hidden.yaml", "not: loaded")
        try write("pipes/README.md", "#")
        let folder = directory.appendingPathComponent("pipes").path + "/"
        let (files, problems) = load([folder])
        XCTAssertEqual(problems, [])
        XCTAssertEqual(files.map(\.name), ["a", "b"])
        XCTAssertEqual(files.map(\.file), [folder + "a.yaml", folder + "b.yml"])
    }

    func testSameFileNamedTwiceLoadsOnce() throws {
        let path = try write("pipes/a.yaml", "version: 1\nname: a\nsource: {type: x}\nsink: {type: y}\n")
        let (files, problems) = load([path, directory.appendingPathComponent("pipes").path])
        XCTAssertEqual(problems, [])
        XCTAssertEqual(files.count, 1)
    }

    func testMissingPathAndEmptyFolder() throws {
        let missing = directory.appendingPathComponent("nope.yaml").path
        let empty = directory.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        try write("empty/notes.txt", "x")
        let (files, problems) = load([missing, empty])
        XCTAssertTrue(files.isEmpty)
        XCTAssertEqual(problems, [
            "\(missing): no such file or folder",
            "\(empty): folder has no *.yaml or *.yml files",
        ])
    }

    func testFileThatIsNotUTF8() throws {
        let url = directory.appendingPathComponent("bin.yaml")
        try Data([0xFF, 0xFE, 0x00, 0xC3]).write(to: url)
        let (_, problems) = load([url.path])
        XCTAssertEqual(problems, ["\(url.path): not UTF-8 text"])
    }

    func testUnreadableFile() throws {
        let path = try write("locked.yaml", Self.ordersYAML)
        try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path) }
        if FileManager.default.isReadableFile(atPath: path) {
            throw XCTSkip("running as root: permissions do not stop reads")
        }
        let (_, problems) = load([path])
        XCTAssertEqual(problems, ["\(path): cannot read file (check its permissions)"])
    }

    func testBadYAMLNamesLineAndColumnWithoutQuotingTheFile() throws {
        let path = try write("broken.yaml", "version: 1\nname: x\nsource:\n  url: \"password=hunter2\n  slot: [\n")
        let (files, problems) = load([path])
        XCTAssertTrue(files.isEmpty)
        XCTAssertEqual(problems.count, 1)
        let problem = try XCTUnwrap(problems.first)
        XCTAssertTrue(problem.hasPrefix("\(path): invalid YAML at line "), problem)
        XCTAssertTrue(problem.contains("column"), problem)
        XCTAssertFalse(problem.contains("hunter2"), problem)
        XCTAssertFalse(problem.contains("\n"), problem)
    }

    func testTopLevelMustBeAMappingAndFileNotEmpty() throws {
        let list = try write("list.yaml", "- a\n- b\n")
        let empty = try write("empty.yaml", "# nothing\n")
        let (_, problems) = load([list, empty])
        XCTAssertEqual(problems, [
            "\(list): top level must be a mapping with version, name, source and sink, not a list",
            "\(empty): file is empty; expected a mapping with version, name, source and sink",
        ])
    }

    func testDuplicateKeyInAMapping() throws {
        let path = try write("dup.yaml", "version: 1\nname: a\nname: b\nsource: {type: x}\nsink: {type: y}\n")
        let (files, problems) = load([path])
        XCTAssertEqual(problems, ["\(path): name: duplicate key; each key may appear once"])
        XCTAssertEqual(files.first?.name, "a")
    }

    // MARK: - Environment

    func testExpansionWithDefaultsAndDollarDollar() {
        let env = ["HOST": "db", "EMPTY": ""]
        func expand(_ text: String) -> String { EnvironmentExpansion.expandScalar(text, environment: env).text }
        XCTAssertEqual(expand("host=${HOST}"), "host=db")
        XCTAssertEqual(expand("${PORT:-5432}"), "5432")
        XCTAssertEqual(expand("${HOST:-other}"), "db")
        XCTAssertEqual(expand("${EMPTY:-fallback}"), "fallback", "like the shell, :- also covers empty")
        XCTAssertEqual(expand("${EMPTY}"), "")
        XCTAssertEqual(expand("${MISSING:-}"), "")
        XCTAssertEqual(expand("cost $$5 and $$${HOST}"), "cost $5 and $db")
        XCTAssertEqual(expand("a $ b $x"), "a $ b $x", "a lone $ stays")
        XCTAssertEqual(expand("$${HOST}"), "${HOST}", "$$ escapes the reference")
    }

    func testExpansionAppliesToEveryScalarInTheFile() throws {
        let path = try write("env.yaml", """
            version: ${VERSION:-1}
            name: ${NAME}
            source:
              type: postgres
              tables: ["${SCHEMA}.orders", "${SCHEMA:-x}.items"]
            sink: {type: file}
            """)
        let (files, problems) = load([path], environment: ["NAME": "orders", "SCHEMA": "shop"])
        XCTAssertEqual(problems, [])
        XCTAssertEqual(files.first?.name, "orders")
        XCTAssertEqual(files.first?.source.stringList("tables", default: []), ["shop.orders", "shop.items"])
    }

    /// `${VAR}` gives text, whatever it looks like: each key parses it as it needs.
    func testExpandedValuesAreParsedFromTheirText() throws {
        let path = try write("typed-env.yaml", """
            version: ${VERSION}
            name: typed
            source:
              type: sqlite
              path: ${DB}
              batch_size: ${N}
              enable_wal: ${WAL}
              poll_interval: ${POLL}
              tables: ["${T}", "${T}_*"]
            sink: {type: file}
            """)
        let (files, problems) = load([path], environment: [
            "VERSION": "1", "DB": "2024", "N": "500", "WAL": "yes", "POLL": "2", "T": "7",
        ])
        let source = try XCTUnwrap(files.first?.source)
        XCTAssertEqual(source.string("path"), "2024")
        XCTAssertEqual(source.int("batch_size", default: 1), 500)
        XCTAssertTrue(source.bool("enable_wal", default: false))
        XCTAssertEqual(source.duration("poll_interval", default: .zero), .seconds(2))
        XCTAssertEqual(source.stringList("tables", default: []), ["7", "7_*"])
        source.finish()
        XCTAssertEqual(problems, [])
    }

    func testQuotedVersionIsNotAnInteger() throws {
        let path = try write("v.yaml", "version: \"1\"\nname: v\nsource: {type: x}\nsink: {type: y}\n")
        let (_, problems) = load([path])
        XCTAssertEqual(problems, ["\(path): version: must be an integer, not a string; write 1 without quotes"])
    }

    func testUndefinedVariableIsReportedAtItsKeyPathOnce() throws {
        let path = try write("unset.yaml", """
            version: 1
            name: orders
            source:
              type: postgres
              url: "password=${PGPASSWORD}"
              tables: ["${A}", "b"]
            sink: {type: file}
            """)
        let (files, problems) = load([path])
        let file = try XCTUnwrap(files.first)
        _ = file.source.requiredString("url")
        file.source.report("url", "not a valid conninfo")
        _ = file.source.stringList("tables", default: [])
        XCTAssertEqual(problems, [
            "\(path): source.url: environment variable PGPASSWORD is not set; export it or write ${PGPASSWORD:-default}",
            "\(path): source.tables[0]: environment variable A is not set; export it or write ${A:-default}",
        ], "later problems about a key whose expansion failed are not repeated")
    }

    func testMalformedReferences() {
        let open = EnvironmentExpansion.expandScalar("x ${HOST", environment: ["HOST": "h"])
        XCTAssertEqual(open.messages, ["unterminated ${ (write $$ for a literal $)"])
        let bad = EnvironmentExpansion.expandScalar("${1X}", environment: [:])
        XCTAssertEqual(bad.messages.count, 1)
        XCTAssertTrue(bad.messages[0].contains("not a valid variable reference"))
    }

    func testSecretFromEnvironmentNeverAppearsInAnyProblem() throws {
        let secret = "s3cr3t-Passw0rd"
        let path = try write("secret.yaml", """
            version: ${SECRET}
            name: ${SECRET}
            source:
              type: postgres
              url: "password=${SECRET}"
              port: ${SECRET}
              enabled: ${SECRET}
              timeout: ${SECRET}
              snapshot: ${SECRET}
              tables: ["${SECRET}"]
            sink: {type: file}
            """)
        try write("other.yaml", "version: 1\nname: ${SECRET}\nsource: {type: x}\nsink: {type: y}\n")
        let problems = ConfigProblems()
        let files = PipelineLoader.load(
            paths: [path, directory.appendingPathComponent("other.yaml").path],
            environment: ["SECRET": secret], problems: problems)
        let source = try XCTUnwrap(files.first?.source)
        _ = source.int("port", default: 5432, range: 1...65535)
        _ = source.bool("enabled", default: true)
        _ = source.duration("timeout", default: .seconds(5))
        _ = source.choice("snapshot", allowed: ["initial", "never"], default: "initial")
        // A careless connector that quotes the expanded value: the secret is still masked.
        source.report("url", "not a valid conninfo: '\(source.string("url") ?? "")'")
        source.finish()
        let all = problems.all.map(\.description)
        XCTAssertGreaterThanOrEqual(all.count, 7, all.joined(separator: "\n"))
        for problem in all {
            XCTAssertFalse(problem.contains(secret), problem)
            XCTAssertFalse(problem.contains("s3cr3t"), problem)
        }
        XCTAssertTrue(all.contains("\(path): source.port: must be an integer"), all.joined(separator: "\n"))
        XCTAssertTrue(all.contains("\(path): source.snapshot: must be one of initial, never"))
    }
}
