// The Swift suite of Carnet's bindings, run by scripts/test-swift on Linux
// (Debian 13 chroot) against a host build of libcarnet_ffi with the
// `test-hooks` feature and a real carnet-server, or on a Mac with
// `swift run CarnetSuite`.
//
// Most of it is the conformance scenarios (conformance/scenarios.json, played
// by Conformance.swift), the same file Rust, Kotlin and the HTTP API play.
// Here, beside them, only what is Swift's own: a Rust panic as an error, the
// Swift layer's zeroing of the caller's key, and photos (Photos.swift: a PNG
// written by hand, synced between two devices).
//
// Environment (set by the script):
//   CARNET_CONFORMANCE            the scenario file
//   CARNET_TEST_DIR               scratch directory
//   CARNET_TEST_SERVER            http://127.0.0.1:PORT
//   CARNET_TEST_MEDIATOR_CODES    mediator codes, comma-separated
//   CARNET_TEST_SUPERVISOR_CODES  supervisor codes, comma-separated
// Prints one line per test and scenario; the last line is "N passed, M
// failed"; the exit status is non-zero when anything failed.
import Foundation

#if canImport(CarnetCore)
import CarnetCore
#endif

let env = ProcessInfo.processInfo.environment

func setting(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }

func codes(_ name: String) -> [String] { (env[name] ?? "").split(separator: ",").map(String.init) }

guard let scratchPath = setting("CARNET_TEST_DIR"), let file = setting("CARNET_CONFORMANCE") else {
    print("CARNET_TEST_DIR and CARNET_CONFORMANCE must be set")
    exit(2)
}
let scratch = URL(fileURLWithPath: scratchPath)
try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
let server = setting("CARNET_TEST_SERVER").map {
    TestServer(url: $0, mediatorCodes: codes("CARNET_TEST_MEDIATOR_CODES"), supervisorCodes: codes("CARNET_TEST_SUPERVISOR_CODES"))
}

/// A Rust panic reaches Swift as uniffi's internal error, not as a CarnetError.
func expectPanic(_ what: String, _ block: () throws -> Void) throws {
    do {
        try block()
    } catch let e as CarnetError {
        throw Failure("\(what): a CarnetError, not a panic: \(e)")
    } catch {
        if "\(error)".contains("rustPanic") { return }
        throw Failure("\(what): unexpected error \(error)")
    }
    throw Failure("\(what): nothing was thrown")
}

/// What only the Swift face has.
let swiftTests: [(String, () throws -> Void)] = [
    ("a Rust panic becomes an error and the next call works", {
        let s = try CarnetStore.open(path: scratch.appendingPathComponent("panic.db").path, key: key(9, 32))
        let id = try s.createNote(note: NewNote(sector: "conte-joliot", text: "avant"))
        try expectPanic("panic") { try testHookPanic(store: s) }
        try expectPanic("second panic") { try testHookPanic(store: s) }
        guard case let .note(n) = try s.get(id: id), n.text == "avant" else { throw Failure("read after the panic") }
        _ = try s.createNote(note: NewNote(sector: "conte-joliot", text: "après"))
        if try s.list(query: Query()).items.count != 2 { throw Failure("write after the panic") }
    }),
    ("Carnet.open zeroes the caller's key", {
        let dir = scratch.appendingPathComponent("via-carnet")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var k = Carnet.newKey()
        _ = try Carnet.open(directory: dir, key: &k)
        if !k.allSatisfy({ $0 == 0 }) { throw Failure("the key was not zeroed") }
        if !Carnet.storeFiles(directory: dir).contains(where: { FileManager.default.fileExists(atPath: $0.path) }) {
            throw Failure("no store file in \(dir.path)")
        }
    }),
]

var passed = 0
var failed = 0
func report(_ name: String, _ body: () throws -> Void) {
    do {
        try body()
        passed += 1
        print("ok   - \(name)")
    } catch {
        failed += 1
        print("FAIL - \(name): \(error)")
    }
}

for (name, body) in swiftTests + photoTests(scratch: scratch, server: server) { report(name, body) }
do {
    let scenarios = try testHookScenarios(path: file)
    if scenarios.isEmpty { report("the scenario file \(file) has scenarios") { throw Failure("none") } }
    for (i, sc) in scenarios.enumerated() {
        let dir = scratch.appendingPathComponent("scenario-\(i + 1)")
        report("scenario: \(sc.name)") {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let player = Player(server: server, dir: dir)
            for s in sc.steps { try player.step(s) }
        }
    }
} catch {
    failed += 1
    print("FAIL - the scenario file \(file): \(error)")
}
print("\(passed) passed, \(failed) failed")
exit(failed == 0 ? 0 : 1)
