import Testing

@testable import PGUICore

@Suite struct Base64Tests {
    @Test func rfc4648Vectors() {
        let v: [(String, String)] = [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy")]
        for (plain, enc) in v {
            #expect(Base64.urlEncode(Array(plain.utf8)) == enc)
            #expect(Base64.urlDecode(enc) == Array(plain.utf8))
        }
        #expect(Base64.stdEncode(Array("fo".utf8)) == "Zm8=")
        #expect(Base64.stdEncode([0xFB, 0xFF]) == "+/8=")
    }

    @Test func urlAlphabetAndRFC7515Header() {
        #expect(Base64.urlEncode([0xFB, 0xFF]) == "-_8")
        // RFC 7515 §A.1: the JOSE header {"typ":"JWT",\r\n "alg":"HS256"}
        let header: [UInt8] = [123, 34, 116, 121, 112, 34, 58, 34, 74, 87, 84, 34, 44, 13, 10, 32, 34, 97, 108, 103, 34, 58, 34, 72, 83, 50, 53, 54, 34, 125]
        #expect(Base64.urlEncode(header) == "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9")
    }

    @Test func strictDecoding() {
        #expect(Base64.urlDecode("Zm8=") == nil)  // padding
        #expect(Base64.urlDecode("Zm+v") == nil)  // standard alphabet
        #expect(Base64.urlDecode("Z") == nil)  // impossible length
        #expect(Base64.urlDecode("Zm9") == nil)  // non-zero trailing bits
        #expect(Base64.urlDecode("Zm 8") == nil)
    }

    @Test func roundTripAllLengths() {
        var bytes: [UInt8] = []
        for i in 0..<300 {
            #expect(Base64.urlDecode(Base64.urlEncode(bytes)) == bytes)
            bytes.append(UInt8(truncatingIfNeeded: i &* 37))
        }
    }
}

@Suite struct JSONWriterTests {
    @Test func nestedDocument() {
        var w = JSONWriter()
        w.beginObject()
        w.field("a", Int64(1))
        w.field("s", "q\"\\\n\u{1}é")
        w.key("list")
        w.beginArray()
        w.value(Int64.min)
        w.value(true)
        w.null()
        w.beginObject()
        w.endObject()
        w.endArray()
        w.field("n", nil as Int64?)
        w.field("u", UInt64.max)
        w.endObject()
        #expect(w.string == #"{"a":1,"s":"q\"\\\n\u0001é","list":[-9223372036854775808,true,null,{}],"n":null,"u":18446744073709551615}"#)
        w.reset()
        w.beginArray()
        w.endArray()
        #expect(w.string == "[]")
    }

    @Test func writerOutputParsesBack() throws {
        var w = JSONWriter()
        w.beginObject()
        w.field("x", Int64(-42))
        w.field("t", "tab\there")
        w.endObject()
        let v = try JSONParser.parse(w.bytes)
        #expect(v["x"]?.intValue == -42)
        #expect(v["t"]?.stringValue == "tab\there")
    }
}

@Suite struct JSONParserTests {
    func parse(_ s: String, _ limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONValue {
        try JSONParser.parse(Array(s.utf8), limits: limits)
    }

    func error(_ s: String, _ limits: JSONLimits = JSONLimits()) -> String? {
        do throws(JSONError) {
            _ = try parse(s, limits)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func values() throws {
        #expect(try parse(" {\"a\": [1, -2, 0, true, false, null, \"x\"], \"b\": {}} ") == .object([
            ("a", .array([.int(1), .int(-2), .int(0), .bool(true), .bool(false), .null, .string("x")])),
            ("b", .object([])),
        ]))
        #expect(try parse("1.5") == .number("1.5"))
        #expect(try parse("1e3") == .number("1e3"))
        #expect(try parse("99999999999999999999") == .number("99999999999999999999"))
        #expect(try parse("\"\\u00e9\\ud83d\\ude00\\/\"") == .string("é😀/"))
    }

    @Test func malformedInputIsRejected() {
        #expect(error("") == "unexpected end of input")
        #expect(error("{") != nil)
        #expect(error("{\"a\":1,}") != nil)
        #expect(error("[1,]") != nil)
        #expect(error("01") == "leading zero")
        #expect(error("{\"a\":1,\"a\":2}") == "duplicate member 'a'")
        #expect(error("\"\\ud800\"") == "lone surrogate")
        #expect(error("\"a\nb\"") == "control character in string")
        #expect(error("[1] x") == "trailing characters after the value")
        #expect(error("nul") == "expected 'null'")
        #expect(error("'a'") != nil)
    }

    @Test func limitsAtAndOverTheBound() {
        var l = JSONLimits()
        l.depthMax = 3
        #expect(error("[[[1]]]", l) == nil)
        #expect(error("[[[[1]]]]", l) == "nesting deeper than 3")
        l.membersMax = 2
        #expect(error("[1,2]", l) == nil)
        #expect(error("[1,2,3]", l) == "more than 2 items")
        l.bytesMax = 5
        #expect(error("[1,2]", l) == nil)
        #expect(error("[1, 2]", l) != nil)
        l = JSONLimits()
        l.stringBytesMax = 3
        #expect(error("\"abc\"", l) == nil)
        #expect(error("\"abcd\"", l) != nil)
    }

    @Test func invalidUTF8InStringsIsRejected() {
        var bytes = Array("\"a".utf8)
        bytes.append(0xFF)
        bytes.append(34)
        #expect(throws: JSONError.self) { try JSONParser.parse(bytes) }
    }
}
