import Foundation
import SiphonTestSupport

/// A throwaway NATS operator for decentralized (JWT) authentication, as
/// `nsc` would set one up: an operator, a system account `SYS` and an
/// account `APP` with JetStream, each an NKey with a JWT its issuer signed
/// (Ed25519 with Python's `cryptography`, as `TestNKey`). `trust` is what
/// a server in operator mode needs; `user` writes `.creds` files.
public final class TestOperator: Sendable {
    /// The operator's JWT, `SYS`, and the JWTs of `SYS` and `APP`.
    public let trust: NatsServer.OperatorTrust
    /// `APP`'s public key: the account users are made in.
    public let account: String
    private let accountSeed: String
    /// Keeps the `.creds` files.
    public let folder: TemporaryDirectory

    public init() throws {
        let made = try Self.run(Made.self, ["operator"])
        trust = .init(operatorJWT: made.operatorJWT, systemAccount: made.systemAccount, accountJWTs: made.accountJWTs)
        account = made.account
        accountSeed = made.accountSeed
        folder = try TemporaryDirectory(prefix: "siphon-operator")
    }

    /// Who signs a user's JWT.
    public enum Issuer: Sendable {
        /// `APP`, which the server knows.
        case account
        /// A fresh account the operator never signed and no server knows.
        case unknownAccount
    }

    /// A user and its `.creds` file, in the format `nsc generate creds` writes.
    public struct User: Sendable {
        public let publicKey: String
        public let jwt: String
        public let seed: String
        public let credsFile: String
    }

    /// A new user, its JWT signed by `issuer`, valid until `expires` (never
    /// when nil), written to `<name>.creds` in `folder`.
    public func user(_ name: String, issuer: Issuer = .account, expires: Date? = nil) throws -> User {
        let signer = issuer == .account ? accountSeed : "unknown"
        let expiry = expires.map { String(Int($0.timeIntervalSince1970)) } ?? "0"
        let made = try Self.run(MadeUser.self, ["user", signer, expiry, name])
        let file = folder.appending("\(name).creds")
        let creds = """
            -----BEGIN NATS USER JWT-----
            \(made.jwt)
            ------END NATS USER JWT------

            ************************* IMPORTANT *************************
            NKEY Seed printed below can be used to sign and prove identity.
            NKEYs are sensitive and should be treated as secrets.

            -----BEGIN USER NKEY SEED-----
            \(made.seed)
            ------END USER NKEY SEED------

            *************************************************************

            """
        try creds.write(toFile: file, atomically: false, encoding: .utf8)
        return User(publicKey: made.publicKey, jwt: made.jwt, seed: made.seed, credsFile: file)
    }

    private struct Made: Decodable {
        var operatorJWT: String
        var systemAccount: String
        var accountJWTs: [String: String]
        var account: String
        var accountSeed: String
    }

    private struct MadeUser: Decodable {
        var publicKey: String
        var jwt: String
        var seed: String
    }

    private static func run<T: Decodable>(_ type: T.Type, _ arguments: [String]) throws -> T {
        let result = try SiphonProcess.run(executable: "/usr/bin/python3", arguments: ["-c", script] + arguments)
        guard result.status == 0 else { throw TestSupportError("JWT generation failed: \(result.stderr)") }
        return try JSONDecoder().decode(type, from: Data(result.stdout.utf8))
    }

    /// NATS JWTs (nats-io/jwt v2): header `{"typ":"JWT","alg":"ed25519-nkey"}`,
    /// claims with `nats.type` and `nats.version: 2`, and the issuer's
    /// Ed25519 signature of `header.claims`, all base64url without padding.
    static let script = TestNKey.encoding + #"""
import json, time

OPERATOR, ACCOUNT, USER, SEED = 14 << 3, 0, 20 << 3, 18 << 3

class Key:
    def __init__(self, kind, raw=None):
        self.raw = raw or os.urandom(32)
        self.private = Ed25519PrivateKey.from_private_bytes(self.raw)
        public = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public = encode(bytes([kind]) + public)
        self.seed = encode(bytes([SEED | (kind >> 5), (kind & 31) << 3]) + self.raw)

    @staticmethod
    def from_seed(text):
        raw = base64.b32decode(text + "=" * (-len(text) % 8))[:-2]
        return Key(((raw[0] & 7) << 5) | (raw[1] >> 3), raw[2:])

def b64(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")

def jwt(issuer, subject, name, nats, expires=None):
    claims = {"jti": base64.b32encode(os.urandom(20)).decode(), "iat": int(time.time()),
              "iss": issuer.public, "sub": subject.public, "name": name, "nats": dict(nats, version=2)}
    if expires is not None:
        claims["exp"] = expires
    signed = b64(b'{"typ":"JWT","alg":"ed25519-nkey"}') + "." + b64(json.dumps(claims).encode())
    return signed + "." + b64(issuer.private.sign(signed.encode()))

def account(operator, name, jetstream):
    key = Key(ACCOUNT)
    limits = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": True, "conn": -1, "leaf": -1}
    if jetstream:
        limits.update({"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1})
    return key, jwt(operator, key, name, {"type": "account", "limits": limits, "default_permissions": {"pub": {}, "sub": {}}})

if sys.argv[1] == "operator":
    operator = Key(OPERATOR)
    system, system_jwt = account(operator, "SYS", False)
    app, app_jwt = account(operator, "APP", True)
    print(json.dumps({
        "operatorJWT": jwt(operator, operator, "siphon-test", {"type": "operator", "system_account": system.public}),
        "systemAccount": system.public, "accountJWTs": {system.public: system_jwt, app.public: app_jwt},
        "account": app.public, "accountSeed": app.seed}))
else:
    # user <account seed, or "unknown"> <expiry in Unix seconds, 0 for never> <name>
    issuer = Key(ACCOUNT) if sys.argv[2] == "unknown" else Key.from_seed(sys.argv[2])
    user = Key(USER)
    nats = {"type": "user", "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1}
    user_jwt = jwt(issuer, user, sys.argv[4], nats, int(sys.argv[3]) or None)
    print(json.dumps({"publicKey": user.public, "jwt": user_jwt, "seed": user.seed}))
"""#
}
