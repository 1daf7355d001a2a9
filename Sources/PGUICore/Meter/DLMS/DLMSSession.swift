/// One application association with a meter (IEC 62056-5-3): AARQ/AARE, GET normal and with block
/// transfer, RLRQ. Allocation-free after creation: requests and the reassembled Data live in
/// buffers sized once.
public struct DLMSSession<L: ByteLink, K: Clock> {
    public var transport: DLMSTransport<L, K>
    public let authentication: DLMSAuthentication
    public let timeoutMs: Int64
    public private(set) var associated = false
    public private(set) var aare: DLMSAPDU.AAREResult? = nil
    private var req: [UInt8]
    /// The Data of the last successful `get` (`data[0..<dataCount]`).
    public private(set) var data: [UInt8]
    public private(set) var dataCount = 0

    public init(transport: DLMSTransport<L, K>, authentication: DLMSAuthentication, timeoutMs: Int64) {
        self.transport = transport
        self.authentication = authentication
        self.timeoutMs = timeoutMs
        req = []
        req.reserveCapacity(DLMSTransport<L, K>.hdlcInfoTxMax)
        data = Array(repeating: 0, count: DLMSLimits.apduBytesMax)
    }

    /// Opens the link and the association; throws with the meter's reason when refused.
    public mutating func associate() throws(MeterError) {
        associated = false
        try transport.open(timeoutMs: timeoutMs)
        DLMSAPDU.aarq(authentication, into: &req)
        try transport.request(req, timeoutMs: timeoutMs)
        let result: DLMSAPDU.AAREResult
        do throws(DLMSDecodeError) {
            result = try transport.apdu.withUnsafeBufferPointer { (p) throws(DLMSDecodeError) -> DLMSAPDU.AAREResult in
                var r = AXDRReader(p, to: transport.apduCount)
                return try DLMSAPDU.parseAARE(&r)
            }
        } catch {
            throw .invalidResponse("AARE: \(error.message)")
        }
        aare = result
        guard result.accepted else {
            let how = if case .low = authentication { "low-level security (password)" } else { "lowest security (no password)" }
            throw .unsupported("association refused with \(how): \(result.diagnosticText)")
        }
        associated = true
    }

    public enum GetResult: Equatable {
        /// `data[0..<dataCount]` holds the attribute's Data.
        case data
        /// The meter has no such attribute or refuses it (Data-Access-Result code).
        case accessError(Int)
    }

    /// GET of one attribute, following block transfer until the last block.
    public mutating func get(classId: UInt16, obis: OBISCode, attribute: UInt8, entries: DLMSAPDU.EntryRange? = nil) throws(MeterError) -> GetResult {
        DLMSAPDU.getRequest(classId: classId, obis: obis, attribute: attribute, entries: entries, into: &req)
        dataCount = 0
        var expectedBlock: UInt32 = 1
        for _ in 0..<DLMSLimits.getBlocksMax {
            try transport.request(req, timeoutMs: timeoutMs)
            let parsed: DLMSAPDU.GetResponse
            do throws(DLMSDecodeError) {
                parsed = try transport.apdu.withUnsafeBufferPointer { (p) throws(DLMSDecodeError) -> DLMSAPDU.GetResponse in
                    var r = AXDRReader(p, to: transport.apduCount)
                    return try DLMSAPDU.parseGetResponse(&r)
                }
            } catch {
                throw .invalidResponse("GET \(obis.text) attribute \(attribute): \(error.message)")
            }
            switch parsed {
            case .accessError(let code):
                return .accessError(code)
            case .data(let start):
                let n = transport.apduCount - start
                for i in 0..<n { data[i] = transport.apdu[start + i] }
                dataCount = n
                return .data
            case .block(let number, let last, let range):
                guard number == expectedBlock else {
                    throw .invalidResponse("GET \(obis.text): block \(number) where block \(expectedBlock) was expected")
                }
                guard dataCount + range.count <= data.count else {
                    throw .invalidResponse("GET \(obis.text): blocks add up to more than \(DLMSLimits.apduBytesMax) bytes")
                }
                for i in range { data[dataCount] = transport.apdu[i]; dataCount += 1 }
                if last { return .data }
                DLMSAPDU.getNext(block: number, into: &req)
                expectedBlock = number + 1
            }
        }
        throw .invalidResponse("GET \(obis.text): more than \(DLMSLimits.getBlocksMax) blocks")
    }

    /// RLRQ and link release, best effort (the meter may already be gone).
    public mutating func release() {
        if associated {
            do throws(MeterError) { try transport.request(DLMSAPDU.releaseRequest, timeoutMs: min(timeoutMs, 500)) } catch {}
        }
        associated = false
        transport.close()
    }

    /// Runs `body` over the Data of the last `get`.
    public func withData<R>(_ body: (inout AXDRReader) throws(DLMSDecodeError) -> R) throws(DLMSDecodeError) -> R {
        try data.withUnsafeBufferPointer { (p) throws(DLMSDecodeError) -> R in
            var r = AXDRReader(p, to: dataCount)
            return try body(&r)
        }
    }
}
