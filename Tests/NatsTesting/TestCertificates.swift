import Foundation
import SiphonTestSupport

/// A throwaway CA, a server certificate for 127.0.0.1 and a client
/// certificate, made with openssl in a temporary folder.
public final class TestCertificates: @unchecked Sendable {
    public let folder: TemporaryDirectory
    public var ca: String { folder.appending("ca.pem") }
    public var serverCert: String { folder.appending("server.pem") }
    public var serverKey: String { folder.appending("server.key") }
    public var clientCert: String { folder.appending("client.pem") }
    public var clientKey: String { folder.appending("client.key") }

    public init() throws {
        folder = try TemporaryDirectory(prefix: "siphon-certs")
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: folder.appending("san.cnf"), atomically: false, encoding: .utf8)
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Self.openssl(["req", "-x509"] + key + ["-keyout", folder.appending("ca.key"), "-out", ca, "-days", "2",
                                                   "-subj", "/CN=siphon-test-ca"], in: folder.path)
        for (name, extra) in [("server", ["-extfile", folder.appending("san.cnf")]), ("client", [])] {
            try Self.openssl(["req"] + key + ["-keyout", folder.appending("\(name).key"), "-out", folder.appending("\(name).csr"),
                                              "-subj", "/CN=siphon-test-\(name)"], in: folder.path)
            try Self.openssl(["x509", "-req", "-in", folder.appending("\(name).csr"), "-CA", ca, "-CAkey", folder.appending("ca.key"),
                              "-CAcreateserial", "-out", folder.appending("\(name).pem"), "-days", "2"] + extra, in: folder.path)
        }
    }

    private static func openssl(_ arguments: [String], in folder: String) throws {
        _ = folder
        let result = try SiphonProcess.run(executable: "/usr/bin/openssl", arguments: arguments)
        guard result.status == 0 else { throw TestSupportError("openssl \(arguments.first ?? ""): \(result.stderr)") }
    }
}
