import CSystem
import PGUICore
import PGUIPlatform

// Embedded Swift has no `CommandLine`, so the C entry point is declared directly; both compilation
// modes use it (the package builds this target as a library-style module with no main.swift).
@_cdecl("pgui_main")
func pguiMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var args: [String] = []
    for i in 1..<Int(max(argc, 1)) {
        if let p = argv[i] { args.append(String(cString: p)) }
    }
    // Before any key or password is read: no core dump may carry them (issue 21, item 10).
    if let problem = ProcessHardening.disableCoreDumps() { Log.error("main", problem) }
    return Command.dispatch(args)
}
