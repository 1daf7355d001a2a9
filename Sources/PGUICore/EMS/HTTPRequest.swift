/// A tiny HTTP/1.x request-head parser for the EMS interface (docs/ems.md). Only what `GET /` needs:
/// method, path, header syntax and size; no bodies. Hostile input is the normal case here.
public struct HTTPRequest: Equatable {
    public var method: String
    public var path: String
    /// Bytes of the request head including the final CRLF CRLF.
    public var headBytes: Int
}

public enum HTTPParse: Equatable {
    case incomplete
    case request(HTTPRequest)
    /// Answer with this status and close.
    case error(status: Int, reason: String)
}

public enum HTTPRequestParser {
    static let cr: UInt8 = 13
    static let lf: UInt8 = 10

    /// Parses the head at the start of `buf`; `headBytesMax` bounds the request line plus headers.
    public static func parse(_ buf: ArraySlice<UInt8>, headBytesMax: Int) -> HTTPParse {
        // Find CRLF CRLF within the limit.
        var end = -1
        var i = buf.startIndex
        let limit = min(buf.endIndex, buf.startIndex + headBytesMax)
        while i + 1 < limit {
            if i + 3 < limit && buf[i] == cr && buf[i + 1] == lf && buf[i + 2] == cr && buf[i + 3] == lf {
                end = i + 4
                break
            }
            if buf[i] == lf && buf[i + 1] == lf { return .error(status: 400, reason: "bare LF line ending") }
            i += 1
        }
        if end < 0 {
            if buf.count >= headBytesMax {
                return .error(status: 431, reason: "request head exceeds \(headBytesMax) bytes")
            }
            // A head that cannot become valid need not wait for more bytes.
            for b in buf where b == 0 || (b > 127) { return .error(status: 400, reason: "binary bytes in the request head") }
            return .incomplete
        }
        let head = buf[buf.startIndex..<end - 4]
        // Request line.
        var lineEnd = head.startIndex
        while lineEnd + 1 < head.endIndex, !(head[lineEnd] == cr && head[lineEnd + 1] == lf) { lineEnd += 1 }
        if lineEnd + 1 >= head.endIndex { lineEnd = head.endIndex }
        let line = head[head.startIndex..<lineEnd]
        let parts = line.split(separator: 32, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .error(status: 400, reason: "malformed request line") }
        let method = parts[0]
        let target = parts[1]
        let version = parts[2]
        guard !method.isEmpty, method.count <= 16, method.allSatisfy(isTokenByte) else {
            return .error(status: 400, reason: "malformed method")
        }
        guard bytesEqual(version, "HTTP/1.1") || bytesEqual(version, "HTTP/1.0") else {
            return .error(status: 400, reason: "unsupported HTTP version")
        }
        guard target.first == 47, target.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            return .error(status: 400, reason: "request target must be an absolute path")
        }
        // Header lines: `name: value`, no obsolete folding, no body.
        var p = lineEnd + 2
        while p < head.endIndex {
            var e = p
            while e + 1 < head.endIndex, !(head[e] == cr && head[e + 1] == lf) { e += 1 }
            if e + 1 >= head.endIndex { e = head.endIndex }
            let h = head[p..<e]
            guard let colon = h.firstIndex(of: 58), colon > h.startIndex,
                  h[h.startIndex..<colon].allSatisfy(isTokenByte) else {
                return .error(status: 400, reason: "malformed header line")
            }
            for b in h[(colon + 1)...] where (b < 32 && b != 9) || b == 127 {
                return .error(status: 400, reason: "control character in a header value")
            }
            let name = h[h.startIndex..<colon]
            let value = trimmed(h[(colon + 1)...])
            if equalsIgnoringCase(name, "transfer-encoding") {
                return .error(status: 413, reason: "request bodies are not accepted")
            }
            if equalsIgnoringCase(name, "content-length"), !bytesEqual(value, "0") {
                return .error(status: 413, reason: "request bodies are not accepted")
            }
            p = e + 2
        }
        var pathEnd = target.startIndex
        while pathEnd < target.endIndex, target[pathEnd] != 63 { pathEnd += 1 }  // '?'
        return .request(HTTPRequest(method: string(method), path: string(target[target.startIndex..<pathEnd]), headBytes: end - buf.startIndex))
    }

    static func isTokenByte(_ b: UInt8) -> Bool {
        if ASCII.isDigit(b) || ASCII.isLowerAlpha(b) || ASCII.isUpperAlpha(b) { return true }
        switch b {
        case 33, 35, 36, 37, 38, 39, 42, 43, 45, 46, 94, 95, 96, 124, 126: return true
        default: return false
        }
    }

    static func equalsIgnoringCase(_ a: ArraySlice<UInt8>, _ lower: String) -> Bool {
        var i = a.startIndex
        for c in lower.utf8 {
            guard i < a.endIndex else { return false }
            let b = ASCII.isUpperAlpha(a[i]) ? a[i] + 32 : a[i]
            guard b == c else { return false }
            i += 1
        }
        return i == a.endIndex
    }

    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 413: "Content Too Large"
        case 431: "Request Header Fields Too Large"
        case 503: "Service Unavailable"
        default: "Error"
        }
    }

    /// A whole response with `Connection: close` (one request per connection keeps the server's
    /// state trivial; EMS polls are seconds apart).
    public static func response(status: Int, body: [UInt8], contentType: String = "application/json", headMethod: Bool = false,
                                into out: inout [UInt8]) {
        out.append(contentsOf: "HTTP/1.1 \(status) \(reasonPhrase(status))\r\n".utf8)
        out.append(contentsOf: "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n".utf8)
        if status == 405 { out.append(contentsOf: "Allow: GET, HEAD\r\n".utf8) }
        out.append(contentsOf: "Cache-Control: no-store\r\n\r\n".utf8)
        if !headMethod { out.append(contentsOf: body) }
    }
}
