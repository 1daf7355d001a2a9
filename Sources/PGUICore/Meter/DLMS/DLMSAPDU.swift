/// The xDLMS APDUs the gateway speaks (IEC 62056-5-3, logical-name referencing): AARQ/AARE,
/// GET (normal and with block transfer), RLRQ, and the data-notification a pushing meter sends.
public enum DLMSAPDUTag {
    public static let aarq: UInt8 = 0x60
    public static let aare: UInt8 = 0x61
    public static let rlrq: UInt8 = 0x62
    public static let rlre: UInt8 = 0x63
    public static let initiateRequest: UInt8 = 0x01
    public static let initiateResponse: UInt8 = 0x08
    public static let confirmedServiceError: UInt8 = 0x0E
    public static let dataNotification: UInt8 = 0x0F
    public static let getRequest: UInt8 = 0xC0
    public static let getResponse: UInt8 = 0xC4
    public static let exceptionResponse: UInt8 = 0xD8
    public static let gloGetRequest: UInt8 = 0xC8
    public static let gloGetResponse: UInt8 = 0xCC
    public static let dedGetRequest: UInt8 = 0xD0
    public static let dedGetResponse: UInt8 = 0xD4
    public static let gloInitiateRequest: UInt8 = 0x21
    public static let gloInitiateResponse: UInt8 = 0x28
    public static let generalGloCiphering: UInt8 = 0xDB
    public static let generalDedCiphering: UInt8 = 0xDC
}

/// Authentication of the association (IEC 62056-5-3 §5.2.2): lowest (none) or low-level (password).
public enum DLMSAuthentication: Equatable, Sendable {
    case lowest
    case low(password: [UInt8])
}

public enum DLMSAPDU {
    /// Conformance block the client proposes (IEC 62056-5-3 §7.3.1, bit 0 = first bit on the wire):
    /// block-transfer-with-get (bit 11), get (bit 19), selective-access (bit 21). The meter answers
    /// with what it grants.
    public static let conformance: (UInt8, UInt8, UInt8) = (0x00, 0x10, 0x14)
    /// The client's max-receive-pdu-size: what `DLMSLimits.apduBytesMax` reassembles.
    public static let clientMaxPDU = UInt16(min(DLMSLimits.apduBytesMax, 0xFFFF))

    /// AARQ for logical-name referencing without ciphering (application context 1).
    public static func aarq(_ auth: DLMSAuthentication, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.append(DLMSAPDUTag.aarq)
        out.append(0)  // length, set below (always < 128 here)
        // application-context-name: joint-iso-ccitt(2) country(16) country-name(756) identified-organization(5)
        // DLMS-UA(8) application-context(1) logical_name_referencing_no_ciphering(1).
        out += [0xA1, 0x09, 0x06, 0x07, 0x60, 0x85, 0x74, 0x05, 0x08, 0x01, 0x01]
        if case .low(let password) = auth {
            out += [0x8A, 0x02, 0x07, 0x80]  // acse-requirements: authentication
            out += [0x8B, 0x07, 0x60, 0x85, 0x74, 0x05, 0x08, 0x02, 0x01]  // mechanism-name: low-level security
            out += [0xAC, UInt8(password.count + 2), 0x80, UInt8(password.count)]
            out += password
        }
        // user-information: InitiateRequest — no dedicated key, response-allowed default, no QoS, version 6,
        // conformance (BIT STRING: length 4, 0 unused bits, 3 bytes), client max receive PDU size.
        out += [0xBE, 0x10, 0x04, 0x0E, DLMSAPDUTag.initiateRequest, 0x00, 0x00, 0x00, 0x06, 0x5F, 0x1F, 0x04, 0x00,
                conformance.0, conformance.1, conformance.2, UInt8(clientMaxPDU >> 8), UInt8(clientMaxPDU & 0xFF)]
        out[1] = UInt8(out.count - 2)
    }

    /// What the meter answered to the AARQ.
    public struct AAREResult: Equatable {
        public var accepted: Bool
        /// result-source-diagnostic (acse-service-user): 13 = authentication failure, 11 = mechanism not supported, 1 = no reason.
        public var diagnostic: Int
        /// The server's max-receive-pdu-size (how large a GET response the meter sends before using blocks).
        public var serverMaxPDU: Int
        public var serverSystemTitle: (UInt64)?
        /// Conformance bits the meter granted (24 bits).
        public var conformance: UInt32

        public static func == (a: AAREResult, b: AAREResult) -> Bool {
            a.accepted == b.accepted && a.diagnostic == b.diagnostic && a.serverMaxPDU == b.serverMaxPDU
                && a.serverSystemTitle == b.serverSystemTitle && a.conformance == b.conformance
        }

