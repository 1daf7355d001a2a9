/// Key rotation announcement: a JWS JSON serialization (RFC 7515 §7.2.1, general syntax) whose payload
/// carries the new public key and which is signed by both the old key and the new key, so the BAL can
/// follow the chain from a key it trusts to the next one.
public enum KeyAnnouncement {
    public static let typ = "pgui-key-rotation+jws"

    public struct Content: Equatable {
        public let device: String
        public let oldKid: String
        public let newKid: String
        public let newKey: ECPublicJWK
        public let createdMs: Int64
    }

    public static func payload(device: String, oldKid: String, newKey: ECPublicJWK, newKid: String, createdMs: Int64) -> [UInt8] {
        var w = JSONWriter(capacity: 384)
        w.beginObject()
        w.field("v", Int64(1))
        w.field("device", device)
        w.field("old_kid", oldKid)
        w.field("new_kid", newKid)
        w.key("jwk")
        w.raw(newKey.json)
        w.field("created", createdMs)
        w.endObject()
        return w.bytes
    }

    public static func build<O: Signer, N: Signer>(device: String, old: O, new: N, createdMs: Int64) throws(IdentityError) -> [UInt8] {
        let payloadB64 = Base64.urlEncode(payload(device: device, oldKid: old.kid, newKey: new.publicJWK, newKid: new.kid, createdMs: createdMs))
        var w = JSONWriter(capacity: 1_024)
        w.beginObject()
        w.field("payload", payloadB64)
        w.key("signatures")
        w.beginArray()
        let oldHeader = Base64.urlEncode(JWS.header(kid: old.kid, typ: typ))
        let newHeader = Base64.urlEncode(JWS.header(kid: new.kid, typ: typ))
        for (header, which) in [(oldHeader, 0), (newHeader, 1)] {
            let input = Array((header + "." + payloadB64).utf8)
            let sig = which == 0 ? try old.signES256(input) : try new.signES256(input)
            guard sig.count == 64 else { throw IdentityError("ES256 signer returned \(sig.count) bytes; announcement not built") }
            w.beginObject()
            w.field("protected", header)
            w.field("signature", Base64.urlEncode(sig))
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    /// Parses and verifies an announcement: the signature by `oldKey` (kid `oldKid`) and the one by the
    /// new key it carries must both hold. Returns the content; throws naming the first problem.
    public static func verify<V: SignatureVerifier>(_ bytes: [UInt8], oldKey: ECPublicJWK, oldKid: String,
                                                    sha256: ([UInt8]) -> [UInt8], _ verifier: V) throws(IdentityError) -> Content {
        let doc: JSONValue
        do throws(JSONError) { doc = try JSONParser.parse(bytes) } catch { throw IdentityError("announcement: \(error.description)") }
        guard let payloadB64 = doc["payload"]?.stringValue, let payload = Base64.urlDecode(payloadB64),
              let sigs = doc["signatures"]?.arrayValue, sigs.count == 2 else {
            throw IdentityError("announcement: needs 'payload' and exactly 2 'signatures'")
        }
        let body: JSONValue
        do throws(JSONError) { body = try JSONParser.parse(payload) } catch { throw IdentityError("announcement payload: \(error.description)") }
        guard body["v"]?.intValue == 1, let device = body["device"]?.stringValue,
              let claimedOld = body["old_kid"]?.stringValue, let newKid = body["new_kid"]?.stringValue,
              let jwkValue = body["jwk"], let created = body["created"]?.intValue else {
            throw IdentityError("announcement payload: missing v/device/old_kid/new_kid/jwk/created")
        }
        let newKey = try ECPublicJWK(jwkValue)
        guard newKey.thumbprint(sha256: sha256) == newKid else { throw IdentityError("announcement: new_kid is not the thumbprint of jwk") }
        guard claimedOld == oldKid else { throw IdentityError("announcement: old_kid \(claimedOld) is not the trusted key \(oldKid)") }
        var oldOK = false
        var newOK = false
        for s in sigs {
            guard let protectedB64 = s["protected"]?.stringValue, let h = Base64.urlDecode(protectedB64),
                  let sigB64 = s["signature"]?.stringValue, let sig = Base64.urlDecode(sigB64) else {
                throw IdentityError("announcement: malformed signature entry")
            }
            let header: JSONValue
            do throws(JSONError) { header = try JSONParser.parse(h) } catch { throw IdentityError("announcement header: \(error.description)") }
            guard header["alg"]?.stringValue == "ES256", let kid = header["kid"]?.stringValue else {
                throw IdentityError("announcement: signature header needs alg ES256 and kid")
            }
            let input = Array((protectedB64 + "." + payloadB64).utf8)
            if kid == oldKid { oldOK = verifier.verifyES256(input, signature: sig, key: oldKey) }
            if kid == newKid { newOK = verifier.verifyES256(input, signature: sig, key: newKey) }
        }
        guard oldOK else { throw IdentityError("announcement: no valid signature by the old key \(oldKid)") }
        guard newOK else { throw IdentityError("announcement: no valid signature by the new key \(newKid)") }
        return Content(device: device, oldKid: oldKid, newKid: newKid, newKey: newKey, createdMs: created)
    }
}
