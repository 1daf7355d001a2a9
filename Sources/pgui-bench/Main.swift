import CSystem
import PGUICore
import PGUIPlatform
import PGUIRuntime

// The benchmarks live in their own executable so the field binary `pgui` carries no bench code
// (issue 15). Same entry-point convention as `pgui` (docs/building.md): SwiftPM names the entry
// point after the module, `pgui_bench_main`.
@_cdecl("pgui_bench_main")
func pguiBenchMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var args: [String] = []
    for i in 1..<Int(max(argc, 1)) {
        if let p = argv[i] { args.append(String(cString: p)) }
    }
    if args.first == "--help" || args.first == "-h" {
        printOut(Bench.usage)
        return Exit.ok
    }
    return Bench.run(args)
}