        public var diagnosticText: String {
            switch diagnostic {
            case 0: "no diagnostic"
            case 1: "no reason given"
            case 2: "application context name not supported"
            case 11: "authentication mechanism name not recognised"
            case 12: "authentication mechanism name required"
            case 13: "authentication failure (wrong password?)"
            case 14: "authentication required"
            default: "diagnostic \(diagnostic)"
            }
        }
    }

    public static func parseAARE(_ r: inout AXDRReader) throws(DLMSDecodeError) -> AAREResult {
        try r.expect(DLMSAPDUTag.aare, "AARE tag")
        let n = try r.length("AARE length")
        let end = r.pos + n
        var out = AAREResult(accepted: false, diagnostic: 1, serverMaxPDU: 0, serverSystemTitle: nil, conformance: 0)
        var sawResult = false
        while r.pos < end {
            let tag = try r.byte("AARE element tag")
            let len = try r.length("AARE element length")
            let body = try r.take(len, "AARE element")
            var e = AXDRReader(r.bytes, from: body.lowerBound, to: body.upperBound)
            switch tag {
            case 0xA2:  // result: INTEGER (0 accepted, 1 rejected-permanent, 2 rejected-transient)
                try e.expect(0x02, "result type"); try e.expect(0x01, "result length")
                out.accepted = try e.byte("result") == 0
                sawResult = true
            case 0xA3:  // result-source-diagnostic: [1] acse-service-user or [2] acse-service-provider
                _ = try e.byte("diagnostic source")
                _ = try e.length("diagnostic length")
                try e.expect(0x02, "diagnostic type"); try e.expect(0x01, "diagnostic length")
                out.diagnostic = Int(try e.byte("diagnostic"))
            case 0xA4:  // responding-AP-title: OCTET STRING (the server system title)
                try e.expect(0x04, "AP title type")
                let tl = try e.length("AP title length")
                if tl == DLMSLimits.systemTitleBytes { out.serverSystemTitle = try e.unsigned(8, "system title") }
            case 0xBE:  // user-information: OCTET STRING holding an xDLMS APDU
                try e.expect(0x04, "user-information type")
                _ = try e.length("user-information length")
                let t = try e.byte("xDLMS APDU tag")
                switch t {
                case DLMSAPDUTag.initiateResponse:
                    // negotiated-quality-of-service OPTIONAL, version 6, conformance, max PDU, vaa-name.
                    if try e.byte("quality-of-service flag") != 0 { _ = try e.byte("quality-of-service") }
                    _ = try e.byte("dlms version")
                    try e.expect(0x5F, "conformance tag"); try e.expect(0x1F, "conformance tag")
                    try e.expect(0x04, "conformance length"); _ = try e.byte("conformance unused bits")
                    out.conformance = UInt32(try e.unsigned(3, "conformance"))
                    out.serverMaxPDU = Int(try e.unsigned(2, "server max PDU"))
                case DLMSAPDUTag.confirmedServiceError:
                    out.accepted = false
                case DLMSAPDUTag.gloInitiateResponse:
                    throw DLMSDecodeError("AARE carries a ciphered InitiateResponse: this build associates without ciphering (docs/meters-dlms.md)")
                default:
                    throw DLMSDecodeError("AARE user-information holds APDU tag 0x\(dlmsHex(t)), expected InitiateResponse")
                }
            default:
                break  // application context, acse-requirements, mechanism name, responding authentication value
            }
        }
        guard sawResult else { throw DLMSDecodeError("AARE without a result element") }
        return out
    }

    public static let invokeIdAndPriority: UInt8 = 0xC1  // invoke id 1, confirmed, high priority

    /// Selective access for a profile-generic buffer (IEC 62056-6-2 §5.6, access selector 2 = by entry).
    public struct EntryRange: Equatable {
        public var from: UInt32
        public var to: UInt32
        public init(from: UInt32, to: UInt32) { self.from = from; self.to = to }
    }

    /// GET-Request-Normal for one attribute.
    public static func getRequest(classId: UInt16, obis: OBISCode, attribute: UInt8, entries: EntryRange? = nil, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out += [DLMSAPDUTag.getRequest, 0x01, invokeIdAndPriority, UInt8(classId >> 8), UInt8(classId & 0xFF),
                obis.a, obis.b, obis.c, obis.d, obis.e, obis.f, attribute]
        if let e = entries {
            out += [0x01, 0x02, DLMSTag.structure, 0x04, DLMSTag.uint32]
            appendBE(e.from, &out)
            out.append(DLMSTag.uint32)
            appendBE(e.to, &out)
            out += [DLMSTag.uint16, 0x00, 0x01, DLMSTag.uint16, 0x00, 0x00]  // all columns
        } else {
            out.append(0x00)
        }
    }

