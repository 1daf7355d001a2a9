/// A tiny HTTP/1.x request-head parser for the EMS interface (docs/ems.md). Only what `GET /` needs:
/// method, target, Host, header syntax and size; no bodies. Hostile input is the normal case here.
///
/// The verdict never depends on how the bytes were split into packets: every early decision (bare
/// LF or CR, control bytes, size) is taken at a byte position from the bytes before it, and a
/// complete head meets the same checks in the same order (the fuzz target checks this property).
public struct HTTPRequest: Equatable {
    public var method: String
    /// Path of the target without the query; for an absolute-form target the path part ("/" when
    /// empty), so `GET http://host:8000/ HTTP/1.1` answers like `GET / HTTP/1.1` (RFC 9112 §3.2.2).
    public var path: String
    /// Bytes of the request head including the final CRLF CRLF.
    public var headBytes: Int

    public init(method: String, path: String, headBytes: Int) {
        self.method = method
        self.path = path
        self.headBytes = headBytes
    }
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
    static let tab: UInt8 = 9

    /// Parses the head at the start of `buf`; `headBytesMax` bounds the request line plus headers.
    public static func parse(_ buf: ArraySlice<UInt8>, headBytesMax: Int) -> HTTPParse {
        // Scan for CRLF CRLF; refuse at the first byte that makes the head invalid whatever follows.
        var end = -1
        var i = buf.startIndex
        while i < buf.endIndex {
            if i - buf.startIndex >= headBytesMax {
                return .error(status: 431, reason: "request head exceeds \(headBytesMax) bytes")
            }
            let b = buf[i]
            if b == lf {
                // RFC 9112 §2.2 lets a server accept a bare LF; PGUI refuses it (400), one rule for all.
                guard i > buf.startIndex, buf[i - 1] == cr else { return .error(status: 400, reason: "bare LF line ending") }
                if i - buf.startIndex >= 3, buf[i - 2] == lf, buf[i - 3] == cr {
                    end = i + 1
                    break
                }
            } else if i > buf.startIndex, buf[i - 1] == cr {
                // RFC 9112 §2.2: a bare CR outside content must be refused (or replaced; PGUI refuses).
                return .error(status: 400, reason: "bare CR in the request head")
            } else if b != cr && b != tab && (b < 32 || b == 127) {
                return .error(status: 400, reason: "control byte 0x\(hexByte(b)) in the request head")
            }
            i += 1
        }
        if end < 0 {
            // headBytesMax bytes without the end of the head: no later byte can complete it in time.
            if buf.count >= headBytesMax { return .error(status: 431, reason: "request head exceeds \(headBytesMax) bytes") }
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
        let http10 = bytesEqual(version, "HTTP/1.0")
        guard bytesEqual(version, "HTTP/1.1") || http10 else {
            return .error(status: 400, reason: "unsupported HTTP version")
        }
        guard !target.isEmpty, target.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            return .error(status: 400, reason: "request target has bytes outside visible ASCII")
        }
        let path: ArraySlice<UInt8>
        switch originPath(target) {
        case .success(let p): path = p
        case .failure(let e): return .error(status: 400, reason: e.reason)
        }
        // Header lines: `name: value`, no obsolete folding, no body.
        var hosts = 0
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
            let name = h[h.startIndex..<colon]
            let value = trimmed(h[(colon + 1)...])
            if equalsIgnoringCase(name, "transfer-encoding") {
                return .error(status: 413, reason: "request bodies are not accepted")
            }
            if equalsIgnoringCase(name, "content-length"), !bytesEqual(value, "0") {
                return .error(status: 413, reason: "request bodies are not accepted")
            }
            if equalsIgnoringCase(name, "host") {
                hosts += 1
                // RFC 9112 §3.2: more than one Host, or an invalid one, is answered with 400.
                guard hosts == 1 else { return .error(status: 400, reason: "more than one Host header") }
                guard isAuthority(value, allowEmpty: true) else { return .error(status: 400, reason: "invalid Host header") }
            }
            p = e + 2
        }
        // RFC 9112 §3.2: an HTTP/1.1 request without Host is answered with 400; HTTP/1.0 needs none.
        if !http10 && hosts == 0 { return .error(status: 400, reason: "HTTP/1.1 request without a Host header") }
        return .request(HTTPRequest(method: string(method), path: string(path), headBytes: end - buf.startIndex))
    }

    struct TargetError: Error { let reason: String }

    /// The path of an origin-form (`/x?q`) or absolute-form (`http://host[:port]/x?q`) target. Any
    /// authority is accepted: the gateway is no proxy and answers only for itself, whatever name or
    /// address the EMS used to reach it (docs/spec-interpretations.md).
    static func originPath(_ target: ArraySlice<UInt8>) -> Result<ArraySlice<UInt8>, TargetError> {
        var t = target
        if t.first != 47 {
            let scheme = Array("http://".utf8)
            guard t.count >= scheme.count, equalsIgnoringCase(t.prefix(scheme.count), "http://") else {
                return .failure(TargetError(reason: "request target must be an absolute path or an http:// URL"))
            }
            t = t.dropFirst(scheme.count)
            var a = t.startIndex
            while a < t.endIndex, t[a] != 47, t[a] != 63, t[a] != 35 { a += 1 }
            guard isAuthority(t[t.startIndex..<a], allowEmpty: false) else {
                return .failure(TargetError(reason: "invalid authority in an absolute-form target"))
            }
            t = t[a...]
            if t.isEmpty || t.first == 63 { return .success(Array("/".utf8)[...]) }
            guard t.first == 47 else { return .failure(TargetError(reason: "invalid absolute-form target")) }
        }
        var q = t.startIndex
        while q < t.endIndex, t[q] != 63, t[q] != 35 { q += 1 }  // '?' or '#'
        return .success(t[t.startIndex..<q])
    }

    /// host[:port] (RFC 3986 §3.2 without userinfo): reg-name / IPv4 / [IPv6], optional decimal port.
    static func isAuthority(_ a: ArraySlice<UInt8>, allowEmpty: Bool) -> Bool {
        if a.isEmpty { return allowEmpty }
        var hostEnd = a.endIndex
        if a.first == 91 {  // '[' IPv6 literal
            guard let close = a.firstIndex(of: 93) else { return false }
            guard a[(a.startIndex + 1)..<close].allSatisfy({ ASCII.isDigit($0) || isHexLetter($0) || $0 == 58 || $0 == 46 }),
                  close > a.startIndex + 1 else { return false }
            hostEnd = close + 1
        } else {
            if let colon = a.firstIndex(of: 58) { hostEnd = colon }
            guard hostEnd > a.startIndex,
                  a[a.startIndex..<hostEnd].allSatisfy({ ASCII.isDigit($0) || ASCII.isLowerAlpha($0) || ASCII.isUpperAlpha($0) || $0 == 45 || $0 == 46 || $0 == 95 })
            else { return false }
        }
        let rest = a[hostEnd...]
        if rest.isEmpty { return true }
        guard rest.first == 58 else { return false }
        let port = rest.dropFirst()
        return port.count <= 5 && port.allSatisfy(ASCII.isDigit) && (port.isEmpty || (parseInt64(port) ?? 70_000) <= 65_535)
    }

    static func isHexLetter(_ b: UInt8) -> Bool { (b >= 97 && b <= 102) || (b >= 65 && b <= 70) }

    static func hexByte(_ b: UInt8) -> String {
        let d = Array("0123456789abcdef".utf8)
        return String(decoding: [d[Int(b >> 4)], d[Int(b & 15)]], as: UTF8.self)
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
                                headers: String = "", into out: inout [UInt8]) {
        out.append(contentsOf: "HTTP/1.1 \(status) \(reasonPhrase(status))\r\n".utf8)
        out.append(contentsOf: "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n".utf8)
        out.append(contentsOf: headers.utf8)
        if status == 405 { out.append(contentsOf: "Allow: GET, HEAD\r\n".utf8) }
        out.append(contentsOf: "Cache-Control: no-store\r\n\r\n".utf8)
        if !headMethod { out.append(contentsOf: body) }
    }
}