    /// GET-Request-Next: asks for block `block` after the meter sent `block - 1`.
    public static func getNext(block: UInt32, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out += [DLMSAPDUTag.getRequest, 0x02, invokeIdAndPriority]
        appendBE(block, &out)
    }

    /// RLRQ with reason normal.
    public static let releaseRequest: [UInt8] = [DLMSAPDUTag.rlrq, 0x03, 0x80, 0x01, 0x00]

    static func appendBE(_ v: UInt32, _ out: inout [UInt8]) {
        out += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    /// One GET response, split.
    public enum GetResponse: Equatable {
        /// The attribute's Data starts at this position and runs to the end of the APDU.
        case data(start: Int)
        /// A block of the encoded Data (raw-data): bytes in `range`; `last` when it is the final one.
        case block(number: UInt32, last: Bool, range: Range<Int>)
        /// Data-Access-Result (IEC 62056-5-3 §7.3.7): 4 = object-undefined, 3 = read-denied, …
        case accessError(Int)
    }

    public static func parseGetResponse(_ r: inout AXDRReader) throws(DLMSDecodeError) -> GetResponse {
        let tag = try r.byte("APDU tag")
        switch tag {
        case DLMSAPDUTag.getResponse: break
        case DLMSAPDUTag.exceptionResponse:
            let state = try r.byte("state error"), service = try r.byte("service error")
            throw DLMSDecodeError("meter sent exception-response (state error \(state), service error \(service))")
        case DLMSAPDUTag.confirmedServiceError:
            throw DLMSDecodeError("meter sent confirmed-service-error")
        default:
            throw DLMSDecodeError("APDU tag 0x\(dlmsHex(tag)) where a GET response (0xC4) was expected")
        }
        let kind = try r.byte("GET response type")
        let invoke = try r.byte("invoke id")
        guard invoke & 0x0F == invokeIdAndPriority & 0x0F else { throw DLMSDecodeError("GET response for invoke id \(invoke & 0x0F), expected \(invokeIdAndPriority & 0x0F)") }
        switch kind {
        case 0x01:
            let choice = try r.byte("result choice")
            if choice == 0 { return .data(start: r.pos) }
            guard choice == 1 else { throw DLMSDecodeError("GET result choice \(choice)") }
            return .accessError(Int(try r.byte("data-access-result")))
        case 0x02:
            let last = try r.byte("last-block") != 0
            let number = UInt32(try r.unsigned(4, "block number"))
            let choice = try r.byte("block result choice")
            if choice == 1 { return .accessError(Int(try r.byte("data-access-result"))) }
            guard choice == 0 else { throw DLMSDecodeError("GET block result choice \(choice)") }
            let n = try r.length("raw-data length")
            return .block(number: number, last: last, range: try r.take(n, "raw-data"))
        default:
            throw DLMSDecodeError("GET response type \(kind) (with-list is never requested)")
        }
    }

    public static func accessResultText(_ code: Int) -> String {
        switch code {
        case 1: "hardware-fault"
        case 2: "temporary-failure"
        case 3: "read-write-denied"
        case 4: "object-undefined"
        case 9: "object-class-inconsistent"
        case 11: "object-unavailable"
        case 12: "type-unmatched"
        case 13: "scope-of-access-violated"
        case 14: "data-block-unavailable"
        default: "data-access-result \(code)"
        }
    }

    /// A data-notification: position of its body (one `Data`), after long-invoke-id and the optional date-time.
    public static func parseDataNotification(_ r: inout AXDRReader) throws(DLMSDecodeError) -> Int {
        try r.expect(DLMSAPDUTag.dataNotification, "data-notification tag")
        _ = try r.unsigned(4, "long-invoke-id-and-priority")
        // date-time: OPTIONAL octet string, written as its length (0 = absent, 12 = COSEM date-time).
        // Some meters write it as a tagged Data octet string (09 0C …): accepted too.
        var n = Int(try r.byte("date-time length"))
        if n == Int(DLMSTag.octetString) { n = Int(try r.byte("date-time length")) }
        guard n == 0 || n == 12 else { throw DLMSDecodeError("byte \(r.pos - 1): data-notification date-time of \(n) bytes (0 or 12 expected)") }
        _ = try r.take(n, "date-time")
        guard !r.atEnd else { throw DLMSDecodeError("data-notification without a body") }
        return r.pos
    }
}
